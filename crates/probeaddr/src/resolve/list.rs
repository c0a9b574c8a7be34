//! What DWARF says about a function: every copy with its declaration and
//! inlined sites (`probeaddr list`), and the lines that can be probed
//! (`probeaddr lines`, like `perf probe -L`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;

use crate::addr::LinkAddr;
use crate::error::{Error, ErrorKind, Result};
use crate::index::names::split_variant;
use crate::index::Binding;
use crate::object::{AnalysedObject, InlineMatch, MatchedSymbol};
use crate::resolve::{Resolver, Where};
use crate::sources::dwarf::LastUnit;
use crate::sources::in_chunks;
use crate::spec::{Pattern, Point, ProbeSpec};

/// One function of `probeaddr list`: an out-of-line copy, or a function
/// that exists only inlined.
#[derive(Debug, Clone, Serialize)]
pub struct ListedFunction {
    /// The symbol (the function's name when it has no copy).
    pub symbol: String,
    /// Its source file.
    pub file: Option<String>,
    /// The declaration file, from DWARF.
    pub decl_file: Option<String>,
    /// The declaration line, from DWARF.
    pub decl_line: Option<u64>,
    /// The entry (`None`: no out-of-line copy); in a module, the offset in
    /// its section.
    pub entry: Option<LinkAddr>,
    /// The size in bytes (`None`: no out-of-line copy).
    pub size: Option<u64>,
    /// Local, global or weak (`None`: no out-of-line copy).
    pub binding: Option<Binding>,
    /// Where it was inlined.
    pub inlined_sites: Vec<InlinedSite>,
}

/// An inlined site of a listed function.
#[derive(Debug, Clone, Serialize)]
pub struct InlinedSite {
    /// The site's address (in a module, the offset in its section).
    pub address: LinkAddr,
    /// `host+0xOFF`: the symbol holding it.
    #[serde(rename = "in")]
    pub within: String,
    /// The function it was inlined into.
    pub caller: Option<String>,
    /// The host's source file.
    pub file: Option<String>,
}

/// The probeable lines of one copy of a function.
#[derive(Debug, Clone, Serialize)]
pub struct FunctionLines {
    /// The symbol.
    pub symbol: String,
    /// Its source file.
    pub file: Option<String>,
    /// The declaration file, relative to the compile directory when under it.
    pub decl_file: Option<String>,
    /// The declaration file's path as DWARF spells it in full (where its
    /// source text would be).
    pub decl_path: Option<String>,
    /// The declaration line (what `FUNC:N` counts from).
    pub decl_line: Option<u64>,
    /// The entry (in a module, the offset in its section).
    pub entry: LinkAddr,
    /// Every line with code, with its first address: the declaration file's
    /// own lines by line number, then other files' lines inlined into it.
    pub lines: Vec<LineEntry>,
}

/// One line with code.
#[derive(Debug, Clone, Serialize)]
pub struct LineEntry {
    /// The file, relative to the compile directory when under it (shared
    /// by the lines of one file).
    pub file: Arc<str>,
    /// The line.
    pub line: u64,
    /// The line counted from the declaration line (`FUNC:N`'s N); only for
    /// lines of the declaration file, the only ones `FUNC:N` can name.
    pub relative: Option<u64>,
    /// True for a line of another function inlined into this one (a
    /// header's `static inline`, a static defined above it).
    pub inlined: bool,
    /// Its first address (in a module, the offset in its section).
    pub address: LinkAddr,
    /// The symbol holding that address: the function, or its split-off
    /// `.cold` part (shared by the function's lines).
    pub symbol: Arc<str>,
    /// The address's offset into that symbol.
    #[serde(with = "crate::addr::hex")]
    pub offset: u64,
}

fn site(obj: &AnalysedObject, i: &InlineMatch) -> InlinedSite {
    InlinedSite {
        address: obj
            .elf()
            .as_printed(LinkAddr(i.host.sym.addr.get() + i.offset)),
        within: format!("{}+{:#x}", i.host.name, i.offset),
        caller: i.caller.clone(),
        file: i.host.file.as_ref().map(|f| f.shown.clone()),
    }
}

/// `read` of each copy, in the copies' order, but read in address order,
/// so that one unit's functions come together (its DWARF and line program
/// are read once); a whole kernel's 45,000 read every unit's DIEs, so the
/// work is split between threads.
fn by_address<'a, T: Send>(
    copies: &[MatchedSymbol],
    read: impl Fn(&MatchedSymbol, &mut LastUnit<'a>) -> T + Sync,
) -> Vec<T> {
    let mut order: Vec<usize> = (0..copies.len()).collect();
    order.sort_by_key(|&i| copies[i].sym.addr);
    let mut done: Vec<(usize, T)> = in_chunks(&order, 256, |part| {
        // Each thread keeps the unit it opened last: its next function is
        // most often in it.
        let mut last = None;
        part.iter()
            .map(|&i| (i, read(&copies[i], &mut last)))
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    done.sort_unstable_by_key(|d| d.0);
    done.into_iter().map(|d| d.1).collect()
}

impl Resolver {
    /// The object a `list` or `lines` point is about: a user-space file,
    /// the vmlinux or a module (whose addresses are printed as offsets in
    /// their sections).
    fn analysed_for<'s>(
        &self,
        spec: &'s ProbeSpec,
    ) -> Result<(AnalysedRef, (&'s Pattern, Option<&'s Pattern>))> {
        let func = match &spec.point {
            Point::Function {
                func,
                file,
                offset: 0,
                line: None,
            } => (func, file.as_ref()),
            _ => {
                return Err(Error::new(
                    ErrorKind::BadInput,
                    format!("'{spec}': list and lines take a function (FUNC[@SRC])"),
                ))
            }
        };
        let obj = match self.place(spec)? {
            Where::User(p) => AnalysedRef::User(self.user_object(&p)?),
            Where::Kernel if self.vmlinux_path.is_some() => AnalysedRef::Kernel,
            Where::Module(m) => AnalysedRef::Module(self.module(&m)?.ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("'{spec}': module {m} not found: give its .ko with -m, or --module-dir"),
                )
            })?),
            _ => {
                return Err(Error::new(
                    ErrorKind::BadInput,
                    format!(
                    "'{spec}': give the object: -x PATH for user space, -k VMLINUX for the kernel, -m MODULE.ko for a module"
                ),
                ))
            }
        };
        Ok((obj, func))
    }

    fn analysed<'a>(&'a self, r: &'a AnalysedRef) -> Result<&'a AnalysedObject> {
        Ok(match r {
            AnalysedRef::User(u) => &u.obj,
            AnalysedRef::Kernel => &self.vmlinux()?.obj,
            AnalysedRef::Module(m) => &m.obj,
        })
    }

    /// Every copy of a function with its declaration and inlined sites, and
    /// the functions matching that exist only inlined; plus warnings.
    pub fn list(&self, spec: &ProbeSpec) -> Result<(Vec<ListedFunction>, Vec<String>)> {
        let (r, (func, file)) = self.analysed_for(spec)?;
        let obj = self.analysed(&r)?;
        let mut copies = obj.match_functions(func, file)?;
        let d = obj.match_inlined(func, file, &copies)?;
        copies.extend(d.renamed);
        let inlined = d.inlined;
        // A copy's function: its DWARF name where the symbol has another.
        let function = |m: &MatchedSymbol| {
            m.dwarf_name
                .clone()
                .unwrap_or_else(|| split_variant(&m.name).0.to_string())
        };
        if copies.is_empty() && inlined.is_empty() {
            return Err(obj.not_found(spec, func, file));
        }
        let cu = obj.compile_units();
        // Sites by the function inlined, and the copies' functions: a glob
        // over the whole kernel pairs 45,000 copies with a million sites.
        let mut sites_of: HashMap<&str, Vec<&InlineMatch>> = HashMap::new();
        for i in &inlined {
            sites_of.entry(i.name.as_str()).or_default().push(i);
        }
        let functions: Vec<String> = copies.iter().map(function).collect();
        let with_copy: HashSet<&str> = functions.iter().map(String::as_str).collect();
        let sps = by_address(&copies, |m, last| {
            cu.and_then(|c| c.subprogram_in(m.sym.addr, last))
        });
        let mut out = Vec::new();
        for ((m, f), sp) in copies.iter().zip(&functions).zip(sps) {
            out.push(ListedFunction {
                symbol: m.name.clone(),
                file: m.file.as_ref().map(|f| f.shown.clone()),
                decl_file: sp.as_ref().and_then(|s| s.decl_file_rel.clone()),
                decl_line: sp.as_ref().and_then(|s| s.decl_line),
                entry: Some(obj.elf().as_printed(m.sym.addr)),
                size: Some(m.sym.size),
                binding: Some(m.sym.binding),
                inlined_sites: sites_of
                    .get(f.as_str())
                    .map_or(&[][..], Vec::as_slice)
                    .iter()
                    .map(|i| site(obj, i))
                    .collect(),
            });
        }
        for i in &inlined {
            if with_copy.contains(i.name.as_str()) {
                continue;
            }
            out.push(ListedFunction {
                symbol: i.name.clone(),
                file: i.decl_file.clone(),
                decl_file: i.decl_file.clone(),
                decl_line: None,
                entry: None,
                size: None,
                binding: None,
                inlined_sites: vec![site(obj, i)],
            });
        }
        let mut warnings = Vec::new();
        if obj.dwarf_chain_cut() {
            warnings.push(format!(
                "{}: DWARF has a DW_AT_abstract_origin/DW_AT_specification chain that does not end (a cycle); it was cut after 8 links and the functions it names are left out",
                obj.elf().path().display()
            ));
        }
        Ok((out, warnings))
    }

    /// The lines with code of every copy of a function.
    pub fn lines(&self, spec: &ProbeSpec) -> Result<Vec<FunctionLines>> {
        let (r, (func, file)) = self.analysed_for(spec)?;
        let obj = self.analysed(&r)?;
        let mut copies = obj.match_functions(func, file)?;
        if copies.is_empty() {
            // A function the symbol table names otherwise (an asm label).
            copies = obj.match_inlined(func, file, &copies)?.renamed;
        }
        if copies.is_empty() {
            return Err(obj.not_found(spec, func, file));
        }
        let cu = obj.compile_units().ok_or_else(|| {
            Error::new(
                ErrorKind::NoSymbols,
                "no DWARF: source lines need .debug_info (install debug info or build with -g)",
            )
            .with_path(obj.elf().path())
        })?;
        let idx = obj.index()?;
        let mut out = Vec::new();
        let mut without = Vec::new();
        let found = by_address(&copies, |m, last| {
            crate::lines::function_lines(cu, m.sym.addr, last)
        });
        for (m, found) in copies.iter().zip(found) {
            let Some((sp, lines)) = found else {
                without.push(format!("{} at {}", m.name, m.sym.addr));
                continue;
            };
            let base = split_variant(&m.name).0;
            let name: Arc<str> = m.name.as_str().into();
            let holder = |a: u64| -> (Arc<str>, u64) {
                if a >= m.sym.addr.get() && a - m.sym.addr.get() < m.sym.size.max(1) {
                    return (name.clone(), a - m.sym.addr.get());
                }
                // Prefer the function's own part (`foo.cold`) over an alias.
                let mut best: Option<(Arc<str>, u64)> = None;
                for s in idx.functions_containing(LinkAddr(a)) {
                    let n = idx.name(s);
                    let c = (n.into(), a - s.addr.get());
                    if split_variant(n).0 == base {
                        return c;
                    }
                    best.get_or_insert(c);
                }
                best.unwrap_or_else(|| (name.clone(), a.wrapping_sub(m.sym.addr.get())))
            };
            out.push(FunctionLines {
                symbol: m.name.clone(),
                file: m.file.as_ref().map(|f| f.shown.clone()),
                decl_file: sp.decl_file_rel.clone(),
                decl_path: sp.decl_file.clone(),
                decl_line: sp.decl_line,
                entry: obj.elf().as_printed(m.sym.addr),
                lines: lines
                    .iter()
                    .map(|l| {
                        let (symbol, offset) = holder(l.addr);
                        LineEntry {
                            file: l.file.clone(),
                            line: l.line,
                            relative: sp
                                .decl_line
                                .filter(|_| l.own)
                                .and_then(|d| l.line.checked_sub(d)),
                            inlined: !l.own,
                            address: obj.elf().as_printed(LinkAddr(l.addr)),
                            symbol,
                            offset,
                        }
                    })
                    .collect(),
            });
        }
        if out.is_empty() {
            return Err(Error::new(
                ErrorKind::NoSymbols,
                format!(
                    "'{spec}': DWARF has no function entry for {} (its unit has no debug info for it)",
                    without.join(", ")
                ),
            )
            .with_path(obj.elf().path()));
        }
        Ok(out)
    }
}

/// The object a listing is about.
enum AnalysedRef {
    User(std::sync::Arc<crate::resolve::objects::UserObject>),
    Kernel,
    Module(std::sync::Arc<crate::resolve::objects::ModuleFile>),
}
