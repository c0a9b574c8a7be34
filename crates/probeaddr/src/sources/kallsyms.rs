//! `/proc/kallsyms` and `System.map`: the kernel's own symbol list.
//!
//! Format: `ADDRESS TYPE NAME[\t[MODULE]]`, one symbol per line. `System.map`
//! is the same without the module column. kallsyms carries no file names, so
//! a `static` name defined in several files is several indistinguishable
//! lines: this list is the *namespace* in which the kernel decides whether a
//! name is unique (`number_of_same_symbols()` in `kernel/trace/trace_kprobe.c`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use crate::addr::RuntimeAddr;
use crate::error::{Error, ErrorKind, Result};
use crate::sources::hash_name;

/// One kallsyms line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KSym {
    /// The address (runtime for `/proc/kallsyms`, link-time for System.map).
    pub addr: RuntimeAddr,
    /// The `nm`-style type letter (`T`, `t`, `D`, `b`...).
    pub kind: u8,
    name: (u32, u32),
    /// Index into [`Kallsyms::modules`], `None` for vmlinux.
    module: Option<u32>,
    /// The source file, in a listing whose names carry `file|` prefixes
    /// (`probeaddr kallsyms-export --scheme bottomley`): span in the text.
    file: Option<(u32, u32)>,
}

impl KSym {
    /// True for text symbols (`T`, `t`, `W`, `w`).
    pub fn is_text(&self) -> bool {
        matches!(self.kind, b'T' | b't' | b'W' | b'w')
    }
    /// True for global (upper-case type) symbols.
    pub fn is_global(&self) -> bool {
        self.kind.is_ascii_uppercase()
    }
}

/// A parsed kallsyms or System.map listing.
#[derive(Debug)]
pub struct Kallsyms {
    origin: PathBuf,
    text: String,
    syms: Vec<KSym>,
    modules: Vec<String>,
    /// `(hash of the name, position)`, sorted: built once lookups are many
    /// (see [`Kallsyms::lookup`]).
    by_name: OnceLock<Vec<(u64, u32)>>,
    /// How many lookups were answered by a scan.
    scans: AtomicU32,
    by_addr: OnceLock<Vec<u32>>,
}

/// A byte's value as a hex digit, [`NOT_HEX`] if it is not one.
const HEX: [u8; 256] = {
    let mut t = [NOT_HEX; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = match c as u8 {
            b @ b'0'..=b'9' => b - b'0',
            b @ b'a'..=b'f' => b - b'a' + 10,
            b @ b'A'..=b'F' => b - b'A' + 10,
            _ => NOT_HEX,
        };
        c += 1;
    }
    t
};
const NOT_HEX: u8 = 0xff;

/// Where the text of the listing came from, for messages.
impl Kallsyms {
    /// Read and parse a file (`/proc/kallsyms`, a saved copy, or a System.map).
    pub fn read(path: &Path) -> Result<Kallsyms> {
        use std::io::Read;
        crate::sources::regular_file(path)?;
        // /proc/kallsyms has no size: start with room for a kernel's
        // listing (122k lines are 5.5 MB), so that reading it is the
        // kernel's formatting and little else (no copies as it grows).
        let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut buf: Vec<u8> = Vec::with_capacity(8 << 20);
        f.read_to_end(&mut buf).map_err(|e| Error::io(path, e))?;
        let text = String::from_utf8(buf).map_err(|e| {
            Error::new(
                ErrorKind::BadInput,
                format!(
                    "not text (byte {} is not UTF-8)",
                    e.utf8_error().valid_up_to()
                ),
            )
            .with_path(path)
        })?;
        Kallsyms::parse(text, path)
    }

    /// Parse listing text. Blank lines are skipped; anything else that is not
    /// `HEX TYPE NAME [\[MODULE\]]` is an error naming the line.
    ///
    /// A scanner over the bytes (memchr for the line ends, fields read in
    /// place): nothing is allocated per line, so reading the listing costs
    /// little more than the kernel's printing it.
    pub fn parse(text: String, origin: &Path) -> Result<Kallsyms> {
        let mut syms = Vec::with_capacity(text.len() / 40);
        let mut modules: Vec<String> = Vec::new();
        let mut module_ids: HashMap<&str, u32> = HashMap::new();
        let bytes = text.as_bytes();
        let mut at = 0usize;
        let mut n = 0usize;
        while at < bytes.len() {
            let end = memchr::memchr(b'\n', &bytes[at..]).map_or(bytes.len(), |e| at + e);
            let start = at;
            at = end + 1;
            n += 1;
            let lb = &bytes[start..end];
            let bad = |what: &str| {
                let shown: String = text[start..end].chars().take(80).collect();
                Error::new(ErrorKind::BadInput, format!("line {n}: {what}: {shown:?}"))
                    .with_path(origin)
            };
            match lb.first() {
                None | Some(b'#') => continue,
                Some(c) if c.is_ascii_whitespace() && lb.iter().all(u8::is_ascii_whitespace) => {
                    continue
                }
                _ => {}
            }
            // ADDRESS: 1 to 16 hex digits, then one space. The kernel
            // prints 16: those are read without a branch per digit.
            let sixteen = lb.get(..17).filter(|d| d[16] == b' ').and_then(|d| {
                let (addr, seen) = d[..16].iter().fold((0u64, 0u8), |(a, seen), &c| {
                    let v = HEX[usize::from(c)];
                    (a << 4 | u64::from(v & 0xf), seen | v)
                });
                (seen & 0xf0 == 0).then_some(addr)
            });
            let (i, addr) = match sixteen {
                Some(addr) => (16, addr),
                None => {
                    let Some(sp) = memchr::memchr(b' ', lb) else {
                        return Err(bad("not a kallsyms line (ADDRESS TYPE NAME)"));
                    };
                    if sp == 0 || sp > 16 {
                        return Err(bad("bad address"));
                    }
                    let mut addr = 0u64;
                    for &c in &lb[..sp] {
                        match HEX[usize::from(c)] {
                            NOT_HEX => return Err(bad("bad address")),
                            d => addr = addr << 4 | u64::from(d),
                        }
                    }
                    (sp, addr)
                }
            };
            // TYPE: one letter (or '?'), then one space.
            let kind = match lb.get(i + 1..i + 3) {
                Some([t, b' ']) if t.is_ascii_alphabetic() || *t == b'?' => *t,
                Some([_, b' ']) => return Err(bad("bad symbol type")),
                _ if lb.len() <= i + 2 => {
                    return Err(bad("not a kallsyms line (ADDRESS TYPE NAME)"))
                }
                _ => return Err(bad("bad symbol type")),
            };
            // NAME: up to a tab (the module column follows) or the end;
            // trailing blanks are dropped, blanks inside are an error. The
            // last '|' splits off a file (`path|name`).
            let from = i + 3;
            let mut j = from;
            let mut bar = None;
            let mut name_end = lb.len();
            let mut tab = None;
            while let Some(&c) = lb.get(j) {
                // Every ASCII blank is at most b' ': one test passes over
                // nearly every byte.
                if c <= b' ' && c.is_ascii_whitespace() {
                    if c == b'\t' {
                        tab = Some(j);
                    } else if !lb[j..]
                        .iter()
                        .all(|&c| c.is_ascii_whitespace() && c != b'\t')
                    {
                        return Err(bad("bad symbol name"));
                    }
                    name_end = j;
                    break;
                }
                if c == b'|' {
                    bar = Some(j - from);
                }
                j += 1;
            }
            let name = &text[start + from..start + name_end];
            if name.is_empty() || !name.is_ascii() && name.contains(char::is_whitespace) {
                return Err(bad("bad symbol name"));
            }
            let module = match tab {
                Some(t) => {
                    let m = text[start + t + 1..end].trim();
                    let m = m
                        .strip_prefix('[')
                        .and_then(|m| m.strip_suffix(']'))
                        .ok_or_else(|| bad("bad module column"))?;
                    Some(*module_ids.entry(m).or_insert_with(|| {
                        modules.push(m.to_string());
                        modules.len() as u32 - 1
                    }))
                }
                None => None,
            };
            // `path|name`: the 2008 proposal's view of kallsyms.
            let (file, name_at, name_len) = match bar {
                Some(bar) if bar > 0 && bar + 1 < name.len() => (
                    Some(((start + from) as u32, bar as u32)),
                    start + from + bar + 1,
                    name.len() - bar - 1,
                ),
                _ => (None, start + from, name.len()),
            };
            syms.push(KSym {
                addr: RuntimeAddr(addr),
                kind,
                name: (name_at as u32, name_len as u32),
                module,
                file,
            });
        }
        if syms.is_empty() {
            return Err(
                Error::new(ErrorKind::BadInput, "no symbols in this kallsyms listing")
                    .with_path(origin),
            );
        }
        drop(module_ids);
        Ok(Kallsyms {
            origin: origin.to_path_buf(),
            text,
            syms,
            modules,
            by_name: OnceLock::new(),
            scans: AtomicU32::new(0),
            by_addr: OnceLock::new(),
        })
    }

    /// The file this was read from.
    pub fn origin(&self) -> &Path {
        &self.origin
    }

    /// All entries in file order.
    pub fn symbols(&self) -> &[KSym] {
        &self.syms
    }

    /// A symbol's name.
    pub fn name(&self, s: &KSym) -> &str {
        let (o, l) = s.name;
        &self.text[o as usize..(o + l) as usize]
    }

    /// A symbol's source file, when the listing carries `file|` prefixes.
    pub fn file(&self, s: &KSym) -> Option<&str> {
        s.file
            .map(|(o, l)| &self.text[o as usize..(o + l) as usize])
    }

    /// True if any entry carries a file.
    pub fn has_files(&self) -> bool {
        self.syms.iter().any(|s| s.file.is_some())
    }

    /// A symbol's module, `None` for vmlinux.
    pub fn module(&self, s: &KSym) -> Option<&str> {
        s.module.map(|m| self.modules[m as usize].as_str())
    }

    /// Modules listed (in order of first appearance).
    pub fn modules(&self) -> &[String] {
        &self.modules
    }

    /// True if every address is zero: `kptr_restrict` hid them from this reader.
    pub fn addresses_hidden(&self) -> bool {
        self.syms.iter().all(|s| s.addr.get() == 0)
    }

    /// Fail with a clear message if the addresses are hidden.
    pub fn require_addresses(&self) -> Result<()> {
        if self.addresses_hidden() {
            return Err(Error::new(
                ErrorKind::BadInput,
                "every address is 0: kernel.kptr_restrict hides them; read it as root (or with CAP_SYSLOG), or set sysctl kernel.kptr_restrict=0",
            )
            .with_path(&self.origin));
        }
        Ok(())
    }

    /// Positions by name hash, sorted (built on first use). Keyed by a hash
    /// so that no name is copied; a lookup compares the names of the (few)
    /// entries under one hash.
    fn name_index(&self) -> &[(u64, u32)] {
        self.by_name.get_or_init(|| {
            let mut v: Vec<(u64, u32)> = self
                .syms
                .iter()
                .enumerate()
                .map(|(i, s)| (hash_name(self.name(s)), i as u32))
                .collect();
            v.sort_unstable();
            v
        })
    }

    /// Every entry named `name`, vmlinux and modules, in listing order.
    /// The first lookups scan the entries (a probe point's few names, a
    /// fraction of a millisecond each); once more are asked, the index by
    /// name is built and each is a binary search. Cost grows with the work.
    pub fn lookup(&self, name: &str) -> Vec<&KSym> {
        const SCANS_BEFORE_INDEX: u32 = 64;
        if self.by_name.get().is_none()
            && self.scans.fetch_add(1, Ordering::Relaxed) < SCANS_BEFORE_INDEX
        {
            return self
                .syms
                .iter()
                .filter(|s| s.name.1 as usize == name.len() && self.name(s) == name)
                .collect();
        }
        let index = self.name_index();
        let h = hash_name(name);
        let from = index.partition_point(|&(x, _)| x < h);
        index[from..]
            .iter()
            .take_while(|&&(x, _)| x == h)
            .map(|&(_, i)| &self.syms[i as usize])
            .filter(|s| self.name(s) == name)
            .collect()
    }

    /// Every name that occurs more than once, with its entries, sorted by name.
    pub fn duplicates(&self) -> Vec<(&str, Vec<&KSym>)> {
        let mut out: Vec<(&str, Vec<&KSym>)> = Vec::new();
        for group in self.name_index().chunk_by(|a, b| a.0 == b.0) {
            if group.len() < 2 {
                continue;
            }
            let mut by: HashMap<&str, Vec<&KSym>> = HashMap::new();
            for &(_, i) in group {
                let s = &self.syms[i as usize];
                by.entry(self.name(s)).or_default().push(s);
            }
            out.extend(by.into_iter().filter(|(_, v)| v.len() > 1));
        }
        out.sort_by(|a, b| a.0.cmp(b.0));
        out
    }

    /// Number of entries named `name` in the namespace the kernel checks:
    /// vmlinux plus every module, or only module `module` for `MOD:SYM`.
    pub fn count(&self, name: &str, module: Option<&str>) -> usize {
        self.lookup(name)
            .into_iter()
            .filter(|s| module.is_none_or(|m| self.module(s) == Some(m)))
            .count()
    }

    /// The single vmlinux entry named `name`, if there is exactly one.
    pub fn vmlinux_unique(&self, name: &str) -> Option<&KSym> {
        let v: Vec<&KSym> = self
            .lookup(name)
            .into_iter()
            .filter(|s| s.module.is_none())
            .collect();
        (v.len() == 1).then(|| v[0])
    }

    /// Entries sorted by address (built on first use).
    pub fn by_address(&self) -> &[u32] {
        self.by_addr.get_or_init(|| {
            let mut v: Vec<u32> = (0..self.syms.len() as u32).collect();
            v.sort_by_key(|&i| (self.syms[i as usize].addr, i));
            v
        })
    }

    /// The text symbol holding `addr`, with the offset into it: the
    /// nearest symbol at or before it, when that is a function. Several
    /// symbols at one address: the first global, else the first.
    ///
    /// kallsyms has no sizes, so the end of a function is the next symbol.
    /// `None` when the nearest symbol is data, or a linker marker ending a
    /// region (`_etext`, `_einittext`, `__entry_text_end`): the address is
    /// in no function listed. The last function of a region (of vmlinux or
    /// a module, before the next region's first symbol) has no known end:
    /// see [`Kallsyms::ends_region`]; past a megabyte from it (no kernel
    /// function is nearly that long) the answer is `None` rather than a
    /// symbol with an absurd offset.
    pub fn symbolize(&self, addr: RuntimeAddr) -> Option<(&KSym, u64)> {
        let order = self.by_address();
        let end = order.partition_point(|&i| self.syms[i as usize].addr <= addr);
        let mut best: Option<&KSym> = None;
        let mut nearest: Option<RuntimeAddr> = None;
        for &i in order[..end].iter().rev() {
            let s = &self.syms[i as usize];
            let name = self.name(s);
            if name.starts_with("__pfx_") {
                continue;
            }
            if nearest.is_some_and(|a| a != s.addr) {
                break;
            }
            nearest = Some(s.addr);
            if !s.is_text() || is_region_marker(name) {
                continue;
            }
            match best {
                None => best = Some(s),
                // Walking backwards: an earlier line wins unless it would
                // replace a global with a local.
                Some(_) if s.is_global() || !best.is_some_and(KSym::is_global) => best = Some(s),
                Some(_) => {}
            }
        }
        let s = best?;
        let off = addr.get() - s.addr.get();
        if off >= 1 << 20 && self.ends_region(s) {
            return None;
        }
        Some((s, off))
    }

    /// True if `s` is the last symbol of its region: nothing follows it, or
    /// the next symbol is another module's (or vmlinux's). Its size is then
    /// unknown, so an address past it may not be in it.
    pub fn ends_region(&self, s: &KSym) -> bool {
        let order = self.by_address();
        let at = order.partition_point(|&i| self.syms[i as usize].addr <= s.addr);
        match order.get(at) {
            None => true,
            Some(&n) => self.syms[n as usize].module != s.module,
        }
    }
}

/// Linker-script markers that end a region of text: an address after one
/// is in no function the listing names.
fn is_region_marker(name: &str) -> bool {
    matches!(
        name,
        "_etext" | "_einittext" | "_end" | "_edata" | "__init_end"
    ) || name.ends_with("_text_end")
        || name.starts_with("__end_")
        || name.starts_with("__stop_")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
ffffffff9e000000 T _text
ffffffff9e000000 T _stext
ffffffff9e001000 t init_once
ffffffff9e001040 T vfs_read
ffffffff9e002000 t init_once
ffffffff9e002100 t __pfx_after
ffffffff9e002110 t after
ffffffff9e400000 D jiffies
ffffffffc0a1b000 t init_once\t[fixmod]
ffffffffc0a1b040 t fixmod_create\t[fixmod]
";

    fn ks() -> Kallsyms {
        Kallsyms::parse(SAMPLE.to_string(), Path::new("kallsyms")).unwrap()
    }

    #[test]
    fn parses_and_counts_in_the_kernels_namespace() {
        let k = ks();
        assert_eq!(k.symbols().len(), 10);
        assert_eq!(k.count("init_once", None), 3);
        assert_eq!(k.count("init_once", Some("fixmod")), 1);
        assert_eq!(k.count("vfs_read", None), 1);
        assert_eq!(k.count("nothing", None), 0);
        assert_eq!(k.modules(), &["fixmod".to_string()]);
        assert_eq!(
            k.vmlinux_unique("vfs_read").unwrap().addr,
            RuntimeAddr(0xffffffff9e001040)
        );
        assert!(k.vmlinux_unique("init_once").is_none());
        let d = k.duplicates();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].0, "init_once");
        assert_eq!(d[0].1.len(), 3);
        assert_eq!(k.module(d[0].1[2]), Some("fixmod"));
    }

    #[test]
    fn symbolizes() {
        let k = ks();
        let (s, off) = k.symbolize(RuntimeAddr(0xffffffff9e001050)).unwrap();
        assert_eq!((k.name(s), off), ("vfs_read", 0x10));
        let (s, off) = k.symbolize(RuntimeAddr(0xffffffff9e000004)).unwrap();
        assert_eq!((k.name(s), off), ("_text", 4));
        // __pfx_ padding is never the answer; the function before it is.
        let (s, _) = k.symbolize(RuntimeAddr(0xffffffff9e002104)).unwrap();
        assert_eq!(k.name(s), "init_once");
        let (s, off) = k.symbolize(RuntimeAddr(0xffffffffc0a1b044)).unwrap();
        assert_eq!(
            (k.name(s), k.module(s), off),
            ("fixmod_create", Some("fixmod"), 4)
        );
        assert!(k.symbolize(RuntimeAddr(0x1000)).is_none());
        // Data is in no function, and neither is anything past a marker
        // that ends text.
        assert!(k.symbolize(RuntimeAddr(0xffffffff9e400010)).is_none());
        let k2 = Kallsyms::parse(
            format!("{SAMPLE}ffffffff9e500000 T _einittext\nffffffffc0c00000 t last\t[other]\n"),
            Path::new("kallsyms"),
        )
        .unwrap();
        assert!(k2.symbolize(RuntimeAddr(0xffffffff9e500040)).is_none());
        // The last symbol of a module has no known end: near it, an answer
        // said to be so; a megabyte on, none.
        let (s, off) = k2.symbolize(RuntimeAddr(0xffffffffc0a1b050)).unwrap();
        assert_eq!((k2.name(s), off), ("fixmod_create", 0x10));
        assert!(k2.ends_region(s));
        assert!(k2
            .symbolize(RuntimeAddr(0xffffffffc0a1b040 + (1 << 20)))
            .is_none());
        let (s, _) = k2.symbolize(RuntimeAddr(0xffffffff9e001050)).unwrap();
        assert!(!k2.ends_region(s));
    }

    #[test]
    fn hidden_addresses_and_garbage() {
        let z = Kallsyms::parse(
            "0000000000000000 T _text\n0000000000000000 t x\n".into(),
            Path::new("/proc/kallsyms"),
        )
        .unwrap();
        assert!(z.addresses_hidden());
        assert!(z
            .require_addresses()
            .unwrap_err()
            .to_string()
            .contains("kptr_restrict"));
        let e = Kallsyms::parse("ffffffff81000000 T _text\nhello\n".into(), Path::new("k"))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "k: line 2: not a kallsyms line (ADDRESS TYPE NAME): \"hello\""
        );
        let e = Kallsyms::parse("zz T x\n".into(), Path::new("k")).unwrap_err();
        assert!(e.to_string().contains("line 1: bad address"));
        let e = Kallsyms::parse("ffffffff81000000 TT x\n".into(), Path::new("k")).unwrap_err();
        assert!(e.to_string().contains("bad symbol type"));
        let e =
            Kallsyms::parse("ffffffff81000000 t x\tfixmod\n".into(), Path::new("k")).unwrap_err();
        assert!(e.to_string().contains("bad module column"));
        assert!(Kallsyms::parse("\n".into(), Path::new("k")).is_err());
        // Each malformed field, by the scanner, with the line it is on.
        for (text, want) in [
            ("ffffffff81000000 T\n", "line 1: not a kallsyms line"),
            ("ffffffff81000000  T x\n", "line 1: bad symbol type"),
            ("ffffffff81000000 1 x\n", "line 1: bad symbol type"),
            ("+fffffff81000000 T x\n", "line 1: bad address"),
            ("01234567890abcdef0 T x\n", "line 1: bad address"),
            (" ffffffff81000000 T x\n", "line 1: bad address"),
            ("# c\n\nffffffff81000000 T \n", "line 3: bad symbol name"),
            ("ffffffff81000000 T a b\n", "line 1: bad symbol name"),
            ("ffffffff81000000 T a\u{2003}b\n", "line 1: bad symbol name"),
            // Sixteen digits with one that is not hex, read without a branch
            // per digit, are still a bad address.
            ("ffffffff8100000g T x\n", "line 1: bad address"),
            ("ffffffff81000000 T x \t[m]\n", "line 1: bad symbol name"),
        ] {
            let e = Kallsyms::parse(text.into(), Path::new("k")).unwrap_err();
            assert!(e.to_string().contains(want), "{text:?}: {e}");
        }
        // CRLF line ends, upper-case hex, a last line without its newline,
        // a module and a `file|name` entry: fields are read in place.
        let k = Kallsyms::parse(
            "FFFFFFFF81000000 T _text\r\nffffffffc0001000 t f\t[m]\r\nffffffff81000010 t a/b.c|g\n12ab W short "
                .into(),
            Path::new("k"),
        )
        .unwrap();
        let got: Vec<(u64, &str, Option<&str>, Option<&str>)> = k
            .symbols()
            .iter()
            .map(|s| (s.addr.get(), k.name(s), k.module(s), k.file(s)))
            .collect();
        assert_eq!(
            got,
            vec![
                (0xffffffff81000000, "_text", None, None),
                (0xffffffffc0001000, "f", Some("m"), None),
                (0xffffffff81000010, "g", None, Some("a/b.c")),
                (0x12ab, "short", None, None),
            ]
        );
    }

    #[test]
    fn lookups_by_scan_and_by_index_agree() {
        let k = ks();
        let names = ["init_once", "vfs_read", "after", "nope", "fixmod_create"];
        let scanned: Vec<Vec<KSym>> = names
            .iter()
            .map(|n| k.lookup(n).into_iter().copied().collect())
            .collect();
        // Past the scans allowed, lookups go through the index.
        for _ in 0..64 {
            k.lookup("_text");
        }
        assert!(k.by_name.get().is_some());
        for (n, want) in names.iter().zip(&scanned) {
            let got: Vec<KSym> = k.lookup(n).into_iter().copied().collect();
            assert_eq!(&got, want, "{n}");
        }
        assert_eq!(scanned[0].len(), 3);
        assert_eq!(k.duplicates().len(), 1);
    }
}
