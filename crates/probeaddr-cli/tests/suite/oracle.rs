//! Independent answers from binutils, gdb and perf, parsed from their text output.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// Run an oracle; its standard output (a failure fails the test).
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap_or_else(|_| panic!("not hex: {s}"))
}

/// A function symbol as `readelf -sW` shows it, with the STT_FILE before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadelfSym {
    pub file: Option<String>,
    pub name: String,
    pub value: u64,
    pub size: u64,
    pub bind: String,
    /// Section index as readelf prints it (`15`, `UND`, `ABS`).
    pub ndx: String,
}

/// Every FUNC in `.symtab` (or `.dynsym` with `dynamic`), with its file.
pub fn readelf_funcs(bin: &Path, dynamic: bool) -> Vec<ReadelfSym> {
    readelf_syms(bin, dynamic, "FUNC")
}

/// The values of OBJECT symbols named `name` in the given STT_FILE (None: any).
pub fn readelf_objects(bin: &Path, name: &str, file: Option<&str>) -> Vec<u64> {
    readelf_syms(bin, false, "OBJECT")
        .into_iter()
        .filter(|s| s.name == name && file.is_none_or(|f| s.file.as_deref() == Some(f)))
        .map(|s| s.value)
        .collect()
}

fn readelf_syms(bin: &Path, dynamic: bool, kind: &str) -> Vec<ReadelfSym> {
    let text = run(Command::new("readelf")
        .arg(if dynamic { "--dyn-syms" } else { "-s" })
        .arg("-W")
        .arg(bin));
    let mut file = None;
    let mut out = Vec::new();
    let mut in_symtab = false;
    for line in text.lines() {
        if line.starts_with("Symbol table") {
            in_symtab = dynamic || line.contains("'.symtab'");
            file = None;
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if !in_symtab || f.len() < 7 || !f[0].ends_with(':') {
            continue;
        }
        match f[3] {
            "FILE" => file = f.get(7).map(|s| s.to_string()),
            k if k == kind && f[6] != "UND" && f.len() >= 8 => out.push(ReadelfSym {
                file: if f[4] == "LOCAL" { file.clone() } else { None },
                name: f[7].split('@').next().unwrap().to_string(),
                value: hex(f[1]),
                size: if let Some(h) = f[2].strip_prefix("0x") {
                    u64::from_str_radix(h, 16).unwrap()
                } else {
                    f[2].parse().unwrap()
                },
                bind: f[4].to_string(),
                ndx: f[6].to_string(),
            }),
            _ => {}
        }
    }
    out
}

/// The values of FUNC symbols named `name` in the given STT_FILE (None: any).
pub fn readelf_values(bin: &Path, name: &str, file: Option<&str>) -> Vec<u64> {
    let mut v: Vec<u64> = readelf_funcs(bin, false)
        .into_iter()
        .filter(|s| s.name == name && file.is_none_or(|f| s.file.as_deref() == Some(f)))
        .map(|s| s.value)
        .collect();
    v.sort();
    v
}

/// `(p_offset, p_vaddr, p_filesz)` of each PT_LOAD from `readelf -lW`.
pub fn readelf_loads(bin: &Path) -> Vec<(u64, u64, u64)> {
    run(Command::new("readelf").args(["-lW"]).arg(bin))
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&"LOAD")).then(|| (hex(f[1]), hex(f[2]), hex(f[4])))
        })
        .collect()
}

/// File offset of a link-time address, computed from readelf's PT_LOADs.
pub fn readelf_file_offset(bin: &Path, addr: u64) -> u64 {
    readelf_loads(bin)
        .into_iter()
        .find(|&(_, v, sz)| addr >= v && addr < v + sz)
        .map(|(o, v, _)| addr - v + o)
        .unwrap_or_else(|| panic!("{addr:#x} not in a PT_LOAD of {}", bin.display()))
}

/// `gdb -batch -ex 'print &EXPR'`: the address gdb gives for an expression
/// such as `'sub/b.c'::helper`. With `pid`, gdb attaches and gives the
/// runtime address.
pub fn gdb_address(bin: &Path, expr: &str, pid: Option<u32>) -> u64 {
    let mut cmd = Command::new("gdb");
    cmd.args(["-batch", "-nx", "-ex", &format!("print &{expr}")]);
    match pid {
        Some(p) => cmd.arg(bin).arg("-p").arg(p.to_string()),
        None => cmd.arg(bin),
    };
    let text = run(&mut cmd);
    let line = text
        .lines()
        .find(|l| l.starts_with("$1 = "))
        .unwrap_or_else(|| panic!("gdb said: {text}"));
    let at = line
        .find(") 0x")
        .map(|i| i + 2)
        .unwrap_or_else(|| panic!("gdb said: {line}"));
    hex(line[at..].split_whitespace().next().unwrap())
}

/// One of our locations (a `resolve --format json` row) named as perf names
/// a probe target: the symbol holding it and the offset in decimal
/// (`vfs_read+357`), whether or not that symbol is unique.
pub fn perf_target(row: &serde_json::Value) -> String {
    let off = row["offset"]
        .as_str()
        .unwrap_or_else(|| panic!("no offset: {row}"));
    let off = u64::from_str_radix(off.trim_start_matches("0x"), 16).unwrap();
    format!("{}+{off}", row["symbol"].as_str().unwrap())
}

/// `perf probe -k VMLINUX -D POINT`: each kprobe target perf would define
/// (`jhash+0`, inlined sites as `host+OFFSET` in decimal).
pub fn perf_probe_kernel_targets(vmlinux: &Path, point: &str) -> Vec<String> {
    let out = Command::new("perf")
        .args(["probe", "-q", "-k"])
        .arg(vmlinux)
        .args(["-D", point])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect()
}

/// `perf probe -m KO -D POINT`: each kprobe target perf would define in
/// the module, as `SYM+OFFSET` (decimal, module name dropped), sorted,
/// repeats kept (perf names every copy of a duplicated static alike).
pub fn perf_probe_module_targets(ko: &Path, point: &str) -> Vec<String> {
    let out = Command::new("perf")
        .args(["probe", "-q", "-m"])
        .arg(ko)
        .args(["-D", point])
        .output()
        .expect("perf (Debian linux-perf) is needed");
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(|t| t.split_once(':').map_or(t, |(_, s)| s).to_string())
        .collect();
    v.sort();
    v
}

/// `perf probe -q OBJECT... MODE POINT` (`-D` or `-V`): its standard
/// output; perf failing fails the test.
fn perf_probe(object: &[&std::ffi::OsStr], mode: &str, point: &str) -> String {
    let out = Command::new("perf")
        .args(["probe", "-q"])
        .args(object)
        .args([mode, point])
        .output()
        .expect("perf (Debian linux-perf) is needed");
    assert!(
        out.status.success(),
        "perf probe {mode} {point} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `perf probe -x BIN -D POINT`: the file offsets of the uprobes perf would define.
pub fn perf_probe_offsets(bin: &Path, point: &str) -> Vec<u64> {
    let text = perf_probe(&["-x".as_ref(), bin.as_os_str()], "-D", point);
    let mut v: Vec<u64> = text
        .lines()
        .filter(|l| l.starts_with("p:") || l.starts_with("r:"))
        .map(|l| hex(l.rsplit(':').next().unwrap()))
        .collect();
    v.sort();
    v
}

/// Instruction start offsets of `[start, start+size)` from `objdump -d`.
pub fn objdump_boundaries(bin: &Path, start: u64, size: u64) -> Vec<u64> {
    let text = run(Command::new("objdump")
        .arg("-d")
        .arg(format!("--start-address={start:#x}"))
        .arg(format!("--stop-address={:#x}", start + size))
        .arg(bin));
    text.lines()
        .filter_map(|l| {
            let (a, rest) = l.split_once(":\t")?;
            let a = a.trim();
            (!a.is_empty() && a.bytes().all(|b| b.is_ascii_hexdigit()) && rest.contains('\t'))
                .then(|| hex(a) - start)
        })
        .collect()
}

/// Every symbol of any type from `readelf -sW` (name, value, type, ndx).
pub fn readelf_all(bin: &Path) -> Vec<(String, u64, String, String)> {
    let text = run(Command::new("readelf").args(["-sW"]).arg(bin));
    let mut out = Vec::new();
    let mut in_symtab = false;
    for line in text.lines() {
        if line.starts_with("Symbol table") {
            in_symtab = line.contains("'.symtab'");
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if in_symtab && f.len() >= 8 && f[0].ends_with(':') && f[0] != "Num:" {
            out.push((
                f[7].to_string(),
                hex(f[1]),
                f[3].to_string(),
                f[6].to_string(),
            ));
        }
    }
    out
}

/// Section names by index from `readelf -SW`.
pub fn readelf_sections(bin: &Path) -> std::collections::BTreeMap<u32, String> {
    run(Command::new("readelf").args(["-SW"]).arg(bin))
        .lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let rest = l.strip_prefix('[')?;
            let (n, rest) = rest.split_once(']')?;
            let name = rest.split_whitespace().next()?;
            Some((n.trim().parse().ok()?, name.to_string()))
        })
        .collect()
}

/// `gdb -batch -ex 'info line *ADDR'`: the source file gdb gives for an address.
pub fn gdb_file_at(bin: &Path, addr: u64) -> String {
    let text = run(Command::new("gdb")
        .args(["-batch", "-nx", "-ex", &format!("info line *{addr:#x}")])
        .arg(bin));
    let start = text
        .find(" of \"")
        .unwrap_or_else(|| panic!("gdb said: {text}"))
        + 5;
    text[start..].split('"').next().unwrap().to_string()
}

/// The bytes of one section (`objcopy -O binary --only-section`).
pub fn section_bytes(bin: &Path, section: &str) -> Vec<u8> {
    let out = std::env::temp_dir().join(format!(
        "probeaddr-sec-{}-{}",
        std::process::id(),
        section.trim_start_matches('.')
    ));
    run(Command::new("objcopy")
        .args(["-O", "binary", "--only-section", section])
        .arg(bin)
        .arg(&out));
    let b = std::fs::read(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    b
}

/// `gdb -batch -ex 'info line LOC'`: the first address gdb gives for a line.
pub fn gdb_line_address(bin: &Path, loc: &str) -> u64 {
    let text = run(Command::new("gdb")
        .args(["-batch", "-nx", "-ex", &format!("info line {loc}")])
        .arg(bin));
    let at = text
        .split("starts at address ")
        .nth(1)
        .unwrap_or_else(|| panic!("gdb said: {text}"));
    hex(at.split_whitespace().next().unwrap())
}

/// `eu-addr2line -e BIN ADDR` (elfutils): `FILE:LINE` of an address.
pub fn eu_addr2line(bin: &Path, addr: u64) -> String {
    run(Command::new("eu-addr2line")
        .arg("-e")
        .arg(bin)
        .arg(format!("{addr:#x}")))
    .trim()
    .to_string()
}

/// `eu-addr2line -e BIN ADDR...`: `FILE:LINE` of each address (`??:0` for
/// none), in one run.
pub fn eu_addr2line_many(bin: &Path, addrs: &[u64]) -> Vec<String> {
    let text = run(Command::new("eu-addr2line")
        .arg("-e")
        .arg(bin)
        .args(addrs.iter().map(|a| format!("{a:#x}"))));
    let out: Vec<String> = text.lines().map(str::to_string).collect();
    assert_eq!(out.len(), addrs.len(), "eu-addr2line said: {text}");
    out
}

/// `readelf -n`: the GNU build-id, as hex.
pub fn readelf_build_id(bin: &Path) -> String {
    let text = run(Command::new("readelf").arg("-n").arg(bin));
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: "))
        .unwrap_or_else(|| panic!("no build-id in {}", bin.display()))
        .trim()
        .to_string()
}

/// A debug directory holding `target` as the debug file of build-id `id`
/// (`DIR/.build-id/xx/rest.debug`, a symlink: a 590 MB vmlinux is not copied).
pub fn debug_dir_with(dir: &Path, id: &str, target: &Path) {
    let p = dir.join(".build-id").join(&id[..2]);
    std::fs::create_dir_all(&p).unwrap();
    let link = p.join(format!("{}.debug", &id[2..]));
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(target, link).unwrap();
}

/// Rows of binutils' decoded line table (`objdump --dwarf=decodedline`):
/// `(file name as objdump prints it, line, address, is_stmt)`.
pub fn objdump_line_rows(bin: &Path) -> Vec<(String, u64, u64, bool)> {
    let out = Command::new("objdump")
        .arg("--dwarf=decodedline")
        .arg(bin)
        .output()
        .expect("objdump (binutils) is needed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 3 {
                return None;
            }
            let line = f[1].parse::<u64>().ok()?;
            let addr = u64::from_str_radix(f[2].strip_prefix("0x")?, 16).ok()?;
            Some((f[0].to_string(), line, addr, f.last() == Some(&"x")))
        })
        .collect()
}

/// `eu-addr2line -i -f -e BIN ADDR`: the functions inlined at an address,
/// innermost first, then the function holding them.
pub fn eu_inline_chain(bin: &Path, addr: u64) -> Vec<String> {
    let text = run(Command::new("eu-addr2line")
        .args(["-i", "-f", "-e"])
        .arg(bin)
        .arg(format!("{addr:#x}")));
    // Function lines alternate with FILE:LINE lines.
    text.lines()
        .step_by(2)
        .map(|l| l.split(" inlined at ").next().unwrap().trim().to_string())
        .collect()
}

/// Where LLVM's DWARF reader (`llvm-dwarfdump --debug-info`, Debian `llvm`)
/// says each inlined copy of `name` is entered: the `DW_AT_entry_pc` of every
/// `DW_TAG_inlined_subroutine` whose origin is named `name`, else its
/// `DW_AT_low_pc`, else the first of its `DW_AT_ranges`. Sorted.
pub fn llvm_inlined_entries(debug: &Path, name: &str) -> Vec<u64> {
    llvm_inlined_entries_of(debug, &[name])
        .remove(name)
        .unwrap()
}

/// [`llvm_inlined_entries`] for several names, from one dump.
pub fn llvm_inlined_entries_of(debug: &Path, names: &[&str]) -> BTreeMap<String, Vec<u64>> {
    use std::io::BufRead;
    // Streamed: a kernel's dump is gigabytes of text.
    let mut child = Command::new("llvm-dwarfdump")
        .arg("--debug-info")
        .arg(debug)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("llvm-dwarfdump (Debian llvm) is needed");
    let origins: Vec<(String, &str)> = names.iter().map(|n| (format!("\"{n}\")"), *n)).collect();
    let val = |s: &str| {
        let h = s
            .split("(0x")
            .nth(1)?
            .split(|c: char| !c.is_ascii_hexdigit())
            .next()?;
        u64::from_str_radix(h, 16).ok()
    };
    let mut out: BTreeMap<String, Vec<u64>> =
        names.iter().map(|n| (n.to_string(), Vec::new())).collect();
    type Reading<'a> = Option<(&'a str, Option<u64>, Option<u64>, Option<u64>)>;
    // (name, entry_pc, low_pc, first non-empty range) of the matching DIE being read.
    let mut cur: Reading<'_> = None;
    let mut inlined = false;
    let finish = |cur: &mut Reading<'_>, out: &mut BTreeMap<String, Vec<u64>>| {
        if let Some((n, e, l, r)) = cur.take() {
            out.get_mut(n).unwrap().extend(e.or(l).or(r));
        }
    };
    for l in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let l = l.unwrap();
        if l.contains("DW_TAG_") || l.trim().is_empty() {
            finish(&mut cur, &mut out);
            if l.contains("DW_TAG_") {
                inlined = l.contains("DW_TAG_inlined_subroutine");
            }
            continue;
        }
        if inlined && cur.is_none() && l.contains("DW_AT_abstract_origin") {
            if let Some((_, n)) = origins.iter().find(|(o, _)| l.ends_with(o.as_str())) {
                cur = Some((n, None, None, None));
            }
            continue;
        }
        let Some((_, entry, low, range)) = cur.as_mut() else {
            continue;
        };
        if l.contains("DW_AT_entry_pc") {
            *entry = val(&l);
        } else if l.contains("DW_AT_low_pc") {
            *low = val(&l);
        } else if range.is_none() && l.trim_start().starts_with("[0x") {
            // `[0xBEGIN, 0xEND)`: the first one that is not empty.
            let mut it = l.trim_start().trim_start_matches('[').split(", ");
            let b = it
                .next()
                .and_then(|b| u64::from_str_radix(b.trim_start_matches("0x"), 16).ok());
            let e = it.next().and_then(|e| {
                u64::from_str_radix(e.trim_start_matches("0x").trim_end_matches(')'), 16).ok()
            });
            if let (Some(b), Some(e)) = (b, e) {
                if b < e {
                    *range = Some(b);
                }
            }
        }
    }
    finish(&mut cur, &mut out);
    assert!(child.wait().unwrap().success(), "llvm-dwarfdump failed");
    for v in out.values_mut() {
        v.sort();
        v.dedup();
    }
    out
}

/// `gdb -batch -ex 'break SPEC'`: where gdb puts the breakpoint.
pub fn gdb_break_address(bin: &Path, spec: &str) -> u64 {
    let text = run(Command::new("gdb")
        .args(["-batch", "-nx", "-ex", &format!("break {spec}")])
        .arg(bin));
    let at = text
        .split("Breakpoint 1 at ")
        .nth(1)
        .unwrap_or_else(|| panic!("gdb said: {text}"));
    hex(at.split([':', ' ']).next().unwrap())
}

/// Inlined functions by name: the entries elfutils prints, and how many
/// instances have only `DW_AT_ranges`.
pub type InlinedByName = (BTreeMap<String, BTreeSet<u64>>, BTreeMap<String, usize>);

/// One DIE as `eu-readelf --debug-dump=info` prints it.
#[derive(Default)]
struct EuDie {
    off: u64,
    depth: usize,
    tag: String,
    name: Option<String>,
    /// (in the supplementary file, offset) of DW_AT_abstract_origin or
    /// DW_AT_specification.
    origin: Option<(bool, u64)>,
    entry_pc: Option<u64>,
    low_pc: Option<u64>,
}

/// Every DIE of `file`, by offset, and their order.
fn eu_dies(file: &Path) -> (BTreeMap<u64, usize>, Vec<EuDie>) {
    let text = run(Command::new("eu-readelf")
        .arg("--debug-dump=info")
        .arg(file));
    let mut by_off = BTreeMap::new();
    let mut dies: Vec<EuDie> = Vec::new();
    let bracket = |v: &str| {
        let v = v.trim_start().strip_prefix('[')?;
        u64::from_str_radix(v.split(']').next()?.trim(), 16).ok()
    };
    for line in text.lines() {
        // ` [    4b]    imported_unit        abbrev: 105`
        if let Some(rest) = line.strip_prefix(" [") {
            if let (Some(off), Some((_, after))) =
                (bracket(&format!("[{rest}")), rest.split_once(']'))
            {
                if after.contains("abbrev:") {
                    let depth = after.len() - after.trim_start().len();
                    by_off.insert(off, dies.len());
                    dies.push(EuDie {
                        off,
                        depth,
                        tag: after.split_whitespace().next().unwrap_or("").to_string(),
                        ..EuDie::default()
                    });
                    continue;
                }
            }
        }
        let Some(d) = dies.last_mut() else { continue };
        let mut w = line.split_whitespace();
        let (Some(attr), Some(form)) = (w.next(), w.next()) else {
            continue;
        };
        let value = line.split_once(form).map_or("", |x| x.1);
        match attr {
            "name" => d.name = value.split('"').nth(1).map(str::to_string),
            "abstract_origin" | "specification" if d.origin.is_none() => {
                d.origin = bracket(value).map(|o| (form == "(GNU_ref_alt)", o));
            }
            "entry_pc" | "low_pc" => {
                let v = value
                    .split("+0x")
                    .nth(1)
                    .and_then(|h| u64::from_str_radix(h.split_whitespace().next()?, 16).ok());
                if attr == "entry_pc" {
                    d.entry_pc = v;
                } else {
                    d.low_pc = v;
                }
            }
            _ => {}
        }
    }
    (by_off, dies)
}

/// elfutils' reading of a dwz-compressed debug file and its supplementary
/// file (`eu-readelf --debug-dump=info` of each): every function inlined in
/// `debug`, with the `DW_AT_entry_pc` (else `DW_AT_low_pc`) of each of its
/// inlined instances, the
/// origins followed into `sup` (`DW_FORM_GNU_ref_alt`). An instance inside
/// an instance of the same function is part of it and left out (as perf).
/// Instances with only `DW_AT_ranges` are counted apart: the dump does not
/// print their addresses.
pub fn eu_inlined_sites_with_sup(debug: &Path, sup: &Path) -> InlinedByName {
    let files = [eu_dies(debug), eu_dies(sup)];
    // The DIE an origin chain ends at, and its name.
    let resolve = |mut alt: bool, mut off: u64| -> ((bool, u64), Option<String>) {
        for _ in 0..8 {
            let (by, dies) = &files[usize::from(alt)];
            let Some(d) = by.get(&off).map(|&i| &dies[i]) else {
                break;
            };
            match (&d.name, d.origin) {
                (None, Some((a, o))) => {
                    alt |= a;
                    off = o;
                }
                (n, _) => return ((alt, off), n.clone()),
            }
        }
        ((alt, off), None)
    };
    let mut out: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    let mut ranges_only: BTreeMap<String, usize> = BTreeMap::new();
    let mut stack: Vec<(usize, (bool, u64))> = Vec::new();
    for d in &files[0].1 {
        while stack.last().is_some_and(|(depth, _)| *depth >= d.depth) {
            stack.pop();
        }
        if d.tag != "subprogram" && d.tag != "inlined_subroutine" {
            continue;
        }
        let (key, name) = match d.origin {
            Some((a, o)) => resolve(a, o),
            None => ((false, d.off), d.name.clone()),
        };
        if d.tag == "inlined_subroutine" && !stack.iter().any(|(_, k)| *k == key) {
            match (name, d.entry_pc.or(d.low_pc)) {
                (Some(n), Some(e)) => {
                    out.entry(n).or_default().insert(e);
                }
                (Some(n), None) => *ranges_only.entry(n).or_default() += 1,
                _ => {}
            }
        }
        stack.push((d.depth, key));
    }
    (out, ranges_only)
}

/// `perf probe -x BIN -D 'POINT ARGS'`: per probe, its target
/// (`PATH:0xOFF`) and its fetch arguments (`name=body`), as perf writes them.
pub fn perf_probe_args(bin: &Path, point: &str) -> Vec<(String, Vec<String>)> {
    perf_probe_args_in(&["-x", bin.to_str().unwrap()], point)
}

/// [`perf_probe_args`] with perf's object options (`-k VMLINUX [-m KO]`).
pub fn perf_probe_args_in(object: &[&str], point: &str) -> Vec<(String, Vec<String>)> {
    let object: Vec<&std::ffi::OsStr> = object.iter().map(|o| o.as_ref()).collect();
    let text = perf_probe(&object, "-D", point);
    text.lines()
        .filter(|l| l.starts_with("p:") || l.starts_with("r:"))
        .map(|l| {
            let mut w = l.split_whitespace().skip(1);
            let target = w.next().unwrap().to_string();
            (target, w.map(str::to_string).collect())
        })
        .collect()
}

/// `perf probe -x BIN -V POINT`: `(type, name)` of every variable perf
/// lists at the point's first location, sorted.
pub fn perf_probe_vars(bin: &Path, point: &str) -> Vec<(String, String)> {
    let text = perf_probe(&["-x".as_ref(), bin.as_os_str()], "-V", point);
    let mut v: Vec<(String, String)> = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("@<"))
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with("@<"))
        .filter_map(|l| {
            let (t, n) = l.trim().rsplit_once('\t')?;
            Some((t.trim().to_string(), n.to_string()))
        })
        .collect();
    v.sort();
    v
}

/// A section's bytes as `readelf -SW` places it in the file (also the
/// sections `objcopy -O binary` leaves out, which are not loaded: a
/// `.ko`'s `.BTF`).
pub fn readelf_section_bytes(bin: &Path, section: &str) -> Vec<u8> {
    let out = run(Command::new("readelf").args(["-S", "-W"]).arg(bin));
    let row = out
        .lines()
        .filter_map(|l| l.split_once(']').map(|(_, r)| r))
        .map(|r| r.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.first() == Some(&section))
        .unwrap_or_else(|| panic!("readelf: {} has no {section}", bin.display()));
    let (off, size) = (hex(row[3]) as usize, hex(row[4]) as usize);
    std::fs::read(bin).unwrap()[off..off + size].to_vec()
}

/// `nm` of a vmlinux as a kallsyms listing (the same three columns), and
/// of a module's text symbols placed at `base`, tagged `[MODULE]`.
pub fn nm_kallsyms(vmlinux: &Path, modules: &[(&Path, &str, u64)]) -> String {
    let mut out = run(Command::new("nm").arg(vmlinux));
    for (ko, name, base) in modules {
        for l in run(Command::new("nm").arg(ko)).lines() {
            let f: Vec<&str> = l.split_whitespace().collect();
            if let [addr, kind @ ("t" | "T"), sym] = f[..] {
                out.push_str(&format!(
                    "{:016x} {kind} {sym}\t[{name}]\n",
                    hex(addr) + base
                ));
            }
        }
    }
    out
}

/// `perf probe -x BIN -V POINT` at every location: `@<FUNC+OFF>` → the
/// `(type, name)` perf lists there (empty for "No matched variables").
pub fn perf_probe_vars_at_each(bin: &Path, point: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let text = perf_probe(&["-x".as_ref(), bin.as_os_str()], "-V", point);
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut at = None;
    for l in text.lines().map(str::trim) {
        if let Some(loc) = l.strip_prefix("@<").and_then(|r| r.strip_suffix('>')) {
            at = Some(loc.to_string());
            out.entry(loc.to_string()).or_default();
        } else if let (Some(a), Some((t, n))) = (&at, l.rsplit_once('\t')) {
            out.get_mut(a)
                .unwrap()
                .push((t.trim().to_string(), n.to_string()));
        }
    }
    out
}

/// `llvm-dwarfdump --name=NAME`: the text of each DIE of that name, with
/// its location expressions as LLVM prints them.
pub fn llvm_dwarfdump_name(bin: &Path, name: &str) -> String {
    run(Command::new("llvm-dwarfdump")
        .arg(format!("--name={name}"))
        .arg(bin))
}

/// A `readelf -n` SystemTap note: provider, name, location, base,
/// semaphore, arguments.
pub type SdtNote = (String, String, u64, u64, u64, String);

/// Every `NT_STAPSDT` note `readelf -n` shows.
pub fn readelf_sdt_notes(bin: &Path) -> Vec<SdtNote> {
    let text = run(Command::new("readelf").arg("-n").arg(bin));
    let mut out = Vec::new();
    let mut cur: Option<SdtNote> = None;
    for l in text.lines().map(str::trim) {
        if let Some(p) = l.strip_prefix("Provider: ") {
            cur = Some((p.to_string(), String::new(), 0, 0, 0, String::new()));
        } else if let (Some(c), Some(n)) = (cur.as_mut(), l.strip_prefix("Name: ")) {
            c.1 = n.to_string();
        } else if let (Some(c), Some(rest)) = (cur.as_mut(), l.strip_prefix("Location: ")) {
            let f: Vec<&str> = rest.split(", ").collect();
            c.2 = hex(f[0]);
            c.3 = hex(f[1].trim_start_matches("Base: "));
            c.4 = hex(f[2].trim_start_matches("Semaphore: "));
        } else if let Some(a) = l.strip_prefix("Arguments:") {
            let mut c = cur.take().unwrap();
            c.5 = a.trim().to_string();
            out.push(c);
        }
    }
    out
}

/// `nm -C`: every text symbol (weak ones too: template instantiations) as
/// binutils demangles it, `(address, name)`.
pub fn nm_demangled(bin: &Path) -> Vec<(u64, String)> {
    run(Command::new("nm").arg("-C").arg(bin))
        .lines()
        .filter_map(|l| {
            let (addr, rest) = l.split_once(' ')?;
            let (kind, name) = rest.split_once(' ')?;
            matches!(kind, "T" | "t" | "W" | "w").then(|| (hex(addr), name.to_string()))
        })
        .collect()
}
