//! BTF, the kernel's own compact type information (`/sys/kernel/btf/vmlinux`,
//! one split file per module beside it, or a `.BTF` section): the prototypes
//! of kernel functions and the types they use, for fetch arguments where no
//! DWARF is at hand. The format is parsed by `btfparse`; this module adds
//! what probeaddr needs on top: functions by name, the x86-64 calling
//! convention that puts each parameter in a register or stack slot at the
//! entry, and the [`Types`] view fetch arguments are computed through.
//!
//! BTF has no addresses and no locations: it can only say where parameters
//! are when a function is entered, before its code moves them. That is
//! exactly where the kernel's own BTF arguments (`f:` and `p:` probes at an
//! entry, Linux 6.6+) read them too.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use btfparse::{Offset, TypeInformation, TypeVariant};

use super::vars::{Frame, Member, Place, Type, Types, Val, Var};
use crate::error::{Error, ErrorKind, Result};

/// `0xeb9f`, little-endian, as every x86-64 and arm64 kernel writes it.
const MAGIC: [u8; 2] = [0x9f, 0xeb];
/// The header's length in every BTF version so far.
const HEADER_LEN: usize = 24;

/// One BTF type table: the kernel's, or a module's merged onto it.
pub struct Btf {
    info: TypeInformation,
    origin: PathBuf,
    /// FUNC entries by name (several: statics of one name in different
    /// files whose prototypes differ).
    funcs: HashMap<String, Vec<u32>>,
    /// The raw bytes, kept for modules' split files to extend.
    raw: Vec<u8>,
}

impl std::fmt::Debug for Btf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Btf")
            .field("origin", &self.origin)
            .field("types", &self.info.get().len())
            .finish()
    }
}

/// The BTF bytes in `path`: the file itself, or its `.BTF` section when it
/// is an ELF file (a vmlinux, a `.ko`).
pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let bad = |what: String| Error::new(ErrorKind::BadInput, what).with_path(path);
    // sysfs files cannot be mapped and report a size of their own: read.
    let data = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if data.starts_with(b"\x7fELF") {
        let elf = super::elf::ElfObject::from_bytes(path, super::Bytes::Owned(data))?;
        let s = elf
            .sections()
            .iter()
            .find(|s| s.name == ".BTF")
            .ok_or_else(|| bad("this ELF file has no .BTF section (the kernel was built without CONFIG_DEBUG_INFO_BTF, or the section was stripped)".into()))?;
        let range = usize::try_from(s.offset)
            .ok()
            .and_then(|o| Some(o..o.checked_add(usize::try_from(s.size).ok()?)?))
            .filter(|r| r.end <= elf.data().len())
            .ok_or_else(|| bad("its .BTF section lies outside the file".into()))?;
        return Ok(elf.data()[range].to_vec());
    }
    Ok(data)
}

/// A split file's header fields: `(type_off, type_len, str_off, str_len)`,
/// each from the end of the header.
fn header(data: &[u8]) -> Option<(usize, usize, usize, usize, usize)> {
    if data.get(..2)? != MAGIC {
        return None;
    }
    let word = |at: usize| -> Option<usize> {
        Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?) as usize)
    };
    let hdr_len = word(4)?;
    let (type_off, type_len, str_off, str_len) = (word(8)?, word(12)?, word(16)?, word(20)?);
    let end = |off: usize, len: usize| hdr_len.checked_add(off)?.checked_add(len);
    if hdr_len < HEADER_LEN
        || end(type_off, type_len)? > data.len()
        || end(str_off, str_len)? > data.len()
    {
        return None;
    }
    Some((hdr_len, type_off, type_len, str_off, str_len))
}

impl Btf {
    /// Parse BTF bytes; `origin` names them in errors.
    pub fn parse(raw: Vec<u8>, origin: &Path) -> Result<Btf> {
        if header(&raw).is_none() {
            return Err(Error::new(
                ErrorKind::BadInput,
                "not BTF: no 0xeb9f header with sections inside the file (give /sys/kernel/btf/vmlinux, a saved copy of it, or a vmlinux with .BTF)",
            )
            .with_path(origin));
        }
        let info = TypeInformation::new(&Buffer(&raw)).map_err(|e| {
            Error::new(ErrorKind::BadInput, format!("unreadable BTF: {e:?}")).with_path(origin)
        })?;
        let mut funcs: HashMap<String, Vec<u32>> = HashMap::new();
        for (&id, t) in info.get() {
            if let TypeVariant::Func(f) = t {
                if let Some(n) = f.name() {
                    funcs.entry(n.clone()).or_default().push(id);
                }
            }
        }
        Ok(Btf {
            info,
            origin: origin.to_path_buf(),
            funcs,
            raw,
        })
    }

    /// A module's split BTF (`/sys/kernel/btf/MODULE`, a `.ko`'s `.BTF`)
    /// on this base. Its type ids continue the base's and its string
    /// offsets start where the base's strings end, so the base's types
    /// followed by its types, and the base's strings followed by its
    /// strings, are one ordinary table.
    pub fn split(&self, split: &[u8], origin: &Path) -> Result<Btf> {
        let bad = |what: &str| Error::new(ErrorKind::BadInput, what.to_string()).with_path(origin);
        let (bh, bto, btl, bso, bsl) =
            header(&self.raw).ok_or_else(|| bad("its base BTF has no header"))?;
        let (sh, sto, stl, sso, ssl) = header(split)
            .ok_or_else(|| bad("not BTF: no 0xeb9f header with sections inside the file"))?;
        let types_len = btl + stl;
        let strs_len = bsl + ssl;
        let mut merged = Vec::with_capacity(HEADER_LEN + types_len + strs_len);
        merged.extend_from_slice(&self.raw[..8]);
        merged[4..8].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        for v in [0, types_len, types_len, strs_len] {
            let v = u32::try_from(v).map_err(|_| bad("the merged BTF is over 4 GiB"))?;
            merged.extend_from_slice(&v.to_le_bytes());
        }
        merged.extend_from_slice(&self.raw[bh + bto..bh + bto + btl]);
        merged.extend_from_slice(&split[sh + sto..sh + sto + stl]);
        merged.extend_from_slice(&self.raw[bh + bso..bh + bso + bsl]);
        merged.extend_from_slice(&split[sh + sso..sh + sso + ssl]);
        let mut b = Btf::parse(merged, origin)?;
        // Only the module's own functions: a name the module does not
        // define is not looked up in the kernel's.
        let base_count = self.info.get().len() as u32;
        b.funcs.retain(|_, ids| {
            ids.retain(|&id| id > base_count);
            !ids.is_empty()
        });
        Ok(b)
    }

    /// The file it was read from.
    pub fn origin(&self) -> &Path {
        &self.origin
    }

    /// The prototype (`FUNC_PROTO` id) of function `name`, when BTF has
    /// one, or why not.
    pub fn prototype(&self, name: &str) -> std::result::Result<u32, String> {
        let ids = self.funcs.get(name).map(Vec::as_slice).unwrap_or_default();
        let mut protos: Vec<u32> = Vec::new();
        for &id in ids {
            if let Some(TypeVariant::Func(f)) = self.info.get().get(&id) {
                let p = *f.prototype_tid();
                if !protos.iter().any(|&q| self.same_prototype(p, q)) {
                    protos.push(p);
                }
            }
        }
        match protos.as_slice() {
            [p] => Ok(*p),
            [] => Err(format!(
                "{} has no prototype for '{name}' (pahole leaves out functions whose compiled code does not take the arguments their prototype says)",
                self.origin.display()
            )),
            more => Err(format!(
                "{} has {} different prototypes named '{name}' and does not say which copy has which; give a vmlinux with DWARF (-k VMLINUX)",
                self.origin.display(),
                more.len()
            )),
        }
    }

    fn same_prototype(&self, a: u32, b: u32) -> bool {
        // Return type, and each parameter's name and type, as C names them.
        type Signature = (String, Vec<(Option<String>, String)>);
        let sig = |p: u32| -> Option<Signature> {
            match self.info.get().get(&p)? {
                TypeVariant::FuncProto(fp) => Some((
                    self.name_of(ty(*fp.return_tid())),
                    fp.parameter_list()
                        .iter()
                        .map(|x| (x.name(), self.name_of(ty(x.tid()))))
                        .collect(),
                )),
                _ => None,
            }
        };
        sig(a) == sig(b)
    }

    /// The variables at the entry of function `name`: its parameters,
    /// each where the x86-64 calling convention puts it.
    pub fn entry_frame(&self, name: &str) -> std::result::Result<Frame, String> {
        let proto = self.prototype(name)?;
        let Some(TypeVariant::FuncProto(fp)) = self.info.get().get(&proto) else {
            return Err(format!(
                "{}: FUNC '{name}' has no prototype",
                self.origin.display()
            ));
        };
        let mut vars = Vec::new();
        let mut regs = ArgRegs::default();
        for (i, p) in fp.parameter_list().iter().enumerate() {
            // `...`: an unnamed void parameter, last.
            if p.tid() == 0 {
                break;
            }
            let name = p.name().unwrap_or_else(|| format!("arg{}", i + 1));
            let place = regs.next(self.class(ty(p.tid())));
            vars.push(Var {
                name,
                ty: ty(p.tid()),
                place,
                param: true,
                global: false,
            });
        }
        Ok(Frame {
            ret: ty(*fp.return_tid()),
            vars,
        })
    }

    /// How the calling convention passes a value of type `t`.
    fn class(&self, t: Option<usize>) -> Class {
        match self.resolve_ref(t) {
            Type::Int { size, .. } | Type::Enum { size, .. } if size <= 8 => Class::Integer(1),
            Type::Int { size: 16, .. } => Class::Integer(2),
            Type::Pointer { .. } => Class::Integer(1),
            Type::Float { .. } => Class::Sse,
            Type::Record { die, kind } => {
                let size = self.size(Some(die)).unwrap_or(0);
                if size > 16 {
                    Class::Memory(size)
                } else if size == 0 {
                    Class::Unknown(format!("an empty {kind} passed by value"))
                } else if self.integers_only(die, 0) {
                    Class::Integer(size.div_ceil(8) as usize)
                } else {
                    Class::Unknown(format!(
                        "a {kind} with floating-point members passed by value, which the calling convention splits between register classes"
                    ))
                }
            }
            other => Class::Unknown(format!("{} passed by value", super::vars::describe(&other))),
        }
    }

    /// A record (and what it nests) holds no floating-point value.
    fn integers_only(&self, record: usize, depth: usize) -> bool {
        let members = match self.info.get().get(&(record as u32)) {
            Some(TypeVariant::Struct(s)) => s.member_list(),
            Some(TypeVariant::Union(u)) => u.member_list(),
            _ => return false,
        };
        members.iter().all(|m| {
            let mut t = self.resolve_ref(ty(m.tid()));
            while let Type::Array { elem, .. } = t {
                t = self.resolve_ref(Some(elem));
            }
            match t {
                Type::Int { .. } | Type::Enum { .. } | Type::Pointer { .. } => true,
                Type::Record { die, .. } => depth < 8 && self.integers_only(die, depth + 1),
                _ => false,
            }
        })
    }

    fn name_of(&self, t: Option<usize>) -> String {
        let mut suffix = String::new();
        let mut cur = t;
        for _ in 0..32 {
            let named = |kw: &str, n: &Option<String>| {
                format!(
                    "{kw}{}{}{suffix}",
                    n.as_deref().unwrap_or("(anonymous)"),
                    if suffix.is_empty() { "" } else { " " }
                )
            };
            // Qualifiers are not named, as for DWARF (`char *` for
            // `const char *`).
            let Ok(found) = self.peel(cur, false) else {
                return "?".into();
            };
            match found.map(|(_, v)| v) {
                None => return named("", &Some("void".into())),
                Some(TypeVariant::Ptr(p)) => {
                    suffix.insert(0, '*');
                    cur = ty(*p.tid());
                }
                Some(TypeVariant::Array(a)) => {
                    suffix.push_str(&format!("[{}]", a.element_count()));
                    cur = ty(*a.element_tid());
                }
                Some(TypeVariant::Typedef(x)) => return named("", x.name()),
                Some(TypeVariant::Int(x)) => return named("", x.name()),
                Some(TypeVariant::Float(x)) => return named("", x.name()),
                Some(TypeVariant::Struct(x)) => return named("struct ", x.name()),
                Some(TypeVariant::Union(x)) => return named("union ", x.name()),
                Some(TypeVariant::Enum(x)) => return named("enum ", x.name()),
                Some(TypeVariant::Enum64(x)) => return named("enum ", x.name()),
                Some(TypeVariant::Fwd(x)) => return named("struct ", x.name()),
                Some(TypeVariant::FuncProto(_)) => return named("", &Some("function".into())),
                _ => return "?".into(),
            }
        }
        "?".into()
    }

    /// The type `t` names after qualifiers (and typedefs, with
    /// `typedefs`): its id and entry; `Ok(None)` is `void`.
    fn peel(
        &self,
        t: Option<usize>,
        typedefs: bool,
    ) -> std::result::Result<Option<(usize, &TypeVariant)>, String> {
        let mut cur = t;
        for _ in 0..32 {
            let Some(id) = cur else { return Ok(None) };
            let v = self
                .info
                .get()
                .get(&(id as u32))
                .ok_or_else(|| format!("BTF type {id}, which the table does not have"))?;
            cur = match v {
                TypeVariant::Const(x) => ty(*x.tid()),
                TypeVariant::Volatile(x) => ty(*x.tid()),
                TypeVariant::Restrict(x) => ty(*x.tid()),
                TypeVariant::TypeTag(x) => ty(*x.tid()),
                TypeVariant::Typedef(x) if typedefs => ty(*x.tid()),
                _ => return Ok(Some((id, v))),
            };
        }
        Err("a typedef loop".into())
    }

    fn resolve_ref(&self, t: Option<usize>) -> Type {
        let (id, v) = match self.peel(t, true) {
            Ok(Some(x)) => x,
            Ok(None) => return Type::Other("void".into()),
            Err(why) => return Type::Other(why),
        };
        match v {
            TypeVariant::Int(i) => Type::Int {
                size: *i.size() as u64,
                signed: *i.signed(),
                char: *i.char(),
            },
            TypeVariant::Enum(e) => Type::Enum {
                size: *e.size() as u64,
                signed: *e.signed(),
            },
            TypeVariant::Enum64(e) => Type::Enum {
                size: *e.size() as u64,
                signed: *e.signed(),
            },
            TypeVariant::Float(f) => Type::Float {
                size: *f.size() as u64,
            },
            TypeVariant::Ptr(p) => Type::Pointer {
                target: ty(*p.tid()),
            },
            TypeVariant::Struct(_) => Type::Record {
                die: id,
                kind: "struct",
            },
            TypeVariant::Union(_) => Type::Record {
                die: id,
                kind: "union",
            },
            TypeVariant::Array(a) => Type::Array {
                elem: *a.element_tid() as usize,
                count: Some(u64::from(*a.element_count())),
            },
            TypeVariant::Fwd(f) => Type::Other(format!(
                "struct {}, which this BTF only declares",
                f.name().as_deref().unwrap_or("?")
            )),
            TypeVariant::FuncProto(_) => Type::Other("a function".into()),
            _ => Type::Other("not a type".into()),
        }
    }

    fn size(&self, t: Option<usize>) -> Option<u64> {
        Some(match self.peel(t, true).ok()??.1 {
            TypeVariant::Int(i) => *i.size() as u64,
            TypeVariant::Enum(e) => *e.size() as u64,
            TypeVariant::Enum64(e) => *e.size() as u64,
            TypeVariant::Float(f) => *f.size() as u64,
            TypeVariant::Ptr(_) => 8,
            TypeVariant::Struct(s) => *s.size() as u64,
            TypeVariant::Union(u) => *u.size() as u64,
            TypeVariant::Array(a) => {
                u64::from(*a.element_count()).checked_mul(self.size(ty(*a.element_tid()))?)?
            }
            _ => return None,
        })
    }

    fn find_member(&self, record: usize, name: &str, depth: usize) -> Option<Member> {
        let members = match self.info.get().get(&(record as u32))? {
            TypeVariant::Struct(s) => s.member_list(),
            TypeVariant::Union(u) => u.member_list(),
            _ => return None,
        };
        for m in members {
            let mty = ty(m.tid());
            match (m.name(), m.offset()) {
                (Some(n), Offset::ByteOffset(b)) if n == name => {
                    // Old encoders put a bitfield's width in its INT type.
                    if let Some(TypeVariant::Int(i)) = self.int_of(mty) {
                        if *i.bits() < *i.size() * 8 {
                            let total = u64::from(b) * 8 + *i.offset() as u64;
                            return Member::bitfield(
                                total,
                                *i.bits() as u64,
                                *i.size() as u64,
                                mty,
                            );
                        }
                    }
                    return Some(Member {
                        offset: u64::from(b),
                        ty: mty,
                        bits: None,
                    });
                }
                (Some(n), Offset::BitOffsetAndSize(total, width)) if n == name => {
                    let csize = self.size(mty).filter(|&s| s > 0)?;
                    return Member::bitfield(u64::from(total), u64::from(width), csize, mty);
                }
                (None, Offset::ByteOffset(b)) if depth < 8 => {
                    if let Type::Record { die, .. } = self.resolve_ref(mty) {
                        if let Some(mut found) = self.find_member(die, name, depth + 1) {
                            found.offset += u64::from(b);
                            return Some(found);
                        }
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// The INT a typedef chain ends in.
    fn int_of(&self, t: Option<usize>) -> Option<&TypeVariant> {
        self.peel(t, true)
            .ok()
            .flatten()
            .map(|(_, v)| v)
            .filter(|v| matches!(v, TypeVariant::Int(_)))
    }
}

/// A BTF type id as the [`Types`] offset (`0` is `void`).
fn ty(id: u32) -> Option<usize> {
    (id != 0).then_some(id as usize)
}

/// How the x86-64 calling convention passes one argument (System V ABI,
/// 3.2.3; the kernel is built without SSE, so `Sse` never occurs there).
enum Class {
    /// In this many general registers (or, when that many are not left,
    /// wholly on the stack).
    Integer(usize),
    /// In a vector register.
    Sse,
    /// Copied onto the stack: a record over 16 bytes.
    Memory(u64),
    /// What probeaddr does not place.
    Unknown(String),
}

/// The general registers and stack slots the arguments take, in order.
#[derive(Default)]
struct ArgRegs {
    used: usize,
    /// Bytes of stack arguments so far, above the return address.
    stack: u64,
    /// Why the places after an unknown argument are unknown.
    lost: Option<String>,
}

/// `%rdi %rsi %rdx %rcx %r8 %r9` by DWARF number.
const ARG_REGS: [u16; 6] = [5, 4, 1, 2, 8, 9];
/// `%rsp` by DWARF number.
const SP: u16 = 7;

impl ArgRegs {
    fn next(&mut self, class: Class) -> std::result::Result<Place, String> {
        if let Some(why) = &self.lost {
            return Err(format!(
                "an earlier parameter is {why}, so where this one is passed is not known"
            ));
        }
        let on_stack = |stack: &mut u64, size: u64| -> Place {
            let at = *stack;
            *stack += size.div_ceil(8) * 8;
            // The return address is at 0(%sp) on entry.
            Place::Based(Val::Reg(SP), 8 + at as i64)
        };
        match class {
            Class::Integer(n) if self.used + n <= ARG_REGS.len() => {
                let first = ARG_REGS[self.used];
                self.used += n;
                if n == 1 {
                    Ok(Place::Value(Val::Reg(first)))
                } else {
                    Err(format!(
                        "passed in {n} registers (from %{}), which one fetch argument cannot read",
                        super::vars::register_name(64, first).unwrap_or("?")
                    ))
                }
            }
            Class::Integer(n) => {
                let p = on_stack(&mut self.stack, 8 * n as u64);
                if n == 1 {
                    Ok(p)
                } else {
                    Err(format!("passed on the stack in {n} slots, which one fetch argument cannot read as a value"))
                }
            }
            Class::Memory(size) => Ok(on_stack(&mut self.stack, size)),
            Class::Sse => Err("a floating-point value, passed in a vector register that fetch arguments cannot name".into()),
            Class::Unknown(why) => {
                self.lost = Some(why.clone());
                Err(format!("{why}, which probeaddr does not place"))
            }
        }
    }
}

/// A kernel function's prototype in BTF as the scope of its entry.
pub struct EntryScope<'a> {
    btf: &'a Btf,
    function: &'a str,
    variant: Option<&'a str>,
}

impl<'a> EntryScope<'a> {
    /// The entry of `function`; `variant` is the symbol's clone suffix
    /// (`.isra.0`, `.constprop.0`), if any.
    pub fn new(btf: &'a Btf, function: &'a str, variant: Option<&'a str>) -> EntryScope<'a> {
        EntryScope {
            btf,
            function,
            variant,
        }
    }
}

impl Types for EntryScope<'_> {
    fn resolve(&mut self, ty: Option<usize>) -> Type {
        self.btf.resolve_ref(ty)
    }
    fn size_of(&mut self, ty: Option<usize>) -> Option<u64> {
        self.btf.size(ty)
    }
    fn member(&mut self, record: usize, name: &str) -> Option<Member> {
        self.btf.find_member(record, name, 0)
    }
    fn type_name(&mut self, ty: Option<usize>) -> String {
        self.btf.name_of(ty)
    }
    fn pointer_size(&self) -> u64 {
        8
    }
    fn frame(&mut self, _pc: u64, entry: bool) -> std::result::Result<Frame, String> {
        if let Some(v) = self.variant {
            // GCC's clones drop, reorder or specialise parameters
            // (interprocedural SRA, constant propagation): the prototype
            // is the original function's, not theirs.
            return Err(format!(
                "{}{v} is a copy GCC made with its own calling convention, so BTF's prototype of {} does not say where its parameters are; give a vmlinux with DWARF (-k VMLINUX)",
                self.function, self.function
            ));
        }
        let mut f = self.btf.entry_frame(self.function)?;
        if !entry {
            for v in &mut f.vars {
                v.place = Err(format!(
                    "BTF knows where '{}''s parameters are only at its entry; past it, a vmlinux with DWARF (-k VMLINUX) says where they moved",
                    self.function
                ));
            }
        }
        Ok(f)
    }
}

/// `btfparse` reads through this.
struct Buffer<'a>(&'a [u8]);

impl btfparse::Readable for Buffer<'_> {
    fn read(&self, offset: u64, buffer: &mut [u8]) -> btfparse::Result<()> {
        let from = usize::try_from(offset).ok();
        let src = from
            .and_then(|f| self.0.get(f..f.checked_add(buffer.len())?))
            .ok_or_else(|| {
                btfparse::Error::new(
                    btfparse::ErrorKind::IOError,
                    &format!(
                        "a read of {} bytes at {offset} is past the end",
                        buffer.len()
                    ),
                )
            })?;
        buffer.copy_from_slice(src);
        Ok(())
    }
}
