//! Fetch arguments: a probe point's `n s->len s->name:string` written as
//! the kernel takes them (`n=%di:s32 len=+0(%si):s64 name=+0(+8(%si)):string`),
//! from where DWARF says each value is at the probe's address.
//!
//! An argument that cannot be read there (optimized out, split over
//! registers, an entry value past the entry) is an error naming the
//! variable and why: a fetch argument that reads something else is worse
//! than none.

use crate::error::{Error, ErrorKind, Result};
use crate::sources::vars::{self, describe, register_name, Place, Type, Types, Val};
use crate::spec::{ArgExpr, FetchSpec};

/// How a global's address is written in the probe's object.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Globals<'a> {
    /// A uprobe: `@+OFFSET`, where the kernel adds the probe's mapping
    /// base (its address minus its file offset) to OFFSET.
    File {
        /// The probe's link-time address and file offset.
        probe: (u64, u64),
    },
    /// The kernel image: `@_text+OFF`. `_text` is one symbol the kernel
    /// always finds once, and the data moves with it under KASLR; a
    /// global's own name may be shared by statics elsewhere.
    Kernel {
        /// Link-time `_text`.
        text: u64,
    },
    /// A module: its statics are in sections placed at load time, so an
    /// address is written from the data symbol holding it (`@SYM+OFF`),
    /// when the kernel finds that name once (`kallsyms_lookup_name` looks
    /// in the image, then in every module). `@MOD:SYM` cannot be written:
    /// the fetch-argument parser takes its `:` for the type.
    Module(Option<&'a ModuleStatics>),
}

/// A module's data symbols whose names are unique kernel-wide, for
/// `@SYM+OFF`.
#[derive(Debug)]
pub(crate) struct ModuleStatics {
    /// `(address, size, name)`, by address.
    pub symbols: Vec<(u64, u64, String)>,
}

impl ModuleStatics {
    /// `@SYM+OFF` for link-time address `a`: the symbol holding it.
    fn anchor(&self, a: u64) -> Option<String> {
        let i = self.symbols.partition_point(|s| s.0 <= a).checked_sub(1)?;
        let (start, size, name) = &self.symbols[i];
        (a < start + (*size).max(1)).then(|| format!("@{name}+{:#x}", a - start))
    }
}

/// Where the probe is.
pub(crate) struct At<'a> {
    pub pc: u64,
    /// The entry of an out-of-line copy (registers hold the arguments).
    pub entry: bool,
    /// A return probe.
    pub ret: bool,
    pub globals: Globals<'a>,
}

/// The fetch arguments of `args` at `at`, read through `types` (DWARF, or
/// a kernel function's BTF prototype), and notes on what `$vars`-like
/// arguments left out.
pub(crate) fn fetch_args(
    mut q: Option<&mut dyn Types>,
    args: &[FetchSpec],
    at: &At,
    what: &dyn Fn(&str) -> String,
    global: &dyn Fn(&str) -> std::result::Result<u64, String>,
    bits: u32,
) -> Result<(Vec<String>, Vec<String>)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut notes = Vec::new();
    let bad = |msg: String| Error::new(ErrorKind::Unrepresentable, what(&msg));
    let mut frame = None;
    for a in args {
        let n_before = out.len();
        let mut push = |name: String, body: String| {
            let mut n = name;
            let mut k = 1;
            while out.iter().any(|(o, _)| *o == n) {
                k += 1;
                n = format!(
                    "{}_{k}",
                    n.trim_end_matches(|c: char| c.is_ascii_digit() || c == '_')
                );
            }
            out.push((n, body));
        };
        match &a.expr {
            ArgExpr::Raw(r) => {
                let n = a
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("arg{}", n_before + 1));
                push(n, format!("{r}{}", cast(&a.cast)));
            }
            ArgExpr::ArgN(n) => {
                if !at.entry || at.ret {
                    return Err(bad(format!(
                        "'$arg{n}' reads the calling convention's argument registers, which hold the arguments only at a function's entry"
                    )));
                }
                let body = if bits == 64 {
                    const REGS: [&str; 6] = ["di", "si", "dx", "cx", "r8", "r9"];
                    match REGS.get(*n as usize - 1) {
                        Some(r) => format!("%{r}"),
                        // The seventh and later are on the stack, above
                        // the return address.
                        None => format!("+{}(%sp)", 8 * (*n as u64 - 6)),
                    }
                } else {
                    format!("+{}(%sp)", 4 * *n as u64)
                };
                // The kernel's `$argN` is the Nth argument slot. Its type
                // is the Nth parameter's when that parameter is in that
                // very slot (no earlier one took two, or none).
                let slot = match (bits, *n) {
                    (64, 1..=6) => {
                        Some(Place::Value(Val::Reg([5, 4, 1, 2, 8, 9][*n as usize - 1])))
                    }
                    (64, k) => Some(Place::Based(Val::Reg(7), 8 * (k as i64 - 6))),
                    // i386: all on the stack, above the return address.
                    (_, k) => Some(Place::Based(Val::Reg(4), 4 * k as i64)),
                };
                let typed = match (&a.cast, q.as_deref_mut()) {
                    (None, Some(q)) => {
                        let param = frame_of(q, at, &mut frame)
                            .ok()
                            .and_then(|f| f.vars.iter().filter(|v| v.param).nth(*n as usize - 1))
                            .filter(|v| v.place.as_ref().ok() == slot.as_ref())
                            .map(|v| v.ty);
                        param.and_then(|t| type_of(q, t, None).ok())
                    }
                    _ => None,
                };
                let ty = a.cast.clone().or(typed).unwrap_or(format!("x{bits}"));
                push(
                    a.name.clone().unwrap_or(format!("arg{n}")),
                    format!("{body}:{ty}"),
                );
            }
            ArgExpr::Retval => {
                if !at.ret {
                    return Err(bad(
                        "'$retval' is the return value, which only a return probe (%return) can read"
                            .into(),
                    ));
                }
                let ty = match (&a.cast, q.as_deref_mut()) {
                    (Some(c), _) => Some(c.clone()),
                    (None, Some(q)) => {
                        let f = frame_of(q, at, &mut frame);
                        let ret = f.ok().and_then(|f| f.ret);
                        match ret {
                            None => None,
                            Some(t) => Some(
                                type_of(q, Some(t), None)
                                    .map_err(|e| bad(format!("'$retval' {e}")))?,
                            ),
                        }
                    }
                    (None, None) => None,
                };
                let body = match ty {
                    Some(t) => format!("$retval:{t}"),
                    None => "$retval".into(),
                };
                push(a.name.clone().unwrap_or("retval".into()), body);
            }
            ArgExpr::Var { .. } | ArgExpr::Params | ArgExpr::Vars | ArgExpr::Locals => {
                if at.ret {
                    return Err(bad(format!(
                        "'{a}': at a return probe the function's variables are gone; only '$retval' can be read"
                    )));
                }
                let Some(q) = q.as_deref_mut() else {
                    return Err(bad(format!(
                        "'{a}' needs DWARF (or, at a kernel function's entry, BTF) to know where the variable is; without them use '$argN' at an entry or a raw fetch argument"
                    )));
                };
                let f = frame_of(q, at, &mut frame).map_err(|e| bad(format!("'{a}': {e}")))?;
                if let ArgExpr::Var { name, path, deref } = &a.expr {
                    // A global this unit only declares (or does not
                    // mention) is found by its symbol, when one data
                    // symbol has the name.
                    let found = f.find(name);
                    let declared_only = found.is_some_and(|v| {
                        v.global && matches!(&v.place, Err(e) if e.starts_with("declared here"))
                    });
                    let (mut place, mut ty) = match found {
                        Some(v) if !declared_only => (
                            v.place
                                .clone()
                                .map_err(|e| bad(format!("'{name}' cannot be read there: {e}")))?,
                            v.ty,
                        ),
                        _ => match global(name) {
                            Ok(addr) => (Place::Static(addr), found.and_then(|v| v.ty)),
                            Err(why) => {
                                let locals: Vec<&str> = f
                                    .vars
                                    .iter()
                                    .filter(|v| !v.global)
                                    .map(|v| v.name.as_str())
                                    .collect();
                                return Err(bad(format!(
                                    "no variable '{name}' in scope there (in scope: {}; and the unit's globals), and {why}",
                                    locals.join(", ")
                                )));
                            }
                        },
                    };
                    if ty.is_none() && a.cast.is_none() && matches!(place, Place::Static(_)) {
                        return Err(bad(format!(
                            "'{name}' is a data symbol that this unit's DWARF does not describe: give its type ('{name}:u64')"
                        )));
                    }
                    let mut bitf = None;
                    let mut shown = name.clone();
                    if *deref {
                        match q.resolve(ty) {
                            Type::Pointer { target } => {
                                place = Place::Based(place.value(), 0);
                                ty = target;
                            }
                            other => {
                                return Err(bad(format!(
                                    "'*{name}': '{name}' is {}, not a pointer",
                                    describe(&other)
                                )))
                            }
                        }
                    }
                    for step in path {
                        if bitf.is_some() {
                            return Err(bad(format!("'{a}': '{shown}' is a bitfield")));
                        }
                        let (p, t, b) = vars::step(q, &place, ty, step)
                            .map_err(|e| bad(format!("'{a}': '{shown}' {e}")))?;
                        place = p;
                        ty = t;
                        bitf = b;
                        shown = match step {
                            crate::spec::Access::Arrow(m) => format!("{shown}->{m}"),
                            crate::spec::Access::Dot(m) => format!("{shown}.{m}"),
                            crate::spec::Access::Index(i) => format!("{shown}[{i}]"),
                        };
                    }
                    let last = path.iter().rev().find_map(|s| match s {
                        crate::spec::Access::Arrow(m) | crate::spec::Access::Dot(m) => {
                            Some(m.clone())
                        }
                        _ => None,
                    });
                    let auto = match (&last, &a.cast) {
                        (Some(m), _) => m.clone(),
                        (None, Some(c)) => format!("{name}_{c}"),
                        (None, _) => name.clone(),
                    };
                    let body = render(q, &place, ty, bitf, &a.cast, at, bits)
                        .map_err(|e| bad(format!("'{a}': '{shown}' {e}")))?;
                    push(a.name.clone().unwrap_or(auto), body);
                } else {
                    let wanted: Vec<_> = f
                        .vars
                        .iter()
                        .filter(|v| !v.global)
                        .filter(|v| match a.expr {
                            ArgExpr::Params => v.param,
                            ArgExpr::Locals => !v.param,
                            _ => true,
                        })
                        .cloned()
                        .collect();
                    let mut seen = std::collections::HashSet::new();
                    for v in wanted {
                        // An inner variable hides an outer one of its name.
                        if !seen.insert(v.name.clone()) {
                            continue;
                        }
                        let r = v
                            .place
                            .clone()
                            .and_then(|p| render(q, &p, v.ty, None, &None, at, bits));
                        match r {
                            Ok(body) => push(v.name.clone(), body),
                            Err(e) => notes.push(format!("{a}: '{}' left out: {e}", v.name)),
                        }
                    }
                }
            }
        }
    }
    Ok((
        out.into_iter().map(|(n, b)| format!("{n}={b}")).collect(),
        notes,
    ))
}

fn frame_of<'f>(
    q: &mut dyn Types,
    at: &At,
    frame: &'f mut Option<std::result::Result<vars::Frame, String>>,
) -> std::result::Result<&'f vars::Frame, String> {
    frame
        .get_or_insert_with(|| q.frame(at.pc, at.entry))
        .as_ref()
        .map_err(Clone::clone)
}

fn cast(c: &Option<String>) -> String {
    c.as_ref().map(|c| format!(":{c}")).unwrap_or_default()
}

/// The kernel's type for a DWARF type.
fn type_of(
    q: &mut dyn Types,
    ty: Option<usize>,
    bits: Option<(u64, u64, u64)>,
) -> std::result::Result<String, String> {
    if let Some((w, off, c)) = bits {
        return Ok(format!("b{w}@{off}/{c}"));
    }
    match q.resolve(ty) {
        Type::Int { size, signed, .. } | Type::Enum { size, signed } => match size {
            1 | 2 | 4 | 8 => Ok(format!("{}{}", if signed { 's' } else { 'u' }, size * 8)),
            _ => Err(format!("is a {size}-byte integer, wider than a fetch argument")),
        },
        Type::Pointer { .. } => Ok(format!("x{}", q.pointer_size() * 8)),
        Type::Float { size } => Err(format!(
            "is a {size}-byte floating-point value, and fetch arguments have no floating-point type (cast it, ':x{}', to see its bits)",
            size * 8
        )),
        Type::Record { kind, .. } => Err(format!("is a {kind}: name a member ('.FIELD' or '->FIELD')")),
        Type::Array { .. } => Err("is an array: index it ('[N]') or read it as ':string'".into()),
        Type::Other(s) => Err(format!("has type {s}, which has no value to fetch")),
    }
}

/// A place and type written as one fetch argument body.
fn render(
    q: &mut dyn Types,
    place: &Place,
    ty: Option<usize>,
    bitf: Option<(u64, u64, u64)>,
    cast: &Option<String>,
    at: &At,
    bits: u32,
) -> std::result::Result<String, String> {
    let is_string = cast.as_deref().is_some_and(|c| c.ends_with("string"));
    if is_string {
        // The kernel reads a string at an address: a char array's own,
        // or the one a pointer holds.
        let t = q.resolve(ty);
        let addr = match t {
            Type::Array { .. } => place.clone(),
            Type::Pointer { .. } => Place::Based(place.value(), 0),
            other => {
                return Err(format!(
                    "is {}, not a string (a char pointer or array)",
                    describe(&other)
                ))
            }
        };
        if let Place::Value(_) = addr {
            return Err(
                "is an array held in registers: there is no address to read a string at".into(),
            );
        }
        return Ok(format!(
            "{}:{}",
            val(&addr.value(), at, bits)?,
            cast.as_deref().unwrap_or("string")
        ));
    }
    let t = match cast {
        Some(c) => c.clone(),
        None => type_of(q, ty, bitf)?,
    };
    Ok(format!("{}:{t}", val(&place.value(), at, bits)?))
}

/// One fetch argument value in the kernel's syntax.
fn val(v: &Val, at: &At, bits: u32) -> std::result::Result<String, String> {
    Ok(match v {
        Val::Reg(r) => format!(
            "%{}",
            register_name(bits, *r).ok_or_else(|| format!("is in DWARF register {r}, which fetch arguments cannot name"))?
        ),
        Val::Imm(i) => format!("\\{i}"),
        Val::Mem { off, base } => {
            // The kernel reads every address it follows as its own
            // `unsigned long`: a 64-bit kernel takes 8 bytes where a
            // 32-bit process stored a 4-byte pointer, and the next word
            // as its upper half.
            if bits == 32 && matches!(at.globals, Globals::File { .. }) && !matches!(**base, Val::Reg(_)) {
                return Err("is reached through a pointer stored in a 32-bit process's memory, which a 64-bit kernel reads as 8 bytes (the pointer and the next word): no fetch argument reads it correctly there (one would under a 32-bit kernel: write it as a raw argument to have it anyway)".into());
            }
            format!("{off:+}({})", val(base, at, bits)?)
        }
        Val::Static(a) => match at.globals {
            Globals::File { probe: (paddr, poff) } => {
                let off = (*a as i128) - (paddr as i128) + (poff as i128);
                if off < 0 {
                    return Err("is at an address before the probe's mapping, which '@+OFFSET' cannot reach".into());
                }
                format!("@+{off:#x}")
            }
            Globals::Kernel { text } => format!("@_text+{:#x}", a.wrapping_sub(text)),
            Globals::Module(statics) => statics.and_then(|m| m.anchor(*a)).ok_or(
                "is a module's static, whose section the loader places, and no data symbol whose name the kernel finds once holds it",
            )?,
        },
    })
}

/// A USDT marker argument (`-4@%eax`, `8@-16(%rbp)`, `8@sym(%rip)`) as a
/// uprobe fetch argument at the marker, whose link-time address and file
/// offset are `probe`; `symbol` finds a global's address by name.
pub(crate) fn marker_arg(
    size: i8,
    op: &crate::sources::sdt::Operand,
    probe: (u64, u64),
    symbol: &dyn Fn(&str) -> std::result::Result<u64, String>,
) -> std::result::Result<String, String> {
    use crate::sources::sdt::Operand;
    let ty = format!(
        "{}{}",
        if size < 0 { 's' } else { 'u' },
        u32::from(size.unsigned_abs()) * 8
    );
    let at = At {
        pc: probe.0,
        entry: false,
        ret: false,
        globals: Globals::File { probe },
    };
    let body = match op {
        Operand::Reg(r) => format!("%{r}"),
        Operand::Mem { off, base } => format!("{off:+}(%{base})"),
        Operand::Imm(n) => format!("\\{n}"),
        Operand::Symbol { name, off } => {
            let a = symbol(name)?
                .checked_add_signed(*off)
                .ok_or("is at an address out of range")?;
            val(&Val::Static(a), &at, 64)?
        }
    };
    Ok(format!("{body}:{ty}"))
}

/// Every variable at `at` with its type and how it is read there (perf
/// probe `-V`): the innermost scope's first, a name an inner scope hides
/// left out; the unit's globals too with `externs`.
pub(crate) fn list_variables(
    q: Option<&mut dyn Types>,
    at: &At,
    externs: bool,
    bits: u32,
) -> Vec<crate::location::Variable> {
    use crate::location::{Variable, VariableKind};
    let Some(q) = q else { return Vec::new() };
    let Ok(frame) = q.frame(at.pc, at.entry) else {
        return Vec::new();
    };
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for v in frame.vars {
        if (v.global && !externs) || !seen.insert(v.name.clone()) {
            continue;
        }
        let read = if at.ret {
            Err("at a return probe the function's variables are gone".to_string())
        } else {
            v.place
                .clone()
                .and_then(|p| render(q, &p, v.ty, None, &None, at, bits))
        };
        let (fetch, unavailable) = match read {
            Ok(f) => (Some(f), None),
            Err(e) => (None, Some(e)),
        };
        out.push(Variable {
            type_name: q.type_name(v.ty),
            name: v.name,
            kind: if v.global {
                VariableKind::Global
            } else if v.param {
                VariableKind::Parameter
            } else {
                VariableKind::Local
            },
            fetch,
            unavailable,
        });
    }
    out
}
