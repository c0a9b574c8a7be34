//! The one pipeline from a probe point to locations, for every object kind:
//!
//! match (functions with their clones, or data) → inlined sites → lines →
//! offset check → anchor → kernel forms.
//!
//! What differs by object is data, not code paths: where the code bytes are
//! (a segment, a module section), what the anchor is (a file offset, `_text`,
//! a section), and whether kernel forms are computed. A symbol listing
//! (kallsyms, System.map) has no code and no DWARF; it goes through the same
//! steps with those that need them refused in words.

use super::fetch;
use crate::addr::{LinkAddr, SectionOffset};
use crate::error::{Error, ErrorKind, Reason, Result};
use crate::index::names::{closest_in, file_matches, name_matches, split_variant};
use crate::index::unique::nearest_unique;
use crate::index::{Binding, Symbol, SymbolIndex, SymbolKind};
use crate::insn::{check_offset_x86, BadOffset};
use crate::location::{
    Anchor, Location, LocationKind, Namespace, Object, SourceLine, SymbolAnchor,
};
use crate::object::{AnalysedObject, InlineMatch, MatchedSymbol};
use crate::resolve::objects::{same_module, Listing};
use crate::resolve::{Resolution, ResolveOptions};
use crate::sources::btf::{Btf, EntryScope};
use crate::sources::kallsyms::{KSym, Kallsyms};
use crate::sources::vars::{Query, Types};
use crate::spec::{InlineFilter, LineSpec, Point, ProbeKind, ProbeSpec};

/// What kind of ELF object a location is in, and what that kind needs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ElfKind<'a> {
    /// A user-space file: anchored at file offsets.
    User,
    /// The kernel image: anchored at `_text`.
    Vmlinux {
        /// Link-time `_text`.
        text: LinkAddr,
        /// Where the kernel refuses kprobes.
        blacklist: &'a crate::blacklist::KprobeBlacklist,
    },
    /// A module: anchored at its sections.
    Module {
        /// The module's name.
        name: &'a str,
    },
}

/// An ELF object to resolve in.
pub(crate) struct ElfTarget<'a> {
    pub obj: &'a AnalysedObject,
    pub kind: ElfKind<'a>,
    /// What locations name as their object.
    pub object: Object,
    /// The kernel's BTF, for a vmlinux without DWARF: parameters at a
    /// function's entry.
    pub btf: Option<&'a Btf>,
}

/// The names the kernel's probe API sees: the namespace of uniqueness.
pub(crate) struct KernelNames<'a> {
    /// The running kernel's kallsyms, when it describes the analysed build
    /// (or is the only kernel symbols there are).
    pub kallsyms: Option<&'a Kallsyms>,
    /// Else: the kernel image's symbols (a vmlinux's index or a listing's).
    pub image: Image<'a>,
    /// And the modules at hand.
    pub modules: Vec<&'a SymbolIndex>,
}

/// Where the kernel image's names are, for counting.
pub(crate) enum Image<'a> {
    None,
    Index(&'a SymbolIndex),
    Listing(&'a Kallsyms),
}

impl KernelNames<'_> {
    /// How many symbols named `name` the kernel would see, and among what.
    pub fn count(&self, name: &str) -> (usize, Namespace) {
        if let Some(ks) = self.kallsyms {
            return (ks.count(name, None), Namespace::Kallsyms);
        }
        let mut n = match self.image {
            Image::None => 0,
            Image::Index(idx) => idx.count_named(name),
            Image::Listing(ks) => ks.count(name, None),
        };
        n += self
            .modules
            .iter()
            .map(|m| m.count_named(name))
            .sum::<usize>();
        (n, Namespace::Files)
    }

    /// How many symbols named `name` the kernel would see outside module
    /// `module` (whose own symbols are `own`).
    fn count_outside(&self, name: &str, module: &str, own: &SymbolIndex) -> usize {
        if let Some(ks) = self.kallsyms {
            return ks
                .lookup(name)
                .into_iter()
                .filter(|s| !ks.module(s).is_some_and(|m| same_module(m, module)))
                .count();
        }
        let image = match self.image {
            Image::None => 0,
            Image::Index(idx) => idx.count_named(name),
            Image::Listing(ks) => ks.count(name, None),
        };
        image
            + self
                .modules
                .iter()
                .filter(|m| !std::ptr::eq(**m, own))
                .map(|m| m.count_named(name))
                .sum::<usize>()
    }
}

/// One place a probe point names, before it is checked and anchored.
struct Candidate {
    /// The symbol holding the probe.
    host: MatchedSymbol,
    offset: u64,
    kind: LocationKind,
    line: Option<SourceLine>,
    /// For an inlined site: the inlined function, its caller, its declaration file.
    inlined: Option<(String, Option<String>, Option<String>)>,
    /// A USDT marker's note.
    marker: Option<crate::sources::sdt::Marker>,
}

/// The kind of an entry-or-offset location.
fn kind_of(spec: &ProbeSpec, offset: u64, line: bool) -> LocationKind {
    match (spec.kind, line, offset) {
        (ProbeKind::Return, _, _) => LocationKind::Return,
        (_, true, _) => LocationKind::Line,
        (_, false, 0) => LocationKind::Entry,
        _ => LocationKind::Offset,
    }
}

impl ElfTarget<'_> {
    fn path(&self) -> &std::path::Path {
        self.obj.elf().path()
    }

    /// DWARF for line tables, or why there is none, in the same words for
    /// every object kind (with the kind's hint of what to install). `at`:
    /// the function the point is in, if one is (see `dwarf_for`).
    fn dwarf_for_lines(
        &self,
        spec: &ProbeSpec,
        at: Option<LinkAddr>,
    ) -> Result<&crate::sources::dwarf::CompUnits> {
        let install = match self.kind {
            ElfKind::Module { .. } => "use the module from the kernel's debug package (Debian: linux-image-*-dbg, /usr/lib/debug/lib/modules/)",
            ElfKind::User => "install its debug info (or build with -g)",
            ElfKind::Vmlinux { .. } => "use the unstripped vmlinux of the debug package (Debian: linux-image-*-dbg)",
        };
        self.obj.dwarf_for(spec, install, at)
    }

    /// Every candidate the point names, in the order they are reported:
    /// out-of-line copies (and lines in them) first, then inlined sites.
    fn candidates(&self, spec: &ProbeSpec, opts: &ResolveOptions) -> Result<Vec<Candidate>> {
        let obj = self.obj;
        let path = self.path();
        let (func, file, offset, line) = match &spec.point {
            Point::Data { name } => {
                if let ElfKind::User = self.kind {
                    return Err(Error::new(
                        ErrorKind::NotImplemented,
                        "data probe points are for the kernel (kernel.data)",
                    ));
                }
                let found = obj.match_data(name)?;
                if found.is_empty() {
                    return Err(obj.not_found(spec, name, None));
                }
                return Ok(found
                    .into_iter()
                    .map(|host| Candidate {
                        host,
                        offset: 0,
                        kind: LocationKind::Data,
                        line: None,
                        inlined: None,
                        marker: None,
                    })
                    .collect());
            }
            Point::Line { file, line } => {
                let cu = self.dwarf_for_lines(spec, None)?;
                let found = crate::lines::in_file(cu, file, *line).map_err(|why| {
                    Error::new(ErrorKind::NotFound, format!("'{spec}': {why}")).with_path(path)
                })?;
                let mut out = Vec::new();
                for la in found {
                    let Some(host) = obj.function_at(LinkAddr(la.addr))? else {
                        return Err(Error::new(
                            ErrorKind::NotFound,
                            format!(
                                "'{spec}': line {} of {} at {:#x} is in no function of the symbol table",
                                la.line, la.file, la.addr
                            ),
                        )
                        .with_path(path));
                    };
                    out.push(Candidate {
                        offset: la.addr - host.sym.addr.get(),
                        host,
                        kind: kind_of(spec, 1, true),
                        line: Some(SourceLine {
                            file: la.file,
                            line: la.line,
                            relative: None,
                        }),
                        inlined: None,
                        marker: None,
                    });
                }
                return Ok(out);
            }
            Point::Address { addr } => {
                if let ElfKind::Module { .. } = self.kind {
                    return Err(Error::new(
                        ErrorKind::NotImplemented,
                        format!("'{spec}': a module is not linked, so it has no addresses; give MOD:FUNC+OFF"),
                    )
                    .with_path(path));
                }
                let Some(host) = obj.function_at(LinkAddr(*addr))? else {
                    return Err(Error::new(
                        ErrorKind::NotFound,
                        format!("'{spec}': {addr:#x} is in no function of the symbol table"),
                    )
                    .with_path(path));
                };
                let offset = addr - host.sym.addr.get();
                if spec.kind == ProbeKind::Return && offset != 0 {
                    return Err(Error::new(
                        ErrorKind::BadOffset,
                        format!("'{spec}': a return probe needs a function entry, and {addr:#x} is {}+{offset:#x}", host.name),
                    )
                    .with_path(path));
                }
                return Ok(vec![Candidate {
                    kind: kind_of(spec, offset, false),
                    offset,
                    host,
                    line: None,
                    inlined: None,
                    marker: None,
                }]);
            }
            Point::Mark { provider, name } => {
                let markers = crate::sources::sdt::markers(obj.elf())?;
                let mut out = Vec::new();
                for m in markers.iter().filter(|m| {
                    name.matches(&m.name)
                        && provider.as_ref().is_none_or(|p| p.matches(&m.provider))
                }) {
                    let Some(host) = obj.function_at(LinkAddr(m.pc))? else {
                        return Err(Error::new(
                            ErrorKind::NotFound,
                            format!("'{spec}': marker {}:{} at {:#x} is in no function of the symbol table", m.provider, m.name, m.pc),
                        )
                        .with_path(path));
                    };
                    out.push(Candidate {
                        offset: m.pc - host.sym.addr.get(),
                        host,
                        kind: LocationKind::Mark,
                        line: None,
                        inlined: None,
                        marker: Some(m.clone()),
                    });
                }
                if out.is_empty() {
                    let all: Vec<String> = markers
                        .iter()
                        .map(|m| format!("{}:{}", m.provider, m.name))
                        .collect();
                    let msg = if all.is_empty() {
                        format!("'{spec}': this file has no USDT markers (no .note.stapsdt)")
                    } else {
                        let closest = crate::index::names::closest_in(
                            all.iter().map(String::as_str),
                            &format!("{}:{}", provider.as_ref().map_or("", |p| p.as_str()), name),
                        );
                        format!(
                            "'{spec}': no marker matches; {} markers here{}",
                            all.len(),
                            if closest.is_empty() {
                                String::new()
                            } else {
                                format!(", closest: {}", closest.join(", "))
                            }
                        )
                    };
                    return Err(Error::new(ErrorKind::NotFound, msg).with_path(path));
                }
                return Ok(out);
            }
            Point::Function {
                func,
                file,
                offset,
                line,
            } => (func, file.as_ref(), *offset, *line),
        };
        let mut matched = obj.match_functions(func, file)?;
        if spec.inlines == InlineFilter::InlineOnly {
            matched.clear();
        }
        // Inlined sites: for entries, and — only to say why there is no
        // answer — for a return probe of a function that has no copy.
        let want_inlines = line.is_none()
            && offset == 0
            && !opts.no_inlines
            && spec.inlines != InlineFilter::CallOnly
            && (spec.kind == ProbeKind::Entry || matched.is_empty())
            && obj.compile_units().is_some();
        // Out-of-line copies the symbol table names otherwise (an asm
        // label) come from the same walk; it is also made when nothing
        // matched by name, for any kind of point.
        let dwarf_here = obj.compile_units().is_some();
        let want_renamed = dwarf_here
            && spec.inlines != InlineFilter::InlineOnly
            && (want_inlines || matched.is_empty());
        let mut inlined = Vec::new();
        if want_inlines || want_renamed {
            let d = obj.match_inlined(func, file, &matched)?;
            if want_inlines {
                inlined = d.inlined;
            }
            if want_renamed {
                matched.extend(d.renamed);
            }
        }
        if matched.is_empty() && inlined.is_empty() {
            return Err(obj.not_found(spec, func, file));
        }
        if spec.kind == ProbeKind::Return && matched.is_empty() {
            return Err(Error::new(
                ErrorKind::BadOffset,
                format!("'{spec}': only inlined copies exist, and a return probe needs a function entry"),
            )
            .with_path(path));
        }
        let mut out = Vec::new();
        for m in matched {
            match line {
                None => {
                    let mut offset = offset;
                    // Unoptimised code gives each variable one stack slot
                    // for the whole function, written by the prologue: its
                    // variables are read after it, as perf and gdb do.
                    // (Optimised code has location lists valid at the
                    // entry, and after_prologue leaves it there.)
                    let reads_vars = opts.variables.is_some()
                        || spec.args.iter().any(|a| {
                            matches!(
                                a.expr,
                                crate::spec::ArgExpr::Var { .. }
                                    | crate::spec::ArgExpr::Params
                                    | crate::spec::ArgExpr::Vars
                                    | crate::spec::ArgExpr::Locals
                            )
                        });
                    // Without DWARF, variables come from BTF, which
                    // knows them at the entry only.
                    let reads_dwarf_vars = reads_vars && obj.compile_units().is_some();
                    if (opts.skip_prologue || reads_dwarf_vars)
                        && spec.kind == ProbeKind::Entry
                        && offset == 0
                    {
                        let cu = self.dwarf_for_lines(spec, Some(m.sym.addr))?;
                        let code = self.code(&m.sym).unwrap_or_default();
                        if let Some(after) =
                            crate::lines::after_prologue(cu, m.sym.addr, &code, obj.elf().bits())
                        {
                            offset = after - m.sym.addr.get();
                        }
                    }
                    out.push(Candidate {
                        host: m,
                        kind: kind_of(spec, offset, false),
                        offset,
                        line: None,
                        inlined: None,
                        marker: None,
                    });
                }
                Some(ls) => {
                    let line_file = match ls {
                        LineSpec::Absolute(_) => file,
                        LineSpec::Relative(_) => None,
                    };
                    let cu = self.dwarf_for_lines(spec, Some(m.sym.addr))?;
                    let found = crate::lines::in_function(cu, m.sym.addr, ls, line_file).map_err(
                        |why| {
                            Error::new(
                                ErrorKind::NotFound,
                                format!(
                                    "'{spec}': {} [{}]: {why}",
                                    m.name,
                                    m.file.as_ref().map_or("?", |f| f.shown.as_str())
                                ),
                            )
                            .with_path(path)
                        },
                    )?;
                    let relative = match ls {
                        LineSpec::Relative(n) => Some(n),
                        LineSpec::Absolute(_) => None,
                    };
                    for la in found {
                        out.push(Candidate {
                            host: m.clone(),
                            offset: la.addr - m.sym.addr.get(),
                            kind: kind_of(spec, 1, true),
                            line: Some(SourceLine {
                                file: la.file,
                                line: la.line,
                                relative,
                            }),
                            inlined: None,
                            marker: None,
                        });
                    }
                }
            }
        }
        if spec.kind == ProbeKind::Entry {
            out.extend(inlined.into_iter().map(|im: InlineMatch| Candidate {
                host: im.host,
                offset: im.offset,
                kind: LocationKind::Entry,
                line: None,
                inlined: Some((im.name, im.caller, im.decl_file)),
                marker: None,
            }));
        }
        Ok(out)
    }

    /// The code of a function: what offsets are checked against.
    fn code(&self, s: &Symbol) -> Option<Vec<u8>> {
        let elf = self.obj.elf();
        match self.kind {
            ElfKind::User | ElfKind::Vmlinux { .. } => {
                elf.bytes_at(s.addr, s.size).map(<[u8]>::to_vec)
            }
            // A module has no segments: its code is where its section is.
            ElfKind::Module { .. } => {
                let sec = elf.sections().get(s.section as usize)?;
                let at = elf.section_offset(s.section, s.addr)?;
                let start = usize::try_from(sec.offset.checked_add(at)?).ok()?;
                elf.data()
                    .get(start..start.checked_add(usize::try_from(s.size).ok()?)?)
                    .map(<[u8]>::to_vec)
            }
        }
    }

    /// A checked, anchored location for one candidate.
    fn location(
        &self,
        spec: &ProbeSpec,
        c: Candidate,
        names: Option<&KernelNames<'_>>,
        opts: &ResolveOptions,
    ) -> Result<Location> {
        let elf = self.obj.elf();
        let path = self.path();
        let s = c.host.sym;
        let name = c.host.name.as_str();
        let shown = c.host.file.as_ref().map(|f| f.shown.clone());
        let at = |what: &str| {
            format!(
                "{name}{}{what}",
                shown
                    .as_deref()
                    .map(|f| format!(" [{f}]"))
                    .unwrap_or_default()
            )
        };
        let addr = if c.kind == LocationKind::Data {
            s.addr
        } else {
            check_offset(path, &s, c.offset, elf.bits(), || self.code(&s), &at)?
        };
        let section = elf
            .sections()
            .get(s.section as usize)
            .map(|x| x.name.clone());
        let anchor = match self.kind {
            ElfKind::User => Anchor::File {
                offset: elf.file_offset(addr).ok_or_else(|| {
                    Error::new(
                        ErrorKind::Malformed,
                        at(&format!(" at {addr}: no PT_LOAD segment holds this address in the file, so it has no file offset")),
                    )
                    .with_path(path)
                })?,
            },
            ElfKind::Vmlinux { text, .. } => Anchor::KernelText {
                offset: addr.get().wrapping_sub(text.get()),
            },
            ElfKind::Module { .. } => Anchor::ModuleSection {
                section: section.clone().ok_or_else(|| {
                    Error::new(ErrorKind::Malformed, at(": its section does not exist")).with_path(path)
                })?,
                offset: SectionOffset(elf.section_offset(s.section, addr).ok_or_else(|| {
                    Error::new(ErrorKind::Malformed, at(": its section does not exist")).with_path(path)
                })?),
            },
        };
        let (function, variant) = split_variant(name);
        let file = c.host.file;
        let mut loc = Location {
            point: spec.to_string(),
            requested_event: spec.event.clone(),
            object: self.object.clone(),
            symbol: name.to_string(),
            // (The source's name, where the symbol is an asm label: the
            // point names this copy by it, and pins must know.)
            function: c
                .host
                .dwarf_name
                .clone()
                .unwrap_or_else(|| function.to_string()),
            demangled: crate::index::names::demangle(function).map(|d| d.full),
            variant,
            version: c.host.version.clone(),
            file: shown.clone(),
            source_path: file.as_ref().and_then(|f| f.full.clone()),
            // Where the function is declared, when that is not its unit: a
            // header static, or a .c file #included by another (binfmt_elf.c
            // in compat_binfmt_elf.c). `NAME@THAT_FILE` matches it too, so
            // pins must know.
            decl_file: file.as_ref().and_then(|f| f.decl.clone()).or_else(|| {
                (c.inlined.is_none() && c.kind != LocationKind::Data)
                    .then(|| self.obj.decl_file(&s))
                    .flatten()
                    .map(|(_, rel)| rel)
                    .filter(|rel| Some(rel) != shown.as_ref())
            }),
            line: c.line,
            inlined_into: None,
            kind: c.kind,
            binding: Some(s.binding),
            table: Some(s.table),
            aliases: c.host.aliases,
            section,
            func_addr: s.addr,
            offset: addr.get() - s.addr.get(),
            addr,
            size: s.size,
            anchor,
            symbol_form: None,
            module_form: None,
            data_symbol: None,
            name_count: None,
            namespace: None,
            notes: file.and_then(|f| f.disagreement).into_iter().collect(),
            args: Vec::new(),
            variables: Vec::new(),
            marker: None,
            kprobe_refused: None,
            ifunc_slot: None,
        };
        if let (Some(dn), None) = (&c.host.dwarf_name, &c.inlined) {
            loc.notes.push(format!(
                "the symbol table names this copy of {dn} '{name}'; DWARF's DW_AT_name is {dn} (an asm label, a linkage name of the source's choosing, or a damaged string table)"
            ));
        }
        if !c.host.other_versions.is_empty() && c.inlined.is_none() {
            loc.notes.push(format!(
                "{name}{} is the default version, which a name without one means (as the dynamic linker binds it); binaries linked against older versions call {} instead: probe {} by name, or every version with '{name}@*'",
                c.host.version.as_deref().unwrap_or(""),
                c.host.other_versions.join(", "),
                if c.host.other_versions.len() == 1 { "it" } else { "each" },
            ));
        }
        // (A marker in a cold part is where the marker is: nothing to say.)
        if variant == crate::index::names::Variant::Cold && c.marker.is_none() {
            loc.notes.push(format!(
                "{name} is the split-off cold part of {function}: it runs only on {function}'s cold paths (error handling), never as its entry"
            ));
        }
        if s.ifunc && c.inlined.is_none() && c.kind != LocationKind::Data {
            loc.notes.push(ifunc_note(self.obj.index()?, name));
            if let ElfKind::User = self.kind {
                loc.ifunc_slot = elf.irelative_slot(s.addr).and_then(|a| elf.file_offset(a));
            }
        }
        if let Some((func, caller, decl)) = c.inlined {
            loc.function = func;
            loc.inlined_into = caller;
            if decl.is_some() {
                loc.decl_file = decl;
            }
        }
        if let ElfKind::Vmlinux { blacklist, .. } = self.kind {
            if c.kind != LocationKind::Data {
                loc.kprobe_refused = blacklist.refuses(self.obj.index()?, addr, &s, name);
            }
        }
        if let Some(names) = names {
            self.kernel_forms(&mut loc, &s, names)?;
        }
        if let (Some(m), Anchor::File { offset }) = (&c.marker, &loc.anchor) {
            // A marker's own arguments, arg1…argN, from its note.
            let probe = (addr.get(), offset.get());
            // The assembler names a static as readily as a global.
            let lookup = |n: &str| self.data_symbol(n, false);
            for (i, a) in crate::sources::sdt::parse_args(&m.args)
                .into_iter()
                .enumerate()
            {
                match a.and_then(|(size, op)| fetch::marker_arg(size, &op, probe, &lookup)) {
                    Ok(body) => loc.args.push(format!("arg{}={body}", i + 1)),
                    Err(e) => loc.notes.push(format!(
                        "marker {}:{}: arg{} left out: {e}",
                        m.provider,
                        m.name,
                        i + 1
                    )),
                }
            }
            loc.marker = Some(crate::location::Marker {
                provider: m.provider.clone(),
                name: m.name.clone(),
                semaphore: match m.semaphore {
                    Some(a) => Some(elf.file_offset(LinkAddr(a)).ok_or_else(|| {
                        Error::new(
                            ErrorKind::Malformed,
                            format!("marker {}:{}: its semaphore at {a:#x} is in no loaded part of the file", m.provider, m.name),
                        )
                        .with_path(path)
                    })?),
                    None => None,
                },
                args: m.args.clone(),
            });
        }
        if (!spec.args.is_empty() || opts.variables.is_some()) && loc.kind != LocationKind::Data {
            let statics = match (self.kind, names) {
                (ElfKind::Module { name }, Some(names)) => self.module_statics(name, names),
                _ => None,
            };
            let globals = match (&self.kind, &loc.anchor) {
                (ElfKind::Vmlinux { text, .. }, _) => fetch::Globals::Kernel { text: text.get() },
                (ElfKind::Module { .. }, _) => fetch::Globals::Module(statics.as_ref()),
                (ElfKind::User, Anchor::File { offset }) => fetch::Globals::File {
                    probe: (addr.get(), offset.get()),
                },
                (ElfKind::User, _) => unreachable!("user locations are anchored at file offsets"),
            };
            let at = fetch::At {
                pc: addr.get(),
                entry: loc.kind == LocationKind::Entry && loc.inlined_into.is_none(),
                ret: loc.kind.is_return(),
                globals,
            };
            let here = loc.describe();
            let clone = clone_suffix(loc.variant, &loc.symbol, &loc.function);
            let mut dwarf = self.obj.compile_units().map(Query::new);
            let mut btf = match (&dwarf, self.btf) {
                (None, Some(b)) => Some(EntryScope::new(b, &loc.function, clone)),
                _ => None,
            };
            let (args, notes) = fetch::fetch_args(
                scope(&mut dwarf, &mut btf),
                &spec.args,
                &at,
                &|m| format!("{here}: {m}"),
                // Statics are the unit's DWARF's to place.
                &|name| self.data_symbol(name, true),
                elf.bits(),
            )
            .map_err(|e| e.with_path(path))?;
            loc.args.extend(args);
            loc.notes.extend(notes);
            if let Some(externs) = opts.variables {
                loc.variables =
                    fetch::list_variables(scope(&mut dwarf, &mut btf), &at, externs, elf.bits());
            }
        }
        if let ElfKind::Module { .. } = self.kind {
            // A module is not linked: what it has are offsets in sections
            // (the layout that gave them unique addresses is ours alone).
            let in_section = elf.section_offset(s.section, s.addr).unwrap_or(0);
            loc.func_addr = LinkAddr(in_section);
            loc.addr = LinkAddr(in_section.saturating_add(loc.offset));
        }
        Ok(loc)
    }

    /// The address of the one data symbol `name` (of global ones only,
    /// with `globals`), or why there is not exactly one.
    fn data_symbol(&self, name: &str, globals: bool) -> std::result::Result<u64, String> {
        let idx = self.obj.index().map_err(|e| e.to_string())?;
        let kind = if globals {
            "global data symbol"
        } else {
            "data symbol"
        };
        let mut data = idx
            .named(name)
            .filter(|s| s.kind == SymbolKind::Object && !(globals && s.binding == Binding::Local));
        match (data.next(), data.next()) {
            (Some(s), None) => Ok(s.addr.get()),
            (None, _) => Err(format!("the symbol table has no {kind} '{name}'")),
            (Some(_), Some(_)) => Err(format!("the symbol table has several {kind}s '{name}'")),
        }
    }

    /// Module `module`'s data symbols whose names the kernel finds once:
    /// once in the module, and nowhere else (the image, other modules).
    fn module_statics(
        &self,
        module: &str,
        names: &KernelNames<'_>,
    ) -> Option<fetch::ModuleStatics> {
        let idx = self.obj.index().ok()?;
        let mut symbols: Vec<(u64, u64, String)> = idx
            .symbols()
            .iter()
            .filter(|s| s.kind == SymbolKind::Object)
            .filter(|s| {
                let n = idx.name(s);
                idx.count_named(n) == 1 && names.count_outside(n, module, idx) == 0
            })
            .map(|s| (s.addr.get(), s.size, idx.name(s).to_string()))
            .collect();
        symbols.sort_unstable();
        Some(fetch::ModuleStatics { symbols })
    }

    /// `SYM+OFF`, `MOD:SYM+OFF` and `@SYM`, each only where the kernel
    /// would find the symbol once, with the reasoning in the notes.
    fn kernel_forms(&self, l: &mut Location, s: &Symbol, names: &KernelNames<'_>) -> Result<()> {
        let (count, ns) = names.count(&l.symbol);
        l.name_count = Some(count);
        l.namespace = Some(ns);
        if l.kind == LocationKind::Data {
            data_symbol(l, names);
            return Ok(());
        }
        let idx = self.obj.index()?;
        let section = |c: &&Symbol| c.section == s.section && c.kind == SymbolKind::Function;
        let addr = l.addr;
        match self.kind {
            ElfKind::User => {}
            ElfKind::Vmlinux { .. } => {
                // Symbols are sorted by address and sections do not
                // overlap, but labels of other sections can interleave:
                // walk back while still inside our section's range.
                let lo = self
                    .obj
                    .elf()
                    .sections()
                    .get(s.section as usize)
                    .map_or(0, |x| x.addr.get());
                l.symbol_form = unique_anchor(
                    l,
                    count,
                    not_unique,
                    || {
                        nearest_unique(
                            addr.get(),
                            idx.at_or_before(addr)
                                .take_while(|c| c.section == s.section || c.addr.get() >= lo)
                                .filter(section)
                                .map(|c| (idx.name(c), c.addr.get())),
                            |n| names.count(n).0,
                        )
                    },
                    "no unique symbol precedes it in its section",
                );
                if l.symbol_form.as_ref().is_some_and(|a| a.own) && ns == Namespace::Files {
                    l.notes.push(format!("{} is unique in this vmlinux; loaded modules were not checked (give --kallsyms)", l.symbol));
                }
            }
            ElfKind::Module { name: module } => {
                let in_module = idx.count_named(&l.symbol);
                l.module_form = unique_anchor(
                    l,
                    in_module,
                    |n, c| format!("{n} is not unique in module {module} ({c} symbols)"),
                    || {
                        nearest_unique(
                            addr.get(),
                            idx.at_or_before(addr)
                                .filter(section)
                                .map(|c| (idx.name(c), c.addr.get())),
                            |n| idx.count_named(n),
                        )
                    },
                    "no unique symbol of the module precedes it in its section",
                );
                // Without the running kernel's names, a module symbol's
                // uniqueness in the whole kernel is unknown.
                if count == 1 && ns == Namespace::Kallsyms {
                    l.symbol_form = Some(SymbolAnchor {
                        symbol: l.symbol.clone(),
                        offset: l.offset,
                        own: true,
                    });
                }
            }
        }
        Ok(())
    }

    /// Resolve `spec` in this object.
    pub fn resolve(
        &self,
        spec: &ProbeSpec,
        opts: &ResolveOptions,
        names: Option<&KernelNames<'_>>,
    ) -> Result<Resolution> {
        let mut locations = Vec::new();
        for c in self.candidates(spec, opts)? {
            locations.push(self.location(spec, c, names, opts)?);
        }
        let mut warnings = Vec::new();
        if self.obj.dwarf_chain_cut() {
            warnings.push(format!(
                "{}: DWARF has a DW_AT_abstract_origin/DW_AT_specification chain that does not end (a cycle); it was cut after 8 links and the functions it names are left out",
                self.path().display()
            ));
        }
        Ok(Resolution {
            locations,
            notes: self.obj.notes(),
            warnings,
        })
    }
}

fn not_unique(name: &str, count: usize) -> String {
    format!("{name} is not unique ({count} symbols): the kernel refuses {name}+OFF")
}

/// `SYM+OFF` with the location's own symbol when `count` says the kernel
/// finds it once; else the `nearest` unique symbol before it. Why the own
/// name is not used (`ambiguous(name, count)`), and that nothing anchors
/// it (`none`), go to the notes.
fn unique_anchor(
    l: &mut Location,
    count: usize,
    ambiguous: impl FnOnce(&str, usize) -> String,
    nearest: impl FnOnce() -> Option<(String, u64)>,
    none: &str,
) -> Option<SymbolAnchor> {
    if count == 1 {
        return Some(SymbolAnchor {
            symbol: l.symbol.clone(),
            offset: l.offset,
            own: true,
        });
    }
    l.notes.push(ambiguous(&l.symbol, count));
    let found = nearest().map(|(symbol, offset)| SymbolAnchor {
        symbol,
        offset,
        own: false,
    });
    if found.is_none() {
        l.notes.push(none.to_string());
    }
    found
}

/// `@SYM` for a data location, when kallsyms lists it exactly once.
fn data_symbol(l: &mut Location, names: &KernelNames<'_>) {
    match names.kallsyms {
        Some(ks) => match ks.count(&l.symbol, None) {
            1 => l.data_symbol = Some(format!("@{}", l.symbol)),
            n => l.notes.push(format!(
                "@{} is not usable: kallsyms lists it {n} times",
                l.symbol
            )),
        },
        None => l.notes.push("@SYM: unknown whether kallsyms lists it (data symbols need CONFIG_KALLSYMS_ALL); give --kallsyms".into()),
    }
}

/// `FUNC+OFF` checks: inside the function and on an instruction boundary
/// (decoded from the function's entry, with the bytes `code` returns).
/// Returns the probe's link-time address. `at` prefixes messages with the
/// symbol and its file.
fn check_offset(
    path: &std::path::Path,
    s: &Symbol,
    offset: u64,
    bits: u32,
    code: impl FnOnce() -> Option<Vec<u8>>,
    at: &dyn Fn(&str) -> String,
) -> Result<LinkAddr> {
    let addr = s.addr.checked_add(offset).ok_or_else(|| {
        Error::new(
            ErrorKind::BadOffset,
            at(&format!(": offset {offset:#x} overflows the address")),
        )
        .with_path(path)
    })?;
    if offset == 0 {
        return Ok(addr);
    }
    if s.size == 0 {
        return Err(Error::new(
            ErrorKind::BadOffset,
            at(": the symbol table records no size for this function, so +OFFSET cannot be checked; probe its entry"),
        )
        .with_path(path));
    }
    let code = code().ok_or_else(|| {
        Error::new(
            ErrorKind::Malformed,
            at(&format!(
                " at {}: the file holds no bytes for this function",
                s.addr
            )),
        )
        .with_path(path)
    })?;
    check_offset_x86(&code, s.addr.get(), offset, bits).map_err(|bad| {
        let msg = match bad {
            BadOffset::OutsideFunction { size, last } => format!(
                ": offset {offset:#x} is outside the function (size {size:#x}){}",
                last.map(|l| format!("; the last instruction starts at +{l:#x}")).unwrap_or_default()
            ),
            BadOffset::MidInstruction { before, after } => format!(
                ": offset {offset:#x} is inside an instruction; the nearest instruction boundaries are +{before:#x}{}",
                after.map(|a| format!(" and +{a:#x}")).unwrap_or_default()
            ),
            BadOffset::Undecodable { at } => format!(
                ": cannot decode the instruction at +{at:#x}, so offset {offset:#x} cannot be verified"
            ),
        };
        Error::new(ErrorKind::BadOffset, at(&msg)).with_path(path)
    })?;
    Ok(addr)
}

/// Resolve `spec` in a symbol listing: kallsyms (runtime addresses), a
/// System.map or an exported side table (link-time). No code and no DWARF:
/// offsets cannot be checked, lines not found; files only where the listing
/// carries them.
pub(crate) fn resolve_listing(
    listing: &Listing,
    module: Option<&str>,
    spec: &ProbeSpec,
    names: &KernelNames<'_>,
    opts: &ResolveOptions,
    btf: Option<&Btf>,
) -> Result<Resolution> {
    let ks = listing.ks();
    let (func, file, offset, data) = match &spec.point {
        Point::Function { line: Some(_), .. } | Point::Line { .. } => {
            return Err(Error::new(
                ErrorKind::NotImplemented,
                format!("'{spec}' is a line probe: it needs a vmlinux with DWARF (-k VMLINUX); module line probes are not supported yet"),
            ))
        }
        Point::Function {
            func,
            file,
            offset,
            line: None,
        } => (func, file.as_ref(), *offset, false),
        Point::Data { name } => (name, None, 0, true),
        Point::Mark { .. } => {
            return Err(Error::new(
                ErrorKind::BadInput,
                format!("'{spec}' is a USDT marker, which is in a program: give it with -x PATH (or process(\"PATH\").mark(...))"),
            ))
        }
        Point::Address { .. } => {
            return Err(Error::new(
                ErrorKind::NotImplemented,
                format!("'{spec}' is an address in an object: it needs the object (-k VMLINUX, -x FILE); a kernel address at run time is given as it is"),
            ))
        }
    };
    if !listing.link_time {
        ks.require_addresses()?;
    }
    if let (Some(f), false) = (file, ks.has_files()) {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!("'{spec}': kallsyms has no file names, so @{f} cannot be matched; give --vmlinux (with .symtab, ideally DWARF), or a file|name listing (--symbols)"),
        )
        .with_path(ks.origin()));
    }
    if offset > 0 {
        return Err(Error::new(
            ErrorKind::BadOffset,
            format!("'{spec}': +{offset:#x} cannot be checked against instruction boundaries without the code; give --vmlinux"),
        ));
    }
    if spec.inlines == InlineFilter::InlineOnly {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!("'{spec}': inlined sites need DWARF; give --vmlinux"),
        ));
    }
    let in_scope = |s: &KSym| match module {
        Some(m) => ks.module(s).is_some_and(|x| same_module(x, m)),
        None => ks.module(s).is_none(),
    };
    let mut matched: Vec<&KSym> = ks
        .symbols()
        .iter()
        .filter(|s| {
            in_scope(s)
                && (if data {
                    !s.is_text() && func.matches(ks.name(s))
                } else {
                    s.is_text() && name_matches(func, ks.name(s))
                })
                && file.is_none_or(|f| ks.file(s).is_some_and(|sf| file_matches(f, sf)))
        })
        .collect();
    matched.sort_by_key(|s| s.addr);
    matched.dedup_by_key(|s| s.addr);
    if matched.is_empty() {
        let what = if data { "data symbol" } else { "function" };
        let closest = if data {
            Vec::new()
        } else {
            closest_in(
                ks.symbols()
                    .iter()
                    .filter(|s| s.is_text() && in_scope(s))
                    .map(|s| ks.name(s)),
                func.as_str(),
            )
        };
        let mut msg = format!("'{spec}': no {what} matches '{func}'");
        if !closest.is_empty() {
            msg.push_str(&format!("; closest: {}", closest.join(", ")));
        }
        return Err(Error::new(ErrorKind::NotFound, msg)
            .with_path(ks.origin())
            .with_reason(Reason::NotFound { closest }));
    }
    let text = ks.vmlinux_unique("_text").map(|t| t.addr.get());
    let object = match module {
        Some(m) => Object::Module {
            name: m.to_string(),
            path: None,
            build_id: None,
        },
        None => Object::Vmlinux {
            path: None,
            build_id: listing.build_id.as_deref().map(crate::sources::elf::hex),
        },
    };
    let mut locations = Vec::new();
    for s in matched {
        let name = ks.name(s).to_string();
        let anchor = match (module, text) {
            (None, Some(t)) => Anchor::KernelText {
                offset: s.addr.get().wrapping_sub(t),
            },
            _ if !listing.link_time => Anchor::Absolute { addr: s.addr },
            _ => {
                return Err(Error::new(
                    ErrorKind::BadInput,
                    "this listing has no _text, so its link-time addresses anchor nothing",
                )
                .with_path(ks.origin()))
            }
        };
        let (function, variant) = split_variant(&name);
        let (count, ns) = names.count(&name);
        let mut l = Location {
            point: spec.to_string(),
            requested_event: spec.event.clone(),
            object: object.clone(),
            symbol: name.clone(),
            function: function.to_string(),
            demangled: None,
            variant,
            version: None,
            file: ks.file(s).map(str::to_string),
            source_path: None,
            decl_file: None,
            line: None,
            inlined_into: None,
            kind: if data {
                LocationKind::Data
            } else if spec.kind == ProbeKind::Return {
                LocationKind::Return
            } else {
                LocationKind::Entry
            },
            binding: Some(match s.kind {
                b'W' | b'w' | b'V' | b'v' => Binding::Weak,
                k if k.is_ascii_uppercase() => Binding::Global,
                _ => Binding::Local,
            }),
            table: None,
            aliases: Vec::new(),
            section: None,
            func_addr: LinkAddr(s.addr.get()),
            offset: 0,
            addr: LinkAddr(s.addr.get()),
            size: 0,
            anchor,
            symbol_form: None,
            module_form: None,
            data_symbol: None,
            name_count: Some(count),
            namespace: Some(ns),
            notes: Vec::new(),
            args: Vec::new(),
            variables: Vec::new(),
            marker: None,
            kprobe_refused: None,
            ifunc_slot: None,
        };
        let nearest = || {
            let order = ks.by_address();
            let end = order.partition_point(|&i| ks.symbols()[i as usize].addr <= s.addr);
            nearest_unique(
                s.addr.get(),
                order[..end]
                    .iter()
                    .rev()
                    .map(|&i| &ks.symbols()[i as usize])
                    .filter(|c| c.is_text() && ks.module(c) == ks.module(s))
                    .map(|c| (ks.name(c), c.addr.get())),
                |n| match module {
                    Some(m) => ks.count(n, Some(ks.module(s).unwrap_or(m))),
                    None => names.count(n).0,
                },
            )
        };
        if (!spec.args.is_empty() || opts.variables.is_some()) && !data {
            listing_args(&mut l, spec, opts, btf, ks, module.is_some(), text)?;
        }
        match module {
            _ if data => data_symbol(&mut l, names),
            Some(m) => {
                let in_module = ks.count(&name, Some(ks.module(s).unwrap_or(m)));
                l.module_form = unique_anchor(
                    &mut l,
                    in_module,
                    |n, c| format!("{n} is not unique in module {m} ({c} symbols)"),
                    nearest,
                    "no unique symbol of the module precedes it",
                );
            }
            None => {
                l.symbol_form = unique_anchor(
                    &mut l,
                    count,
                    not_unique,
                    nearest,
                    "no unique symbol precedes it",
                );
            }
        }
        locations.push(l);
    }
    Ok(Resolution {
        locations,
        notes: Vec::new(),
        warnings: Vec::new(),
    })
}

/// A GCC clone's suffix (`.isra.0` of `symbol`), whose calling convention
/// is its own.
fn clone_suffix<'a>(
    variant: crate::index::names::Variant,
    symbol: &'a str,
    function: &str,
) -> Option<&'a str> {
    (variant == crate::index::names::Variant::Clone)
        .then(|| symbol.get(function.len()..))
        .flatten()
}

/// What a location's variables are read through: its DWARF, else BTF.
fn scope<'s>(
    dwarf: &'s mut Option<Query<'_>>,
    btf: &'s mut Option<EntryScope<'_>>,
) -> Option<&'s mut dyn Types> {
    match (dwarf, btf) {
        (Some(q), _) => Some(q),
        (None, Some(b)) => Some(b),
        (None, None) => None,
    }
}

/// Fetch arguments at a listing's location: only at a function's entry
/// or return, where the calling convention says where its arguments and
/// value are, with names and types from BTF when it is given.
fn listing_args(
    l: &mut Location,
    spec: &ProbeSpec,
    opts: &ResolveOptions,
    btf: Option<&Btf>,
    ks: &Kallsyms,
    in_module: bool,
    text: Option<u64>,
) -> Result<()> {
    let at = fetch::At {
        pc: l.addr.get(),
        entry: l.kind == LocationKind::Entry,
        ret: l.kind.is_return(),
        globals: match (in_module, text) {
            (false, Some(text)) => fetch::Globals::Kernel { text },
            _ => fetch::Globals::Module(None),
        },
    };
    let clone = clone_suffix(l.variant, &l.symbol, &l.function);
    let mut scope = btf.map(|b| EntryScope::new(b, &l.function, clone));
    let here = l.describe();
    let (args, notes) = fetch::fetch_args(
        scope.as_mut().map(|s| s as &mut dyn Types),
        &spec.args,
        &at,
        &|m| format!("{here}: {m}"),
        &|name| {
            // BTF describes no global but per-CPU ones: a global is read
            // through its one data symbol, with the type the user gives.
            let mut data = ks
                .lookup(name)
                .into_iter()
                .filter(|s| !s.is_text() && ks.module(s).is_none());
            match (data.next(), data.next()) {
                (Some(s), None) => Ok(s.addr.get()),
                (None, _) => Err(format!(
                    "{} has no data symbol '{name}'",
                    ks.origin().display()
                )),
                (Some(_), Some(_)) => Err(format!(
                    "{} has several data symbols '{name}'",
                    ks.origin().display()
                )),
            }
        },
        64,
    )
    .map_err(|e| match btf {
        Some(b) => e.with_path(b.origin()),
        None => e,
    })?;
    l.args = args;
    l.notes.extend(notes);
    if let Some(externs) = opts.variables {
        l.variables = fetch::list_variables(
            scope.as_mut().map(|s| s as &mut dyn Types),
            &at,
            externs,
            64,
        );
    }
    Ok(())
}

/// What to say of a GNU indirect function: the address is its resolver,
/// run once when the dynamic linker binds the name, so a probe there sees
/// no calls. glibc names the implementations `__NAME_VARIANT`
/// (`__strlen_avx2`); they are listed when the symbol table has them.
fn ifunc_note(idx: &SymbolIndex, name: &str) -> String {
    let prefix = format!("__{name}_");
    let mut impls: Vec<&str> = idx
        .symbols()
        .iter()
        .filter(|s| s.kind == SymbolKind::Function && !s.ifunc)
        .map(|s| idx.name(s))
        .filter(|n| {
            // Not another function's (`__memcpy_chk_avx_unaligned`), nor
            // the resolver's own body (`__memcpy_chk_ifunc`).
            n.strip_prefix(&prefix)
                .is_some_and(|v| !v.contains('.') && !v.starts_with("chk") && !v.ends_with("ifunc"))
        })
        .collect();
    impls.sort_unstable();
    impls.dedup();
    let mut msg = format!(
        "{name} is a GNU indirect function (STT_GNU_IFUNC): this address is its resolver, which runs once when the dynamic linker binds {name}, not on each call"
    );
    if impls.is_empty() {
        msg.push_str("; probe the implementation it returns instead");
    } else {
        msg.push_str(&format!(
            "; calls go to the implementation it picks for the CPU, one of {}: probe them with '{prefix}*'",
            impls.join(", ")
        ));
    }
    msg
}
