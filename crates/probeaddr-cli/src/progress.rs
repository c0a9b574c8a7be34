//! What is under way, on standard error: a spinner for work that takes
//! more than a second, and a bar per debuginfod download
//! ([`downloads`]), when standard error is a terminal. Piped or redirected, nothing is
//! drawn, so scripts and logs see only the answer and its notes.
//!
//! The spinner appears only once the work has run for [`DELAY`]: a probe
//! point resolved in 30 ms never flickers one. `PROBEADDR_PROGRESS_DELAY_MS`
//! changes the delay; at 0 the spinner is drawn before the work starts
//! (which is how the tests see it without depending on how long the work
//! takes). It is cleared before the answer is printed (the guard is
//! dropped first).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use probeaddr::debuginfod::Event;

/// How long work runs before the spinner appears.
const DELAY: Duration = Duration::from_secs(1);

/// A running spinner (or nothing, off a terminal); dropping it clears it.
pub struct Progress {
    done: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Say `what` is under way, after [`DELAY`], until the guard is dropped.
    pub fn start(what: String) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress {
                done: None,
                thread: None,
            };
        }
        let delay = std::env::var("PROBEADDR_PROGRESS_DELAY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(DELAY, Duration::from_millis);
        let draw = move || {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
                .with_elapsed(delay);
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                bar.set_style(style);
            }
            bar.set_message(what);
            bar.tick();
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        };
        let (done, wait) = mpsc::channel::<()>();
        // At no delay the spinner is drawn here, before the work starts.
        let (now, later) = if delay.is_zero() {
            (Some(draw()), None)
        } else {
            (None, Some(draw))
        };
        let thread = std::thread::spawn(move || {
            let bar = match (now, later) {
                (Some(bar), _) => bar,
                (None, Some(draw))
                    if wait.recv_timeout(delay) == Err(RecvTimeoutError::Timeout) =>
                {
                    draw()
                }
                _ => return,
            };
            // Until the work is done (the sender is dropped).
            let _ = wait.recv();
            bar.finish_and_clear();
        });
        Progress {
            done: Some(done),
            thread: Some(thread),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The renderer of debuginfod downloads: a bar per download larger than
/// 1 MB when standard error is a terminal (or `DEBUGINFOD_PROGRESS` is
/// set, then one line when it ends), and with `DEBUGINFOD_VERBOSE` each
/// server asked and what it answered (elfutils' variables).
pub fn downloads() -> Arc<probeaddr::debuginfod::EventFn> {
    let terminal = std::io::stderr().is_terminal();
    let asked = std::env::var_os("DEBUGINFOD_PROGRESS").is_some();
    let verbose = std::env::var_os("DEBUGINFOD_VERBOSE").is_some();
    let bars: Mutex<HashMap<String, (ProgressBar, String)>> = Mutex::new(HashMap::new());
    Arc::new(move |e: &Event| {
        let mut bars = bars.lock().unwrap_or_else(|p| p.into_inner());
        match e {
            Event::Query { url } if verbose => eprintln!("debuginfod: GET {url}"),
            Event::Received {
                url,
                build_id,
                received,
                total,
            } if terminal || asked => {
                if total.is_some_and(|t| t <= 1 << 20) {
                    return;
                }
                let (bar, _) = bars.entry(url.clone()).or_insert_with(|| {
                    let target = if terminal {
                        ProgressDrawTarget::stderr()
                    } else {
                        ProgressDrawTarget::hidden()
                    };
                    let bar = ProgressBar::with_draw_target(*total, target);
                    let template = if total.is_some() {
                        "debuginfod: {msg} {percent:>3}% ({bytes}/{total_bytes}, {bytes_per_sec})"
                    } else {
                        "debuginfod: {msg} {bytes} ({bytes_per_sec})"
                    };
                    if let Ok(style) = ProgressStyle::with_template(template) {
                        bar.set_style(style);
                    }
                    bar.set_message(build_id.clone());
                    (bar, build_id.clone())
                });
                bar.set_position(*received);
            }
            Event::Failed { url, why } => {
                if let Some((bar, _)) = bars.remove(url) {
                    bar.abandon();
                }
                if verbose {
                    eprintln!("debuginfod: {url}: {why}");
                }
            }
            Event::Got { url, bytes, path } => {
                if let Some((bar, id)) = bars.remove(url) {
                    bar.finish();
                    if !terminal {
                        eprintln!("debuginfod: {id} 100% ({bytes} bytes) from {url}");
                    }
                }
                if verbose {
                    eprintln!("debuginfod: {url}: {bytes} bytes -> {}", path.display());
                }
            }
            _ => {}
        }
    })
}
