//! Costs of the schemes proposed since 2008 for giving kallsyms file names,
//! side by side on one kernel, with what each leaves ambiguous.
//!
//! 1. `file|name` on every local (Bottomley 2008), basenames (`STT_FILE`);
//! 2. the same with source paths (DWARF compile units);
//! 3. the source path on every symbol (Lobakin 2022);
//! 4. a `name@path_line` alias for each instance of a duplicated name
//!    (Carminati's kas_alias 2023);
//! 5. a side table: one entry per run of consecutive symbols from one file,
//!    file names stored once; and the smallest table that only separates
//!    duplicates;
//! 6. no kernel bytes: the tool computes addresses from debug info and
//!    fetches `_text` (and module section bases) at run time.
//!
//! Raw bytes are what the names grow by; compressed bytes are measured by
//! running the kernel's own compression ([`super::compress`]) on the whole
//! list with and without the change.

use std::collections::{BTreeMap, HashMap};

use object::elf;
use serde::Serialize;

use crate::error::Result;
use crate::index::{Binding, Symbol, SymbolIndex, SymbolKind};
use crate::object::AnalysedObject;
use crate::sources::dwarf::CompUnits;
use crate::study::compress::compress;

/// Which symbols kallsyms holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Selection {
    /// Every symbol (`CONFIG_KALLSYMS_ALL=y`, Debian's choice).
    #[default]
    All,
    /// Text symbols only.
    TextOnly,
}

/// One symbol as kallsyms would list it, with what DWARF says of it.
#[derive(Debug, Clone)]
pub struct KallsymsEntry {
    /// `nm`-style type letter.
    pub kind: u8,
    /// Name.
    pub name: String,
    /// Link-time address.
    pub addr: u64,
    /// `STB_LOCAL`.
    pub local: bool,
    /// A function (`STT_FUNC`).
    pub func: bool,
    /// `STT_FILE` basename, for locals.
    pub base: Option<String>,
    /// Compile unit path (relative to the build directory), if DWARF has it.
    pub path: Option<String>,
}

/// nm's type letter for a symbol, from its section (`T`, `d`, `B`, `R`, `W`…).
pub(crate) fn nm_type(obj: &AnalysedObject, s: &Symbol) -> Option<u8> {
    let sec = obj.elf().sections().get(s.section as usize)?;
    let flags = sec.flags;
    let alloc = flags & u64::from(elf::SHF_ALLOC) != 0;
    let letter = if !alloc {
        return None; // debugging symbols: 'N', never in kallsyms
    } else if flags & u64::from(elf::SHF_EXECINSTR) != 0 {
        b'T'
    } else if sec.kind == elf::SHT_NOBITS {
        b'B'
    } else if flags & u64::from(elf::SHF_WRITE) != 0 {
        b'D'
    } else {
        b'R'
    };
    Some(match s.binding {
        Binding::Weak => {
            if s.kind == SymbolKind::Object {
                b'V'
            } else {
                b'W'
            }
        }
        Binding::Local => letter.to_ascii_lowercase(),
        Binding::Global => letter,
    })
}

/// kallsyms.c's `is_ignored_symbol` (Linux 6.1): names the kernel never lists.
pub fn ignored_by_kallsyms(name: &str, kind: u8) -> bool {
    const NAMES: &[&str] = &[
        "kallsyms_addresses",
        "kallsyms_offsets",
        "kallsyms_relative_base",
        "kallsyms_num_syms",
        "kallsyms_names",
        "kallsyms_markers",
        "kallsyms_token_table",
        "kallsyms_token_index",
        "kallsyms_seqs_of_names",
        "_SDA_BASE_",
        "_SDA2_BASE_",
    ];
    const PREFIXES: &[&str] = &[
        "$",
        ".L",
        "__kstrtab_",
        "__kstrtabns_",
        "__efistub_",
        "__kvm_nvhe_",
        "__AArch64ADRPThunk_",
        "__ARMV5PILongThunk_",
        "__ARMV7PILongThunk_",
        "__ThumbV7PILongThunk_",
        "__LA25Thunk_",
        "__microLA25Thunk_",
        "__crc_",
    ];
    const SUFFIXES: &[&str] = &["_from_arm", "_from_thumb", "_veneer"];
    if NAMES.contains(&name)
        || PREFIXES.iter().any(|p| name.starts_with(p))
        || SUFFIXES.iter().any(|s| name.ends_with(s))
    {
        return true;
    }
    // Local labels like L0 (ARM), and undefined or debugging types.
    if name.starts_with('L') && name[1..].bytes().all(|b| b.is_ascii_digit()) && name.len() > 1 {
        return true;
    }
    matches!(kind, b'U' | b'u' | b'N' | b'n')
}

/// The symbols kallsyms would hold for this vmlinux.
pub(crate) fn kallsyms_entries(obj: &AnalysedObject, sel: Selection) -> Result<Vec<KallsymsEntry>> {
    let idx = obj.index()?;
    let mut out = Vec::new();
    for s in idx.symbols() {
        let name = idx.name(s);
        let Some(kind) = nm_type(obj, s) else {
            continue;
        };
        if ignored_by_kallsyms(name, kind) {
            continue;
        }
        if sel == Selection::TextOnly && !matches!(kind.to_ascii_uppercase(), b'T' | b'W') {
            continue;
        }
        let sf = obj.source_file(idx, s);
        out.push(KallsymsEntry {
            kind,
            name: name.to_string(),
            addr: s.addr.get(),
            local: s.binding == Binding::Local,
            func: s.kind == SymbolKind::Function,
            base: idx.file(s).map(str::to_string),
            path: sf.filter(|f| f.full.is_some()).map(|f| f.shown),
        });
    }
    // With --absolute-percpu (x86-64 SMP), per-CPU symbols become type A.
    let find = |n: &str| out.iter().find(|e| e.name == n).map(|e| e.addr);
    if let (Some(a), Some(b)) = (find("__per_cpu_start"), find("__per_cpu_end")) {
        for e in out.iter_mut().filter(|e| e.addr >= a && e.addr <= b) {
            e.kind = b'A';
        }
    }
    // kallsyms sorts by address (stable for equal addresses).
    out.sort_by_key(|e| e.addr);
    Ok(out)
}

/// One scheme's row of the report.
#[derive(Debug, Clone, Serialize)]
pub struct SchemeCost {
    /// Short name.
    pub scheme: String,
    /// What it stores.
    pub description: String,
    /// Bytes added before compression.
    pub added_raw: u64,
    /// Bytes added to kallsyms after the kernel's compression, when the
    /// scheme goes through it (schemes 1–4).
    pub added_compressed: Option<u64>,
    /// Function names still matching more than one symbol.
    pub ambiguous_names: usize,
    /// Symbols those names cover.
    pub ambiguous_symbols: usize,
    /// Groups of symbols the scheme cannot tell apart (same name and same
    /// extra information): the "function pairs" of the 2008 discussion.
    pub ambiguous_groups: usize,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// vmlinux analysed.
    pub vmlinux: String,
    /// Symbols kallsyms holds.
    pub symbols: usize,
    /// Local symbols among them.
    pub locals: usize,
    /// Local functions among them.
    pub local_functions: usize,
    /// `STT_FILE` entries in `.symtab`.
    pub stt_file_entries: usize,
    /// Function names occurring more than once (in kallsyms).
    pub duplicated_function_names: usize,
    /// Function symbols carrying them.
    pub duplicated_function_symbols: usize,
    /// Names of any kind occurring more than once.
    pub duplicated_names: usize,
    /// Symbols carrying them.
    pub duplicated_symbols: usize,
    /// kallsyms name tables today (names, markers, token table and index), compressed.
    pub baseline_compressed: u64,
    /// The same uncompressed (length byte + type + name per symbol).
    pub baseline_raw: u64,
    /// Our compression's `kallsyms_names` for today's list.
    pub names_compressed: u64,
    /// The bytes `kallsyms_names` spans in this vmlinux (to the next
    /// symbol: the table plus alignment padding), when it has one.
    pub vmlinux_kallsyms_names: Option<u64>,
    /// Whether source paths came from DWARF (else basenames stand in).
    pub has_dwarf: bool,
    /// One row per scheme.
    pub schemes: Vec<SchemeCost>,
    /// What the user-space scheme fetches at run time.
    pub runtime_anchors: Vec<String>,
}

/// Function names that key to more than one function symbol.
fn ambiguity<K: std::hash::Hash + Eq>(
    entries: &[KallsymsEntry],
    key: impl Fn(&KallsymsEntry) -> K,
) -> (usize, usize, usize) {
    let mut by: HashMap<K, usize> = HashMap::new();
    for e in entries.iter().filter(|e| e.func) {
        *by.entry(key(e)).or_default() += 1;
    }
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.func) {
        if by[&key(e)] > 1 {
            *names.entry(&e.name).or_default() += 1;
        }
    }
    let groups = by.values().filter(|c| **c > 1).count();
    (names.len(), names.values().sum(), groups)
}

fn raw_size(names: &[Vec<u8>]) -> u64 {
    names
        .iter()
        .map(|n| n.len() as u64 + if n.len() >= 0x80 { 2 } else { 1 })
        .sum()
}

fn with_type(e: &KallsymsEntry, name: &str) -> Vec<u8> {
    let mut v = vec![e.kind];
    v.extend_from_slice(name.as_bytes());
    v
}

/// `path:line` of each function's first line-table row (what addr2line,
/// and so kas_alias, gives for its address), per duplicated function.
fn first_lines(cu: &CompUnits, addrs: &[u64]) -> HashMap<u64, String> {
    let mut by_unit: HashMap<usize, Vec<u64>> = HashMap::new();
    for &a in addrs {
        if let Some(u) = cu.unit_offset_at(a) {
            by_unit.entry(u).or_default().push(a);
        }
    }
    let mut out = HashMap::new();
    for (_, list) in by_unit {
        let rows = cu.rows_of_unit_at(crate::addr::LinkAddr(list[0]));
        for a in list {
            if let Some(r) = rows.iter().find(|r| r.addr == a) {
                out.insert(a, format!("{}:{}", r.rel, r.line));
            }
        }
    }
    out
}

/// Measure every scheme on `obj` (a vmlinux).
pub fn measure(kernel: &crate::study::KernelImage, sel: Selection) -> Result<Report> {
    let obj = kernel.analysed();
    let idx: &SymbolIndex = obj.index()?;
    let entries = kallsyms_entries(obj, sel)?;
    let has_dwarf = obj.compile_units().is_some();
    let path_of = |e: &KallsymsEntry| e.path.clone().or_else(|| e.base.clone());

    let base_names: Vec<Vec<u8>> = entries.iter().map(|e| with_type(e, &e.name)).collect();
    let base = compress(&base_names);
    let baseline_compressed = base.total_size() as u64;
    let names_compressed = base.names_size() as u64;
    let vmlinux_kallsyms_names = {
        match idx
            .first_named(["kallsyms_names", "kallsyms_markers"])
            .map(|s| s.map(|s| s.addr.get()))
        {
            [Some(a), Some(b)] if b > a => Some(b - a),
            _ => None,
        }
    };
    let baseline_raw = raw_size(&base_names);
    let cost_of = |names: Vec<Vec<u8>>| -> (u64, u64) {
        let raw = raw_size(&names).saturating_sub(baseline_raw);
        let c = compress(&names).total_size() as u64;
        (raw, c.saturating_sub(baseline_compressed))
    };

    // Duplicates, as the kernel sees names.
    let mut count: HashMap<&str, usize> = HashMap::new();
    let mut fcount: HashMap<&str, usize> = HashMap::new();
    for e in &entries {
        *count.entry(&e.name).or_default() += 1;
        if e.func {
            *fcount.entry(&e.name).or_default() += 1;
        }
    }
    let dup_f: Vec<(&&str, &usize)> = fcount.iter().filter(|(_, c)| **c > 1).collect();
    let dup_all: Vec<(&&str, &usize)> = count.iter().filter(|(_, c)| **c > 1).collect();

    let mut schemes = Vec::new();
    let (n0, s0, g0) = ambiguity(&entries, |e| e.name.clone());
    schemes.push(SchemeCost {
        scheme: "today".into(),
        description: "kallsyms as it is: names only".into(),
        added_raw: 0,
        added_compressed: Some(0),
        ambiguous_names: n0,
        ambiguous_symbols: s0,
        ambiguous_groups: g0,
    });

    // 1. Bottomley: basename| on locals.
    let names: Vec<Vec<u8>> = entries
        .iter()
        .map(|e| match (&e.base, e.local) {
            (Some(b), true) => with_type(e, &format!("{b}|{}", e.name)),
            _ => with_type(e, &e.name),
        })
        .collect();
    let (raw, c) = cost_of(names);
    let (n, s, g) = ambiguity(&entries, |e| {
        (if e.local { e.base.clone() } else { None }, e.name.clone())
    });
    schemes.push(SchemeCost {
        scheme: "bottomley-basename".into(),
        description: "file|name on every local, file = basename (STT_FILE), Bottomley 2008".into(),
        added_raw: raw,
        added_compressed: Some(c),
        ambiguous_names: n,
        ambiguous_symbols: s,
        ambiguous_groups: g,
    });

    // 2. The same with source paths.
    let names: Vec<Vec<u8>> = entries
        .iter()
        .map(|e| match (path_of(e), e.local) {
            (Some(p), true) => with_type(e, &format!("{p}|{}", e.name)),
            _ => with_type(e, &e.name),
        })
        .collect();
    let (raw, c) = cost_of(names);
    let (n, s, g) = ambiguity(&entries, |e| {
        (if e.local { path_of(e) } else { None }, e.name.clone())
    });
    schemes.push(SchemeCost {
        scheme: "bottomley-path".into(),
        description: "path|name on every local, path from DWARF compile units".into(),
        added_raw: raw,
        added_compressed: Some(c),
        ambiguous_names: n,
        ambiguous_symbols: s,
        ambiguous_groups: g,
    });

    // 3. Lobakin: path on every symbol.
    let names: Vec<Vec<u8>> = entries
        .iter()
        .map(|e| match path_of(e) {
            Some(p) => with_type(e, &format!("{p}|{}", e.name)),
            None => with_type(e, &e.name),
        })
        .collect();
    let (raw, c) = cost_of(names);
    let (n, s, g) = ambiguity(&entries, |e| (path_of(e), e.name.clone()));
    schemes.push(SchemeCost {
        scheme: "lobakin".into(),
        description: "path on every symbol, local and global, Lobakin 2022".into(),
        added_raw: raw,
        added_compressed: Some(c),
        ambiguous_names: n,
        ambiguous_symbols: s,
        ambiguous_groups: g,
    });

    // 4. kas_alias: an extra name@path_line entry per instance of a duplicated name.
    let dup_addrs: Vec<u64> = entries
        .iter()
        .filter(|e| count[e.name.as_str()] > 1)
        .map(|e| e.addr)
        .collect();
    let lines = obj
        .compile_units()
        .map(|cu| first_lines(cu, &dup_addrs))
        .unwrap_or_default();
    let mut names = base_names.clone();
    let mut extra_entries = 0u64;
    for e in entries.iter().filter(|e| count[e.name.as_str()] > 1) {
        let tag = lines
            .get(&e.addr)
            .cloned()
            .or_else(|| path_of(e))
            .unwrap_or_default();
        names.push(with_type(
            e,
            &format!("{}@{}", e.name, tag.replace(['/', ':'], "_")),
        ));
        extra_entries += 1;
    }
    let (raw, c) = cost_of(names);
    // Each alias is a whole kallsyms entry: 4 bytes in kallsyms_offsets and
    // 3 in kallsyms_seqs_of_names besides its name.
    let per_entry = 4 + 3;
    let (n, s, g) = ambiguity(&entries, |e| {
        if count[e.name.as_str()] > 1 {
            (
                e.name.clone(),
                lines.get(&e.addr).cloned().or_else(|| path_of(e)),
            )
        } else {
            (e.name.clone(), None)
        }
    });
    schemes.push(SchemeCost {
        scheme: "kas_alias".into(),
        description: "an alias name@path_line for every instance of a duplicated name, Carminati 2023".into(),
        added_raw: raw + extra_entries * per_entry,
        added_compressed: Some(c + extra_entries * per_entry),
        ambiguous_names: n,
        ambiguous_symbols: s,
        ambiguous_groups: g,
    });

    // 5. Side tables.
    let (side_raw, side_files) = side_table(&entries, &path_of, |_| true, false);
    let (n, s, g) = ambiguity(&entries, |e| {
        (if e.local { path_of(e) } else { None }, e.name.clone())
    });
    schemes.push(SchemeCost {
        scheme: "sidetable".into(),
        description: format!(
            "probeaddr: one 6-byte entry (first symbol index, file id) per run of consecutive symbols from one file, {side_files} file names stored once"
        ),
        added_raw: side_raw,
        added_compressed: None,
        ambiguous_names: n,
        ambiguous_symbols: s,
        ambiguous_groups: g,
    });
    let (min_raw, min_files) = side_table(
        &entries,
        &path_of,
        |e| count[e.name.as_str()] > 1 && e.local,
        true,
    );
    schemes.push(SchemeCost {
        scheme: "sidetable-dups".into(),
        description: format!("probeaddr: entries (symbol index, file id) only for locals with duplicated names, {min_files} file names"),
        added_raw: min_raw,
        added_compressed: None,
        ambiguous_names: n,
        ambiguous_symbols: s,
        ambiguous_groups: g,
    });

    // 6. Nothing in the kernel.
    schemes.push(SchemeCost {
        scheme: "userspace".into(),
        description: "no kernel bytes: addresses from the vmlinux's debug info, _text (and module section bases) fetched at run time".into(),
        added_raw: 0,
        added_compressed: Some(0),
        ambiguous_names: 0,
        ambiguous_symbols: 0,
        ambiguous_groups: 0,
    });

    Ok(Report {
        vmlinux: obj.elf().path().display().to_string(),
        symbols: entries.len(),
        locals: entries.iter().filter(|e| e.local).count(),
        local_functions: entries.iter().filter(|e| e.local && e.func).count(),
        stt_file_entries: idx.file_count(),
        duplicated_function_names: dup_f.len(),
        duplicated_function_symbols: dup_f.iter().map(|(_, c)| **c).sum(),
        duplicated_names: dup_all.len(),
        duplicated_symbols: dup_all.iter().map(|(_, c)| **c).sum(),
        baseline_compressed,
        baseline_raw,
        names_compressed,
        vmlinux_kallsyms_names,
        has_dwarf,
        schemes,
        runtime_anchors: vec![
            "_text from /proc/kallsyms (KASLR offset)".into(),
            "/sys/module/M/sections/.text* for each module probed".into(),
            "build-ids: /sys/kernel/notes, /sys/module/M/notes".into(),
        ],
    })
}

/// Raw size of a side table over the entries `keep` selects: consecutive
/// kept symbols of one file share an entry; every entry is a 4-byte symbol
/// index and a 2-byte file id; each file name is stored once, NUL-ended.
fn side_table(
    entries: &[KallsymsEntry],
    path_of: &dyn Fn(&KallsymsEntry) -> Option<String>,
    keep: impl Fn(&KallsymsEntry) -> bool,
    per_symbol: bool,
) -> (u64, usize) {
    let mut files: HashMap<String, ()> = HashMap::new();
    let mut runs = 0u64;
    let mut last: Option<Option<String>> = None;
    for e in entries {
        if !keep(e) {
            continue;
        }
        let f = if e.local { path_of(e) } else { None };
        // The full table has one entry per run; the duplicates-only table
        // one per symbol (its entries name symbols, not ranges).
        if per_symbol || last.as_ref() != Some(&f) {
            runs += 1;
            last = Some(f.clone());
        }
        if let Some(f) = f {
            files.insert(f, ());
        }
    }
    let names: u64 = files.keys().map(|f| f.len() as u64 + 1).sum();
    (runs * 6 + names, files.len())
}
