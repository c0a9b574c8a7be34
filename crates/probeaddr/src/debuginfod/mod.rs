//! A debuginfod client: the protocol of elfutils' `debuginfod`, which
//! every distribution serves and gdb, perf, SystemTap and bpftrace use
//! through `libdebuginfod`. `GET SERVER/buildid/HEX/debuginfo` (or
//! `executable`, or `section/NAME`).
//!
//! It behaves as `libdebuginfod` does, so one shell setup and one cache
//! serve every tool:
//!
//! * servers from `$DEBUGINFOD_URLS`, or from `/etc/debuginfod/*.urls`
//!   when it is unset; all asked at once, the first complete answer wins
//!   and the others are stopped;
//! * https with the system's roots (`SSL_CERT_FILE`, `SSL_CERT_DIR`),
//!   redirects, `http_proxy`/`https_proxy`/`all_proxy`/`no_proxy`,
//!   `user:password@` in a server URL;
//! * `DEBUGINFOD_TIMEOUT`, `_MAXTIME`, `_MAXSIZE`, `_RETRY_LIMIT`,
//!   `_HEADERS_FILE` with elfutils' meaning (`_PROGRESS` and `_VERBOSE`
//!   are for the program drawing the [`Event`]s);
//! * elfutils' cache layout, negative entries and cleaning (see
//!   `cache.rs`).
//!
//! Unlike `libdebuginfod` it keeps a downloaded debug file or executable
//! only if it is an ELF file with the build-id asked for: a server (or a
//! proxy) that sends something else never poisons the cache.
//!
//! ```no_run
//! use probeaddr::debuginfod::{Artifact, Client};
//!
//! let client = Client::new(vec!["https://debuginfod.debian.net".into()]);
//! let id = [0x4a_u8, 0x2b, 0x3c]; // a build-id, from the binary's notes
//! let got = client.fetch(&id, &Artifact::Debuginfo)?;
//! println!("{}", got.path.display());
//! # Ok::<(), probeaddr::Error>(())
//! ```
//!
//! The library never prints: progress and what was asked go to the
//! callback given to [`Client::with_events`].

mod cache;
mod config;
mod http;
mod sections;

pub use sections::Assembled;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::sources::elf::{hex, ElfObject};
use cache::{Cache, Lookup};
use http::{Answer, Settings};

/// What to ask a server for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Artifact {
    /// The separate debug file (`/debuginfo`).
    Debuginfo,
    /// The executable or shared object itself (`/executable`).
    Executable,
    /// One section's bytes (`/section/NAME`, elfutils 0.183 and later).
    Section(String),
}

impl std::fmt::Display for Artifact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Artifact::Debuginfo => f.write_str("debug file"),
            Artifact::Executable => f.write_str("executable"),
            Artifact::Section(s) => write!(f, "section {s}"),
        }
    }
}

/// What a [`Client`] is doing, for the program to draw or log.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// Asking `url`.
    Query {
        /// The full query URL (credentials removed).
        url: String,
    },
    /// `received` bytes of `total` (when the server said) from `url`.
    Received {
        /// The query URL.
        url: String,
        /// The build-id, in hex.
        build_id: String,
        /// Bytes so far.
        received: u64,
        /// The size the server announced.
        total: Option<u64>,
    },
    /// `url` did not give it.
    Failed {
        /// The query URL.
        url: String,
        /// Why, in words.
        why: String,
    },
    /// `url` gave it: `bytes` now at `path`.
    Got {
        /// The query URL.
        url: String,
        /// Its size.
        bytes: u64,
        /// Where it is in the cache.
        path: PathBuf,
    },
}

/// Where a fetched file came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[non_exhaustive]
pub enum Origin {
    /// Already in the cache.
    Cache,
    /// Downloaded now.
    Server {
        /// The query URL that answered.
        url: String,
        /// The bytes it sent.
        bytes: u64,
    },
}

/// A file a [`Client`] found.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Where it is (in the cache).
    pub path: PathBuf,
    /// How it got there.
    pub origin: Origin,
}

/// The callback that receives [`Event`]s (on the thread that called
/// [`Client::fetch`]).
pub type EventFn = dyn Fn(&Event) + Send + Sync;

/// A debuginfod client: its servers, its cache and its limits.
#[derive(Clone)]
pub struct Client {
    servers: Vec<String>,
    cache: Cache,
    settings: Settings,
    /// Why `DEBUGINFOD_HEADERS_FILE` lines were skipped.
    skipped_headers: Vec<String>,
    events: Option<Arc<EventFn>>,
    roots: Arc<OnceLock<ureq::tls::RootCerts>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("servers", &self.servers)
            .field("cache", &self.cache.root())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Where the profile script's server lists live.
const ETC: &str = "/etc/debuginfod";

impl Client {
    /// A client for `servers` (URLs; a string may hold several separated
    /// by spaces), with the cache and limits the environment sets.
    pub fn new(servers: Vec<String>) -> Client {
        let num = |k: &str| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.trim().parse::<i64>().ok())
        };
        let secs = |v: Option<i64>| {
            v.filter(|s| *s > 0)
                .map(|s| Duration::from_secs(s.unsigned_abs()))
        };
        let (headers, skipped_headers) = std::env::var_os("DEBUGINFOD_HEADERS_FILE")
            .map(|p| config::headers_from_file(Path::new(&p)))
            .unwrap_or_default();
        Client {
            servers: config::split_urls(servers.iter().map(String::as_str)),
            cache: Cache::from_env(),
            settings: Settings {
                timeout: secs(Some(num("DEBUGINFOD_TIMEOUT").unwrap_or(90))),
                max_time: secs(num("DEBUGINFOD_MAXTIME")),
                max_size: num("DEBUGINFOD_MAXSIZE")
                    .filter(|s| *s > 0)
                    .map(i64::unsigned_abs),
                retry_limit: num("DEBUGINFOD_RETRY_LIMIT").map_or(2, |r| r.clamp(0, 100) as u32),
                headers,
            },
            skipped_headers,
            events: None,
            roots: Arc::new(OnceLock::new()),
        }
    }

    /// The servers the environment names (`$DEBUGINFOD_URLS`, else
    /// `/etc/debuginfod/*.urls`); `None` when it names none, as elfutils'
    /// client then neither asks nor touches the cache.
    pub fn from_env() -> Option<Client> {
        let servers = config::servers_from_env(Path::new(ETC));
        (!servers.is_empty()).then(|| Client::new(servers))
    }

    /// Use `dir` as the cache instead of the environment's.
    pub fn with_cache(mut self, dir: PathBuf) -> Client {
        self.cache = Cache::at(dir);
        self
    }

    /// Send [`Event`]s to `f`.
    pub fn with_events(mut self, f: Arc<EventFn>) -> Client {
        self.events = Some(f);
        self
    }

    /// The servers, in the order given.
    pub fn servers(&self) -> &[String] {
        &self.servers
    }

    /// The cache directory.
    pub fn cache_dir(&self) -> &Path {
        self.cache.root()
    }

    /// Lines of `DEBUGINFOD_HEADERS_FILE` that were not headers.
    pub fn skipped_headers(&self) -> &[String] {
        &self.skipped_headers
    }

    /// Where the cache keeps `artifact` of `build_id` (whether or not it
    /// is there yet).
    pub fn cache_path(&self, build_id: &[u8], artifact: &Artifact) -> PathBuf {
        self.cache.target(&hex(build_id), artifact)
    }

    fn emit(&self, e: Event) {
        if let Some(f) = &self.events {
            f(&e);
        }
    }

    /// `artifact` of `build_id`: from the cache, else from the first
    /// server to send all of it. Every server that did not is named in
    /// the error; when all said 404 the miss is cached (elfutils'
    /// negative entry), and within `cache_miss_s` later calls fail
    /// without asking.
    pub fn fetch(&self, build_id: &[u8], artifact: &Artifact) -> Result<Fetched> {
        let id = hex(build_id);
        let target = self.cache.target(&id, artifact);
        let cache_err = |e: std::io::Error| {
            Error::new(
                ErrorKind::Io,
                format!(
                    "debuginfod cache {}: {e}; set DEBUGINFOD_CACHE_PATH to a writable directory",
                    self.cache.root().display()
                ),
            )
        };
        self.cache.prepare().map_err(cache_err)?;
        match self.cache.lookup(&target).map_err(cache_err)? {
            Lookup::Hit(path) => {
                return Ok(Fetched {
                    path,
                    origin: Origin::Cache,
                })
            }
            Lookup::Miss { age, believed } => {
                return Err(Error::new(
                    ErrorKind::NoSymbols,
                    format!(
                        "debuginfod: no server has the {artifact} of build-id {id}: a miss recorded {} s ago in {} is believed for {} s (cache_miss_s); delete that file to ask again now",
                        age.as_secs(),
                        target.display(),
                        believed.as_secs()
                    ),
                ))
            }
            Lookup::Absent => {}
        }
        if self.servers.is_empty() {
            return Err(Error::new(
                ErrorKind::NoSymbols,
                format!("debuginfod: no server to ask for the {artifact} of build-id {id}: set DEBUGINFOD_URLS"),
            ));
        }
        let roots = self.roots.get_or_init(http::system_roots).clone();
        let cancel = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel::<(usize, Progress)>();
        let mut temps = Vec::new();
        let mut urls = Vec::new();
        for (i, server) in self.servers.iter().enumerate() {
            let (server, auth) = config::split_credentials(server);
            let url = config::query_url(&server, &id, artifact);
            let (temp, mut file) = self.cache.temp_for(&target).map_err(cache_err)?;
            temps.push(Some(temp));
            urls.push(url.clone());
            self.emit(Event::Query { url: url.clone() });
            let proxy = config::proxy_for(&url, &|k| std::env::var(k).ok());
            let (settings, roots, cancel, tx) = (
                self.settings.clone(),
                roots.clone(),
                cancel.clone(),
                tx.clone(),
            );
            // Detached: a loser stuck in a read must not hold up the
            // winner; it stops at its next read or its timeout, and the
            // caller removes its file.
            std::thread::spawn(move || {
                let ptx = tx.clone();
                let req = http::Request {
                    url: &url,
                    auth: auth.as_deref(),
                    proxy: proxy.as_deref(),
                    roots: &roots,
                    settings: &settings,
                };
                let answer = http::download(&req, &mut file, &cancel, &mut |got, total| {
                    let _ = ptx.send((i, Progress::Bytes(got, total)));
                });
                let _ = tx.send((i, Progress::Done(answer)));
            });
        }
        drop(tx);
        let remove = |t: &mut Option<PathBuf>| {
            if let Some(p) = t.take() {
                let _ = std::fs::remove_file(p);
            }
        };
        let mut failures: Vec<String> = Vec::new();
        let mut not_found = 0;
        let mut pending = self.servers.len();
        while pending > 0 {
            let Ok((i, msg)) = rx.recv() else { break };
            let answer = match msg {
                Progress::Bytes(received, total) => {
                    self.emit(Event::Received {
                        url: urls[i].clone(),
                        build_id: id.clone(),
                        received,
                        total,
                    });
                    continue;
                }
                Progress::Done(a) => a,
            };
            pending -= 1;
            let why = match answer {
                Answer::File { bytes, modified } => {
                    let temp = temps[i].clone().expect("a live download has its file");
                    match self.check(&temp, build_id, artifact) {
                        Ok(()) => {
                            cancel.store(true, Ordering::Relaxed);
                            for t in temps.iter_mut() {
                                if t.as_ref() != Some(&temp) {
                                    remove(t);
                                }
                            }
                            if let Err(e) = self.cache.commit(&temp, &target, modified) {
                                let _ = std::fs::remove_file(&temp);
                                return Err(cache_err(e));
                            }
                            self.emit(Event::Got {
                                url: urls[i].clone(),
                                bytes,
                                path: target.clone(),
                            });
                            return Ok(Fetched {
                                path: target,
                                origin: Origin::Server {
                                    url: urls[i].clone(),
                                    bytes,
                                },
                            });
                        }
                        Err(why) => why,
                    }
                }
                Answer::NotFound => {
                    not_found += 1;
                    "not found (404)".to_string()
                }
                Answer::TooBig(why) | Answer::Failed(why) => why,
                Answer::Cancelled => "stopped".to_string(),
            };
            remove(&mut temps[i]);
            self.emit(Event::Failed {
                url: urls[i].clone(),
                why: why.clone(),
            });
            failures.push(format!("{}: {why}", urls[i]));
        }
        for t in temps.iter_mut() {
            remove(t);
        }
        if not_found == self.servers.len() {
            self.cache.record_miss(&target);
        } else if let Some(dir) = target.parent() {
            // Leave no empty build-id directory behind a failure.
            let _ = std::fs::remove_dir(dir);
        }
        Err(Error::new(
            ErrorKind::NoSymbols,
            format!(
                "debuginfod: no server gave the {artifact} of build-id {id}: {}",
                failures.join("; ")
            ),
        ))
    }

    /// A debug file or executable must be an ELF file of the build-id
    /// asked for; a section is kept as sent.
    fn check(
        &self,
        temp: &Path,
        build_id: &[u8],
        artifact: &Artifact,
    ) -> std::result::Result<(), String> {
        if matches!(artifact, Artifact::Section(_)) {
            return Ok(());
        }
        let elf = ElfObject::open(temp).map_err(|e| {
            format!(
                "the server sent something that is not a usable {artifact} ({})",
                e.message()
            )
        })?;
        if elf.build_id() != Some(build_id) {
            return Err(format!(
                "the server sent a file with build-id {}, not {}",
                elf.build_id().map_or("none".to_string(), hex),
                hex(build_id)
            ));
        }
        Ok(())
    }
}

/// What a download thread reports.
enum Progress {
    Bytes(u64, Option<u64>),
    Done(Answer),
}
