//! `probeaddr dups` and `probeaddr symbolize`: the kernel's names, printed.

use std::io::{BufRead, Write};

use anyhow::Result;
use probeaddr::{ResolveOptions, RuntimeAddr};

use crate::flags::{DupsArgs, KernelFlags, ListFormat, SymbolizeArgs};
use crate::print::{self, hex, report, Notes};
use crate::setup::{self, Inputs, Setup};

fn kernel_setup(flags: &KernelFlags, check_build_id: bool, notes: &mut Notes) -> Option<Setup> {
    match setup::open(Inputs {
        kernel: Some(flags),
        options: ResolveOptions {
            check_build_id,
            ..ResolveOptions::default()
        },
        kernel_work: true,
        ..Inputs::default()
    }) {
        Ok(s) => {
            for n in &s.notes {
                notes.note(n);
            }
            Some(s)
        }
        Err(e) => {
            report(&e);
            None
        }
    }
}

/// `probeaddr dups`.
pub fn dups(args: &DupsArgs, out: &mut dyn Write) -> Result<bool> {
    let mut notes = Notes::default();
    let Some(setup) = kernel_setup(&args.kernel, !args.no_build_id_check, &mut notes) else {
        return Ok(false);
    };
    let progress = crate::progress::Progress::start("finding every ambiguous name".into());
    let groups = setup.resolver.duplicates(args.functions);
    drop(progress);
    let groups = match groups {
        Ok(g) => g,
        Err(e) => {
            report(&e);
            return Ok(false);
        }
    };
    let total: usize = groups.iter().map(|g| g.count).sum();
    match args.format {
        ListFormat::Json => {
            print::json(out, &groups)?;
        }
        ListFormat::Table => {
            writeln!(
                out,
                "{:<40} {:<18} T  {:<16} {:<40} PIN",
                "NAME", "ADDRESS", "MODULE", "FILE"
            )?;
            for g in &groups {
                for i in &g.instances {
                    let pin = i
                        .pin
                        .clone()
                        .or_else(|| i.text_form.clone())
                        .unwrap_or_else(|| "-".into());
                    writeln!(
                        out,
                        "{:<40} {:<18} {}  {:<16} {:<40} {}",
                        g.name,
                        hex(i.address.get()),
                        i.kind,
                        i.module.as_deref().unwrap_or("-"),
                        i.file.as_deref().unwrap_or("-"),
                        pin
                    )?;
                }
            }
        }
    }
    eprintln!(
        "probeaddr: {} ambiguous names covering {total} symbols",
        groups.len()
    );
    Ok(true)
}

/// `probeaddr symbolize`. Addresses read from standard input are answered
/// in batches of what has arrived: a file or a fast pipe gives large ones
/// (each compile unit's line table decoded once per batch), a person typing
/// gets each answer at once.
pub fn symbolize(args: &SymbolizeArgs, out: &mut dyn Write) -> Result<bool> {
    let mut notes = Notes::default();
    let Some(setup) = kernel_setup(&args.kernel, !args.no_build_id_check, &mut notes) else {
        return Ok(false);
    };
    let symbolizer = match setup.resolver.symbolizer() {
        Ok(s) if args.lines => s.with_lines(),
        Ok(s) => s,
        Err(e) => {
            report(&e);
            return Ok(false);
        }
    };
    for w in symbolizer.warnings() {
        notes.warn(w);
    }
    let mut ok = true;
    let mut answer = |batch: &Batch, out: &mut dyn Write| -> std::io::Result<()> {
        let answers = symbolizer.symbolize_many(&batch.addrs);
        // The answers are printed by two threads, each a run of lines:
        // naming an answer reads the tables at random, and that is most of
        // the work left.
        let mut runs: Vec<(usize, usize)> = Vec::new();
        let mut from = 0;
        for &(at, _) in &batch.bad {
            runs.push((from, at));
            from = at;
        }
        runs.push((from, answers.len()));
        let mut bad = batch.bad.iter();
        for (i, &(from, to)) in runs.iter().enumerate() {
            if i > 0 {
                let (_, t) = bad.next().expect("a bad line between runs");
                out.flush()?;
                eprintln!("probeaddr: error: not a hexadecimal address: {t:?}");
                ok = false;
            }
            // In windows, so that the text waiting to be written stays small.
            for start in (from..to).step_by(WINDOW) {
                let end = (start + WINDOW).min(to);
                let half = start + (end - start) / 2;
                let print = |from: usize, to: usize| {
                    let mut text = Vec::with_capacity((to - from) * 100);
                    for a in (from..to).filter_map(|i| answers.get(i)) {
                        let _ = writeln!(text, "{a}");
                    }
                    text
                };
                let (first, second) = if end - start < 1 << 12 {
                    (print(start, end), Vec::new())
                } else {
                    std::thread::scope(|s| {
                        let second = s.spawn(|| print(half, end));
                        (print(start, half), second.join().expect("printing answers"))
                    })
                };
                out.write_all(&first)?;
                out.write_all(&second)?;
            }
        }
        out.flush()
    };
    if !args.addrs.is_empty() {
        let mut batch = Batch::default();
        batch.take(args.addrs.join("\n").as_bytes());
        answer(&batch, out)?;
        return Ok(ok);
    }
    // Standard input is read and parsed on another thread, as it arrives.
    let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<Batch>>(32);
    std::thread::spawn(move || read_batches(tx));
    // Lines want large batches (each decodes the line tables the batch
    // touches); names alone gain little past a few thousand.
    let most = if args.lines { BATCH_LINES } else { BATCH };
    while let Ok(first) = rx.recv() {
        let mut batch = first?;
        // What follows without a pause joins the batch (a file's or a fast
        // pipe's whole input, up to a bound on memory); a pause of a few
        // milliseconds (someone typing) answers what has come.
        while batch.addrs.len() < most {
            match rx.recv_timeout(PAUSE) {
                Ok(more) => batch.append(more?),
                Err(_) => break,
            }
        }
        answer(&batch, out)?;
    }
    Ok(ok)
}

/// Addresses read, and the lines that were not addresses (by how many
/// addresses came before them), to be answered in input order.
#[derive(Default)]
struct Batch {
    addrs: Vec<RuntimeAddr>,
    bad: Vec<(usize, String)>,
}

impl Batch {
    fn take(&mut self, text: &[u8]) {
        for line in text.split(|&b| b == b'\n') {
            let t = String::from_utf8_lossy(line);
            let t = t.trim();
            if t.is_empty() {
                continue;
            }
            match u64::from_str_radix(t.trim_start_matches("0x"), 16) {
                Ok(a) => self.addrs.push(RuntimeAddr(a)),
                Err(_) => self.bad.push((self.addrs.len(), t.to_string())),
            }
        }
    }

    fn append(&mut self, more: Batch) {
        let n = self.addrs.len();
        self.bad
            .extend(more.bad.into_iter().map(|(i, t)| (i + n, t)));
        self.addrs.extend(more.addrs);
    }
}

/// The most addresses one symbolize batch takes (about 70 bytes each
/// while it is answered), with lines and without.
const BATCH_LINES: usize = 1 << 20;
const BATCH: usize = 1 << 16;

/// How many answers are printed at a time.
const WINDOW: usize = 1 << 16;

/// How long a lull in the input ends a symbolize batch.
const PAUSE: std::time::Duration = std::time::Duration::from_millis(5);

/// Parse standard input as it arrives and send it on, a read at a time:
/// 64 KiB from a file or a full pipe, a line from a terminal.
fn read_batches(tx: std::sync::mpsc::SyncSender<std::io::Result<Batch>>) {
    let mut input = std::io::BufReader::with_capacity(64 << 10, std::io::stdin().lock());
    let mut partial: Vec<u8> = Vec::new();
    loop {
        let got = match input.fill_buf() {
            Ok([]) => break,
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        let n = got.len();
        let mut batch = Batch::default();
        match got.iter().rposition(|&c| c == b'\n') {
            Some(end) => {
                partial.extend_from_slice(&got[..=end]);
                batch.take(&partial);
                partial.clear();
                partial.extend_from_slice(&got[end + 1..]);
            }
            None => {
                partial.extend_from_slice(got);
                input.consume(n);
                continue;
            }
        }
        input.consume(n);
        if tx.send(Ok(batch)).is_err() {
            return;
        }
    }
    if !partial.is_empty() {
        let mut batch = Batch::default();
        batch.take(&partial);
        let _ = tx.send(Ok(batch));
    }
}
