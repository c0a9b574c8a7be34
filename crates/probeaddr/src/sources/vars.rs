//! Variables at an address: which are in scope, their types, and where each
//! value lives there, from DWARF (`DW_AT_location` expressions and location
//! lists, the frame base through the call frame information).
//!
//! What is computed is symbolic — "memory at 8 bytes past the value of
//! register 4" — because the kernel fetches it when the probe fires: a
//! [`Place`] becomes a fetch argument (`+8(%si)`), never a number here.

use std::collections::HashMap;

use gimli::{AttributeValue, Operation, UnwindSection};

use super::dwarf::{entry_and_ranges, CompUnits, Slice, Unit};

/// A value the kernel can fetch when the probe fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val {
    /// A register, by DWARF number.
    Reg(u16),
    /// A constant.
    Imm(i64),
    /// Memory at `base + off` (`+off(base)`).
    Mem {
        /// Byte offset.
        off: i64,
        /// The fetched address.
        base: Box<Val>,
    },
    /// Memory at a link-time address (a global or static).
    Static(u64),
}

/// Where a variable (or a part of it) is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// Its value is what this fetches (a register, a constant).
    Value(Val),
    /// It is in memory at `value of base + off`.
    Based(Val, i64),
    /// It is in memory at this link-time address.
    Static(u64),
}

impl Place {
    /// The fetch that reads the value stored at this place.
    pub fn value(&self) -> Val {
        match self {
            Place::Value(v) => v.clone(),
            Place::Based(v, off) => Val::Mem {
                off: *off,
                base: Box::new(v.clone()),
            },
            Place::Static(a) => Val::Static(*a),
        }
    }

    /// The place `k` bytes further on, if this is memory.
    fn plus(&self, k: i64) -> Option<Place> {
        match self {
            Place::Value(_) => None,
            Place::Based(v, off) => Some(Place::Based(v.clone(), off.checked_add(k)?)),
            Place::Static(a) => Some(Place::Static(a.checked_add_signed(k)?)),
        }
    }
}

/// What a type is, after typedefs and qualifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    /// An integer, character or boolean of `size` bytes.
    Int {
        /// Bytes.
        size: u64,
        /// Signed.
        signed: bool,
        /// A character type (`char`, `unsigned char`).
        char: bool,
    },
    /// A floating-point number.
    Float {
        /// Bytes.
        size: u64,
    },
    /// A pointer to `target` (`None`: `void *`).
    Pointer {
        /// The pointed-to type's DIE (global `.debug_info` offset).
        target: Option<usize>,
    },
    /// A struct, union or class.
    Record {
        /// Its DIE.
        die: usize,
        /// `struct`, `union` or `class`.
        kind: &'static str,
    },
    /// An array of `elem`.
    Array {
        /// The element type's DIE.
        elem: usize,
        /// The first dimension's element count, if known.
        count: Option<u64>,
    },
    /// An enumeration of `size` bytes.
    Enum {
        /// Bytes.
        size: u64,
        /// Signed underlying type.
        signed: bool,
    },
    /// `void`, a function type, or what probeaddr does not model.
    Other(String),
}

/// A variable visible at an address.
#[derive(Debug, Clone)]
pub struct Var {
    /// Its name.
    pub name: String,
    /// Its type's DIE (global offset), if it has one.
    pub ty: Option<usize>,
    /// Where it is at the address, or why it cannot be read there.
    pub place: Result<Place, String>,
    /// A formal parameter.
    pub param: bool,
    /// A global or file-level static (declared at the unit's top).
    pub global: bool,
}

/// The variables at one address, innermost scope first.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Its return type (`None`: `void` or unknown).
    pub ret: Option<usize>,
    /// Variables of its scopes (innermost first), then the unit's globals.
    pub vars: Vec<Var>,
}

impl Frame {
    /// The variable `name` as the source would see it at the address.
    pub fn find(&self, name: &str) -> Option<&Var> {
        self.vars.iter().find(|v| v.name == name)
    }
}

/// A member of a record.
#[derive(Debug, Clone)]
pub struct Member {
    /// Byte offset from the record's start (of the container, for a bitfield).
    pub offset: u64,
    /// Its type's DIE.
    pub ty: Option<usize>,
    /// A bitfield: `(width, bit offset in container, container bits)`.
    pub bits: Option<(u64, u64, u64)>,
}

impl Member {
    /// A bitfield `width` bits wide starting `total` bits into its record,
    /// read through a container of `csize` bytes (its declared type's
    /// size): the container's byte offset and the shift within it.
    pub fn bitfield(total: u64, width: u64, csize: u64, ty: Option<usize>) -> Option<Member> {
        let cbits = csize.checked_mul(8).filter(|&b| b > 0)?;
        let first = total / cbits * csize;
        let shift = total - first * 8;
        if shift + width > cbits {
            return None;
        }
        Some(Member {
            offset: first,
            ty,
            bits: Some((width, shift, cbits)),
        })
    }
}

/// What fetch arguments are computed from: an object's DWARF, or a
/// kernel function's prototype in BTF. Types are named by an offset the
/// source chooses (a DIE's, a BTF type id); `None` is `void`.
pub trait Types {
    /// What the type `ty` is, through typedefs and qualifiers.
    fn resolve(&mut self, ty: Option<usize>) -> Type;
    /// Its size in bytes.
    fn size_of(&mut self, ty: Option<usize>) -> Option<u64>;
    /// The member `name` of the record `record`, looking into anonymous
    /// structs and unions as C does.
    fn member(&mut self, record: usize, name: &str) -> Option<Member>;
    /// Its name as C writes it, for listings.
    fn type_name(&mut self, ty: Option<usize>) -> String;
    /// Pointer size in bytes.
    fn pointer_size(&self) -> u64;
    /// The variables in scope at `pc` (`entry`: the entry of an
    /// out-of-line copy), or why there are none.
    fn frame(&mut self, pc: u64, entry: bool) -> Result<Frame, String>;
}

impl Types for Query<'_> {
    fn resolve(&mut self, ty: Option<usize>) -> Type {
        Query::resolve(self, ty)
    }
    fn size_of(&mut self, ty: Option<usize>) -> Option<u64> {
        Query::size_of(self, ty)
    }
    fn member(&mut self, record: usize, name: &str) -> Option<Member> {
        Query::member(self, record, name)
    }
    fn type_name(&mut self, ty: Option<usize>) -> String {
        Query::type_name(self, ty)
    }
    fn pointer_size(&self) -> u64 {
        Query::pointer_size(self)
    }
    fn frame(&mut self, pc: u64, entry: bool) -> Result<Frame, String> {
        Query::frame(self, pc, entry)
            .ok_or_else(|| format!("DWARF has no function holding {pc:#x}"))
    }
}

const MAX_CHAIN: usize = 8;

/// DWARF register numbers to the kernel's `pt_regs` names.
pub fn register_name(bits: u32, reg: u16) -> Option<&'static str> {
    const X86_64: [&str; 17] = [
        "ax", "dx", "cx", "bx", "si", "di", "bp", "sp", "r8", "r9", "r10", "r11", "r12", "r13",
        "r14", "r15", "ip",
    ];
    const I386: [&str; 9] = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di", "ip"];
    if bits == 64 {
        X86_64.get(reg as usize).copied()
    } else {
        I386.get(reg as usize).copied()
    }
}

/// A reader of types and variables over one object's DWARF.
pub struct Query<'a> {
    cu: &'a CompUnits,
    dwarf: gimli::Dwarf<Slice<'a>>,
    units: HashMap<usize, Unit<'a>>,
}

impl<'a> Query<'a> {
    /// A query over `cu`.
    pub fn new(cu: &'a CompUnits) -> Query<'a> {
        Query {
            cu,
            dwarf: cu.dwarf(),
            units: HashMap::new(),
        }
    }

    /// Pointer size in bytes.
    pub fn pointer_size(&self) -> u64 {
        u64::from(self.cu.bits / 8)
    }

    /// The start of the unit holding global offset `at`. Nearly every
    /// reference stays in a unit already open (a function's variables and
    /// types are its unit's), and the next most likely is a unit with code,
    /// whose starts the address map already has. Only a reference into a
    /// unit without code (a dwz partial unit) walks every unit header: a
    /// page of `.debug_info` per unit, which from a cold page cache is
    /// most of the file.
    fn unit_start(&self, at: usize) -> Option<usize> {
        let holds = |start: usize, len: usize| start <= at && at < start + len;
        if let Some((&s, _)) = self
            .units
            .iter()
            .find(|(&s, u)| holds(s, u.header.length_including_self()))
        {
            return Some(s);
        }
        let before = |starts: &[usize]| {
            starts
                .get(starts.partition_point(|&s| s <= at).checked_sub(1)?)
                .copied()
        };
        if let Some(s) = before(self.cu.code_unit_starts()) {
            let h = self
                .dwarf
                .debug_info
                .header_from_offset(gimli::DebugInfoOffset(s))
                .ok()?;
            if holds(s, h.length_including_self()) {
                return Some(s);
            }
        }
        before(self.cu.unit_starts(&self.dwarf))
    }

    /// The unit holding global offset `at`, parsed once.
    fn unit_of(&mut self, at: usize) -> Option<usize> {
        let start = self.unit_start(at)?;
        if !self.units.contains_key(&start) {
            let h = self
                .dwarf
                .debug_info
                .header_from_offset(gimli::DebugInfoOffset(start))
                .ok()?;
            self.cu.opened_unit(start, h.length_including_self());
            let u = gimli::Unit::new(&self.dwarf, h).ok()?;
            self.units.insert(start, u);
        }
        Some(start)
    }

    /// Run `f` on the DIE at global offset `at`.
    fn with_die<T>(
        &mut self,
        at: usize,
        f: impl FnOnce(
            &gimli::Dwarf<Slice<'a>>,
            &Unit<'a>,
            &gimli::DebuggingInformationEntry<'_, '_, Slice<'a>>,
        ) -> T,
    ) -> Option<T> {
        let start = self.unit_of(at)?;
        let unit = self.units.get(&start)?;
        let die = unit.entry(gimli::UnitOffset(at - start)).ok()?;
        Some(f(&self.dwarf, unit, &die))
    }

    /// A reference attribute as a global offset.
    fn global_ref(unit: &Unit<'_>, v: AttributeValue<Slice<'_>>) -> Option<usize> {
        match v {
            AttributeValue::UnitRef(o) => o.to_debug_info_offset(&unit.header).map(|d| d.0),
            AttributeValue::DebugInfoRef(d) => Some(d.0),
            _ => None,
        }
    }

    /// An attribute of the DIE at `at`, following `DW_AT_abstract_origin`
    /// and `DW_AT_specification` when it has none of its own; with the
    /// global offset of the DIE that had it.
    fn attr(&mut self, at: usize, name: gimli::DwAt) -> Option<(usize, AttrVal)> {
        let mut cur = at;
        for _ in 0..MAX_CHAIN {
            let (found, next) = self.with_die(cur, |d, unit, die| {
                let own = match die.attr_value(name) {
                    Ok(Some(v)) => AttrVal::of(d, unit, v),
                    _ => None,
                };
                let next = [gimli::DW_AT_abstract_origin, gimli::DW_AT_specification]
                    .into_iter()
                    .find_map(|a| match die.attr_value(a) {
                        Ok(Some(v)) => Self::global_ref(unit, v),
                        _ => None,
                    });
                (own, next)
            })?;
            if let Some(v) = found {
                return Some((cur, v));
            }
            cur = next?;
        }
        None
    }

    fn name(&mut self, at: usize) -> Option<String> {
        match self.attr(at, gimli::DW_AT_name)? {
            (_, AttrVal::Str(s)) => Some(s),
            _ => None,
        }
    }

    fn type_of(&mut self, at: usize) -> Option<usize> {
        match self.attr(at, gimli::DW_AT_type)? {
            (_, AttrVal::Ref(r)) => Some(r),
            _ => None,
        }
    }

    fn udata(&mut self, at: usize, name: gimli::DwAt) -> Option<u64> {
        self.with_die(at, |_, _, die| die.attr_value(name).ok().flatten())??
            .udata_value()
    }

    /// What the type at `ty` is, through typedefs and qualifiers.
    pub fn resolve(&mut self, ty: Option<usize>) -> Type {
        let mut cur = ty;
        for _ in 0..32 {
            let Some(at) = cur else {
                return Type::Other("void".into());
            };
            let Some(tag) = self.with_die(at, |_, _, die| die.tag()) else {
                return Type::Other("unreadable type".into());
            };
            match tag {
                gimli::DW_TAG_typedef
                | gimli::DW_TAG_const_type
                | gimli::DW_TAG_volatile_type
                | gimli::DW_TAG_restrict_type
                | gimli::DW_TAG_atomic_type => cur = self.type_of(at),
                gimli::DW_TAG_base_type => {
                    let size = self.udata(at, gimli::DW_AT_byte_size).unwrap_or(0);
                    let enc = self
                        .with_die(at, |_, _, die| {
                            match die.attr_value(gimli::DW_AT_encoding) {
                                Ok(Some(AttributeValue::Encoding(e))) => Some(e),
                                _ => None,
                            }
                        })
                        .flatten();
                    return match enc {
                        Some(gimli::DW_ATE_float) | Some(gimli::DW_ATE_complex_float) => {
                            Type::Float { size }
                        }
                        Some(gimli::DW_ATE_signed) => Type::Int {
                            size,
                            signed: true,
                            char: false,
                        },
                        Some(gimli::DW_ATE_signed_char) => Type::Int {
                            size,
                            signed: true,
                            char: true,
                        },
                        Some(gimli::DW_ATE_unsigned_char) | Some(gimli::DW_ATE_UTF) => Type::Int {
                            size,
                            signed: false,
                            char: true,
                        },
                        _ => Type::Int {
                            size,
                            signed: false,
                            char: false,
                        },
                    };
                }
                gimli::DW_TAG_pointer_type
                | gimli::DW_TAG_reference_type
                | gimli::DW_TAG_rvalue_reference_type => {
                    return Type::Pointer {
                        target: self.type_of(at),
                    }
                }
                gimli::DW_TAG_structure_type => {
                    return Type::Record {
                        die: self.definition(at),
                        kind: "struct",
                    }
                }
                gimli::DW_TAG_union_type => {
                    return Type::Record {
                        die: self.definition(at),
                        kind: "union",
                    }
                }
                gimli::DW_TAG_class_type => {
                    return Type::Record {
                        die: self.definition(at),
                        kind: "class",
                    }
                }
                gimli::DW_TAG_enumeration_type => {
                    let size = self.udata(at, gimli::DW_AT_byte_size).unwrap_or(4);
                    let signed = match self.type_of(at).map(|t| self.resolve(Some(t))) {
                        Some(Type::Int { signed, .. }) => signed,
                        _ => false,
                    };
                    return Type::Enum { size, signed };
                }
                gimli::DW_TAG_array_type => {
                    let Some(elem) = self.type_of(at) else {
                        return Type::Other("array of unknown type".into());
                    };
                    let count = self.array_count(at);
                    return Type::Array { elem, count };
                }
                t => return Type::Other(t.static_string().unwrap_or("unknown").into()),
            }
        }
        Type::Other("typedef loop".into())
    }

    /// A record's complete definition when `at` is a declaration
    /// (`struct file;` in one unit, its members in another): the first
    /// DIE of the same name that is not, in the same unit.
    fn definition(&mut self, at: usize) -> usize {
        let decl = self
            .with_die(at, |_, _, die| {
                matches!(
                    die.attr_value(gimli::DW_AT_declaration),
                    Ok(Some(AttributeValue::Flag(true)))
                )
            })
            .unwrap_or(false);
        if !decl {
            return at;
        }
        let Some(name) = self.name(at) else {
            return at;
        };
        let Some(start) = self.unit_of(at) else {
            return at;
        };
        let (dwarf, unit) = (&self.dwarf, &self.units[&start]);
        let tag = unit
            .entry(gimli::UnitOffset(at - start))
            .map(|d| d.tag())
            .ok();
        let mut cursor = unit.entries();
        while let Ok(Some((_, die))) = cursor.next_dfs() {
            if Some(die.tag()) != tag
                || matches!(
                    die.attr_value(gimli::DW_AT_declaration),
                    Ok(Some(AttributeValue::Flag(true)))
                )
            {
                continue;
            }
            if let Ok(Some(v)) = die.attr_value(gimli::DW_AT_name) {
                if dwarf
                    .attr_string(unit, v)
                    .is_ok_and(|s| s.slice() == name.as_bytes())
                {
                    return start + die.offset().0;
                }
            }
        }
        at
    }

    fn array_count(&mut self, at: usize) -> Option<u64> {
        let (sub, _) = self
            .children(at)
            .into_iter()
            .find(|&(_, t)| t == gimli::DW_TAG_subrange_type)?;
        match self.udata(sub, gimli::DW_AT_count) {
            Some(n) => Some(n),
            None => self.udata(sub, gimli::DW_AT_upper_bound).map(|u| u + 1),
        }
    }

    /// The size in bytes of the type at `ty`.
    pub fn size_of(&mut self, ty: Option<usize>) -> Option<u64> {
        let mut cur = ty;
        for _ in 0..32 {
            let at = cur?;
            if let Some(s) = self.udata(at, gimli::DW_AT_byte_size) {
                return Some(s);
            }
            match self.resolve(Some(at)) {
                Type::Pointer { .. } => return Some(self.pointer_size()),
                Type::Array { elem, count } => return Some(count? * self.size_of(Some(elem))?),
                Type::Record { die, .. } if die != at => {
                    return self.udata(die, gimli::DW_AT_byte_size)
                }
                _ => {}
            }
            cur = self.type_of(at);
        }
        None
    }

    /// The member `name` of the record at `die`, looking into anonymous
    /// structs and unions as C does.
    pub fn member(&mut self, die: usize, name: &str) -> Option<Member> {
        let members = self.children(die);
        for (m, _) in members
            .into_iter()
            .filter(|&(_, t)| t == gimli::DW_TAG_member)
        {
            let mname = self.name(m);
            let ty = self.type_of(m);
            let loc = self.member_offset(m);
            if mname.as_deref() == Some(name) {
                let bit_size = self.udata(m, gimli::DW_AT_bit_size);
                let Some(w) = bit_size else {
                    return Some(Member {
                        offset: loc.unwrap_or(0),
                        ty,
                        bits: None,
                    });
                };
                let csize = self
                    .udata(m, gimli::DW_AT_byte_size)
                    .or_else(|| self.size_of(ty))
                    .filter(|&s| s > 0)?;
                // DWARF 4+: bits from the record's start. DWARF 2/3: a
                // container offset and a bit offset counted from its most
                // significant bit.
                let total = match self.udata(m, gimli::DW_AT_data_bit_offset) {
                    Some(b) => b,
                    None => {
                        let bo = self.udata(m, gimli::DW_AT_bit_offset)?;
                        (loc.unwrap_or(0) * 8 + csize * 8).checked_sub(bo + w)?
                    }
                };
                return Member::bitfield(total, w, csize, ty);
            }
            if mname.is_none() {
                if let Type::Record { die: inner, .. } = self.resolve(ty) {
                    if let Some(mut found) = self.member(inner, name) {
                        found.offset += loc.unwrap_or(0);
                        return Some(found);
                    }
                }
            }
        }
        None
    }

    fn member_offset(&mut self, m: usize) -> Option<u64> {
        let v = self
            .with_die(m, |_, _, die| {
                die.attr_value(gimli::DW_AT_data_member_location)
                    .ok()
                    .flatten()
            })
            .flatten()?;
        if let Some(u) = v.udata_value() {
            return Some(u);
        }
        // DWARF 2: DW_OP_plus_uconst N.
        if let AttributeValue::Exprloc(e) = v {
            let enc = self.units.get(&self.unit_start(m)?)?.encoding();
            let mut ops = e.operations(enc);
            if let Ok(Some(Operation::PlusConstant { value })) = ops.next() {
                return Some(value);
            }
        }
        None
    }

    /// The scopes holding `pc` in the unit that has it, and their variables.
    /// `entry`: `pc` is the entry of an out-of-line copy, where registers
    /// still hold what the caller passed (`DW_OP_entry_value`).
    pub fn frame(&mut self, pc: u64, entry: bool) -> Option<Frame> {
        let off = self.cu.unit_offset_at(pc)?;
        if !self.units.contains_key(&off) {
            let unit = self.cu.unit_at_offset(&self.dwarf, off)?;
            self.units.insert(off, unit);
        }
        let unit = &self.units[&off];
        // (depth, holds pc, function DIE when a subprogram/inlined scope).
        let mut stack: Vec<(isize, bool, Option<usize>)> = Vec::new();
        let mut depth: isize = 0;
        // (scope level, DIE, param, global)
        let mut found: Vec<(usize, usize, bool, bool)> = Vec::new();
        let mut function = None;
        // (level of its variables, DIE) of each function scope holding pc.
        let mut holding: Vec<(usize, usize)> = Vec::new();
        let mut cursor = unit.entries();
        while let Ok(Some((delta, die))) = cursor.next_dfs() {
            depth += delta;
            while stack.last().is_some_and(|(d, _, _)| *d >= depth) {
                stack.pop();
            }
            let inside = stack.iter().all(|s| s.1);
            let tag = die.tag();
            match tag {
                gimli::DW_TAG_subprogram
                | gimli::DW_TAG_inlined_subroutine
                | gimli::DW_TAG_lexical_block => {
                    let holds = inside
                        && match entry_and_ranges(&self.dwarf, unit, die) {
                            // An inlined copy is entered at its entry even
                            // when its ranges are empty or start elsewhere.
                            Some((e, _)) if e == pc && tag != gimli::DW_TAG_lexical_block => true,
                            Some((_, r)) if !r.is_empty() => {
                                r.iter().any(|&(b, e)| b <= pc && pc < e)
                            }
                            // A block without ranges is transparent; a
                            // function without code holds nothing.
                            _ => tag == gimli::DW_TAG_lexical_block,
                        };
                    let f = (tag != gimli::DW_TAG_lexical_block).then(|| off + die.offset().0);
                    if holds {
                        if let Some(f) = f {
                            function = Some(f);
                            holding.push((stack.len() + 1, f));
                        }
                    }
                    stack.push((depth, holds, f));
                }
                gimli::DW_TAG_formal_parameter | gimli::DW_TAG_variable => {
                    let at = off + die.offset().0;
                    if stack.is_empty() && depth == 1 && tag == gimli::DW_TAG_variable {
                        found.push((0, at, false, true));
                    } else if inside
                        && !stack.is_empty()
                        && stack.last().is_some_and(|s| s.0 == depth - 1)
                    {
                        found.push((
                            stack.len(),
                            at,
                            tag == gimli::DW_TAG_formal_parameter,
                            false,
                        ));
                    }
                }
                _ => {}
            }
        }
        // Innermost scope first; the unit's globals last.
        found.sort_by_key(|&(level, at, _, _)| (std::cmp::Reverse(level), at));
        let fbase = function.and_then(|f| self.frame_base(f, pc, entry));
        let mut vars = Vec::new();
        for (level, at, param, global) in found {
            let Some(name) = self.name(at) else { continue };
            let ty = self.type_of(at);
            let place = self.place(at, pc, entry, fbase.as_ref());
            vars.push((
                level,
                Var {
                    name,
                    ty,
                    place,
                    param,
                    global,
                },
            ));
        }
        // A copy (inlined, or out of line with an abstract origin) may omit
        // a parameter or local the compiler dropped: the origin still names
        // it, and it is optimized out here, not unknown.
        for (level, f) in holding {
            let origin = self
                .with_die(f, |_, unit, die| {
                    match die.attr_value(gimli::DW_AT_abstract_origin) {
                        Ok(Some(v)) => Self::global_ref(unit, v),
                        _ => None,
                    }
                })
                .flatten();
            let Some(origin) = origin else { continue };
            for (child, tag) in self.children(origin) {
                if !matches!(tag, gimli::DW_TAG_formal_parameter | gimli::DW_TAG_variable) {
                    continue;
                }
                let param = tag == gimli::DW_TAG_formal_parameter;
                let Some(name) = self.name(child) else {
                    continue;
                };
                if vars.iter().any(|(l, v)| *l == level && v.name == name) {
                    continue;
                }
                let ty = self.type_of(child);
                vars.push((
                    level,
                    Var {
                        name,
                        ty,
                        place: Err(
                            "optimized out here (this copy of the function has no entry for it)"
                                .into(),
                        ),
                        param,
                        global: false,
                    },
                ));
            }
        }
        vars.sort_by_key(|(level, v)| (std::cmp::Reverse(*level), v.global));
        let vars: Vec<Var> = vars.into_iter().map(|(_, v)| v).collect();
        let ret = function.and_then(|f| self.type_of(f));
        Some(Frame { ret, vars })
    }

    /// The DIEs directly under the one at `at` (global offsets) with their tags.
    fn children(&mut self, at: usize) -> Vec<(usize, gimli::DwTag)> {
        let Some(start) = self.unit_of(at) else {
            return Vec::new();
        };
        let unit = &self.units[&start];
        let mut out = Vec::new();
        let Ok(mut tree) = unit.entries_tree(Some(gimli::UnitOffset(at - start))) else {
            return out;
        };
        let Ok(root) = tree.root() else { return out };
        let mut children = root.children();
        while let Ok(Some(c)) = children.next() {
            let e = c.entry();
            out.push((start + e.offset().0, e.tag()));
        }
        out
    }

    /// The function's frame base at `pc`: register and offset.
    fn frame_base(&mut self, f: usize, pc: u64, entry: bool) -> Option<Result<(u16, i64), String>> {
        let (_, v) = self.attr(f, gimli::DW_AT_frame_base)?;
        let AttrVal::Expr(ops) = v else {
            return Some(Err("its function's frame base is not an expression".into()));
        };
        Some(match ops.as_slice() {
            // At an entry the return address was just pushed: whatever
            // the tables say, the frame address is the stack pointer plus
            // one word (what a debug file without .eh_frame still allows).
            [Op::Cfa] => self.cfa(pc).or_else(|e| {
                if entry {
                    Ok((
                        if self.cu.bits == 64 { 7 } else { 4 },
                        i64::from(self.cu.bits / 8),
                    ))
                } else {
                    Err(e)
                }
            }),
            [Op::Reg(r)] => Ok((*r, 0)),
            [Op::Breg(r, o)] => Ok((*r, *o)),
            _ => Err("its function's frame base is an expression probeaddr does not follow".into()),
        })
    }

    /// The canonical frame address at `pc` from `.debug_frame` or `.eh_frame`.
    fn cfa(&self, pc: u64) -> Result<(u16, i64), String> {
        let rule = |row: &gimli::UnwindTableRow<usize>| match row.cfa() {
            gimli::CfaRule::RegisterAndOffset { register, offset } => Ok((register.0, *offset)),
            gimli::CfaRule::Expression(_) => {
                Err("the frame address there is a DWARF expression".to_string())
            }
        };
        let mut ctx = Box::new(gimli::UnwindContext::new());
        let bases = gimli::BaseAddresses::default().set_eh_frame(self.cu.eh_frame_addr);
        let df = self.cu.section(gimli::SectionId::DebugFrame);
        if !df.is_empty() {
            let mut s = gimli::DebugFrame::new(df, gimli::LittleEndian);
            s.set_address_size(self.cu.bits as u8 / 8);
            if let Ok(fde) = s.fde_for_address(&bases, pc, gimli::DebugFrame::cie_from_offset) {
                if let Ok(row) = fde.unwind_info_for_address(&s, &bases, &mut ctx, pc) {
                    return rule(row);
                }
            }
        }
        let eh = self.cu.section(gimli::SectionId::EhFrame);
        if !eh.is_empty() {
            let mut s = gimli::EhFrame::new(eh, gimli::LittleEndian);
            s.set_address_size(self.cu.bits as u8 / 8);
            if let Ok(fde) = s.fde_for_address(&bases, pc, gimli::EhFrame::cie_from_offset) {
                if let Ok(row) = fde.unwind_info_for_address(&s, &bases, &mut ctx, pc) {
                    return rule(row);
                }
            }
        }
        Err("its frame base is the call frame address, and no .debug_frame or .eh_frame entry covers the address".into())
    }

    /// Where the variable at `at` is at `pc`.
    fn place(
        &mut self,
        at: usize,
        pc: u64,
        entry: bool,
        fbase: Option<&Result<(u16, i64), String>>,
    ) -> Result<Place, String> {
        let loc = self.with_die(at, |d, unit, die| {
            let v = die.attr_value(gimli::DW_AT_location).ok().flatten();
            let cv = die.attr_value(gimli::DW_AT_const_value).ok().flatten();
            let decl = matches!(
                die.attr_value(gimli::DW_AT_declaration),
                Ok(Some(AttributeValue::Flag(true)))
            );
            let ops = match v {
                None => None,
                Some(AttributeValue::Exprloc(e)) => Some(Ok(ops_of(e, unit.encoding()))),
                Some(v) => Some(match d.attr_locations(unit, v) {
                    Ok(Some(mut it)) => {
                        let mut hit = None;
                        while let Ok(Some(e)) = it.next() {
                            if e.range.begin <= pc && pc < e.range.end {
                                hit = Some(ops_of(e.data, unit.encoding()));
                                break;
                            }
                        }
                        hit.ok_or_else(|| {
                            "optimized out at this address (its location list does not cover it)"
                                .to_string()
                        })
                    }
                    _ => Err("its location list cannot be read".to_string()),
                }),
            };
            (
                ops,
                cv.and_then(|c| c.sdata_value().or(c.udata_value().map(|u| u as i64))),
                decl,
            )
        });
        let Some((ops, cv, decl)) = loc else {
            return Err("its DWARF entry cannot be read".into());
        };
        match ops {
            Some(ops) => eval(&ops?, entry, fbase, self.cu.bits),
            None => match cv {
                Some(c) => Ok(Place::Value(Val::Imm(c))),
                None if decl => Err("declared here, defined in another unit".into()),
                None => Err("optimized out (no location in DWARF)".into()),
            },
        }
    }

    /// Name of the type at `ty` as C writes it, for listings.
    pub fn type_name(&mut self, ty: Option<usize>) -> String {
        let mut suffix = String::new();
        let mut cur = ty;
        for _ in 0..16 {
            let Some(at) = cur else {
                return format!("void{}{suffix}", if suffix.is_empty() { "" } else { " " });
            };
            let tag = self.with_die(at, |_, _, d| d.tag());
            match tag {
                Some(gimli::DW_TAG_pointer_type) => {
                    suffix.insert(0, '*');
                    cur = self.type_of(at);
                }
                Some(gimli::DW_TAG_const_type) | Some(gimli::DW_TAG_volatile_type) => {
                    cur = self.type_of(at)
                }
                Some(gimli::DW_TAG_array_type) => {
                    let n = self
                        .array_count(at)
                        .map(|n| n.to_string())
                        .unwrap_or_default();
                    suffix.push_str(&format!("[{n}]"));
                    cur = self.type_of(at);
                }
                Some(gimli::DW_TAG_subroutine_type) => {
                    let space = if suffix.is_empty() { "" } else { " " };
                    return format!("function{space}{suffix}");
                }
                Some(t) => {
                    let kw = match t {
                        gimli::DW_TAG_structure_type => "struct ",
                        gimli::DW_TAG_union_type => "union ",
                        gimli::DW_TAG_enumeration_type => "enum ",
                        _ => "",
                    };
                    let n = self.name(at).unwrap_or_else(|| "(anonymous)".into());
                    return format!(
                        "{kw}{n}{}{suffix}",
                        if suffix.is_empty() { "" } else { " " }
                    );
                }
                None => return "?".into(),
            }
        }
        "?".into()
    }
}

/// An attribute value detached from its unit.
#[derive(Debug, Clone)]
enum AttrVal {
    Str(String),
    Ref(usize),
    Expr(Vec<Op>),
}

impl AttrVal {
    fn of(
        d: &gimli::Dwarf<Slice<'_>>,
        unit: &Unit<'_>,
        v: AttributeValue<Slice<'_>>,
    ) -> Option<AttrVal> {
        match v {
            AttributeValue::UnitRef(_) | AttributeValue::DebugInfoRef(_) => {
                Query::global_ref(unit, v).map(AttrVal::Ref)
            }
            AttributeValue::Exprloc(e) => Some(AttrVal::Expr(ops_of(e, unit.encoding()))),
            other => d
                .attr_string(unit, other)
                .ok()
                .map(|s| AttrVal::Str(s.to_string_lossy().into_owned())),
        }
    }
}

/// The DWARF operations probeaddr translates; anything else is `Other`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Reg(u16),
    Breg(u16, i64),
    Fbreg(i64),
    Cfa,
    Addr(u64),
    Deref,
    PlusConst(u64),
    Const(i64),
    StackValue,
    EntryReg(u16),
    Implicit(i64),
    Piece(u64),
    Other(String),
}

fn ops_of(e: gimli::Expression<Slice<'_>>, enc: gimli::Encoding) -> Vec<Op> {
    let mut out = Vec::new();
    let mut it = e.operations(enc);
    loop {
        let op = match it.next() {
            Ok(Some(op)) => op,
            Ok(None) => break,
            Err(e) => {
                out.push(Op::Other(format!("unreadable ({e})")));
                break;
            }
        };
        out.push(match op {
            Operation::Register { register } => Op::Reg(register.0),
            Operation::RegisterOffset {
                register, offset, ..
            } => Op::Breg(register.0, offset),
            Operation::FrameOffset { offset } => Op::Fbreg(offset),
            Operation::CallFrameCFA => Op::Cfa,
            Operation::Address { address } => Op::Addr(address),
            Operation::Deref { space: false, .. } => Op::Deref,
            Operation::PlusConstant { value } => Op::PlusConst(value),
            Operation::UnsignedConstant { value } => Op::Const(value as i64),
            Operation::SignedConstant { value } => Op::Const(value),
            Operation::StackValue => Op::StackValue,
            Operation::Nop => continue,
            Operation::EntryValue { expression } => {
                let inner = ops_of(gimli::Expression(expression), enc);
                match inner.as_slice() {
                    [Op::Reg(r)] => Op::EntryReg(*r),
                    _ => Op::Other("DW_OP_entry_value of an expression".into()),
                }
            }
            Operation::ImplicitValue { data } if data.len() <= 8 => {
                let mut b = [0u8; 8];
                b[..data.len()].copy_from_slice(data.slice());
                Op::Implicit(i64::from_le_bytes(b))
            }
            Operation::Piece { size_in_bits, .. } => Op::Piece(size_in_bits),
            other => {
                // `Shl`, `Bra { target: .. }`: the operation's DWARF name.
                let dbg = format!("{other:?}");
                let name = dbg.split([' ', '{', '(']).next().unwrap_or("");
                Op::Other(format!("DW_OP_{}", name.to_ascii_lowercase()))
            }
        });
    }
    out
}

/// A symbolic value on the expression stack.
#[derive(Debug, Clone)]
enum Sym {
    /// `fetch + off`.
    Dyn(Val, i64),
    /// A link-time address.
    Static(u64),
    /// A constant.
    Const(i64),
}

/// Evaluate a location expression symbolically.
fn eval(
    ops: &[Op],
    entry: bool,
    fbase: Option<&Result<(u16, i64), String>>,
    bits: u32,
) -> Result<Place, String> {
    // Pieces: a location that is one piece, ending the expression, is that
    // piece; anything more is spread over several places.
    let ops = match ops.iter().position(|o| matches!(o, Op::Piece(_))) {
        Some(i) if i + 1 == ops.len() => &ops[..i],
        Some(_) => {
            return Err("it is split in pieces (DW_OP_piece) over several places, which no single fetch argument reads".into())
        }
        None => ops,
    };
    if ops.is_empty() {
        return Err("optimized out at this address (empty location)".into());
    }
    if let [Op::Reg(r)] = ops {
        return Ok(Place::Value(Val::Reg(*r)));
    }
    if let [Op::Implicit(v)] = ops {
        return Ok(Place::Value(Val::Imm(*v)));
    }
    let mut st: Vec<Sym> = Vec::new();
    let mut value = false;
    for op in ops {
        match op {
            Op::Breg(r, o) => st.push(Sym::Dyn(Val::Reg(*r), *o)),
            Op::Fbreg(o) => match fbase {
                Some(Ok((r, b))) => st.push(Sym::Dyn(Val::Reg(*r), b + o)),
                Some(Err(why)) => return Err(why.clone()),
                None => return Err("its function has no frame base".into()),
            },
            Op::Addr(a) => st.push(Sym::Static(*a)),
            Op::Const(c) => st.push(Sym::Const(*c)),
            Op::EntryReg(r) => {
                if !entry {
                    return Err(format!(
                        "its value is the one register {} held at the function's entry (DW_OP_entry_value), which only a probe at the entry can read",
                        register_name(bits, *r).unwrap_or("?")
                    ));
                }
                st.push(Sym::Dyn(Val::Reg(*r), 0));
            }
            Op::PlusConst(k) => match st.pop() {
                Some(Sym::Dyn(v, o)) => st.push(Sym::Dyn(v, o.wrapping_add(*k as i64))),
                Some(Sym::Static(a)) => st.push(Sym::Static(a.wrapping_add(*k))),
                Some(Sym::Const(c)) => st.push(Sym::Const(c.wrapping_add(*k as i64))),
                None => return Err("malformed location expression".into()),
            },
            Op::Deref => match st.pop() {
                Some(Sym::Dyn(v, o)) => st.push(Sym::Dyn(
                    Val::Mem {
                        off: o,
                        base: Box::new(v),
                    },
                    0,
                )),
                Some(Sym::Static(a)) => st.push(Sym::Dyn(Val::Static(a), 0)),
                _ => return Err("it is read through a constant address".into()),
            },
            Op::StackValue => value = true,
            Op::Cfa => return Err("its location is the frame address itself".into()),
            Op::Reg(_) => return Err("a register inside a composite location".into()),
            Op::Implicit(_) | Op::Piece(_) => {
                return Err("an implicit value inside a composite location".into())
            }
            Op::Other(o) => {
                return Err(format!(
                    "its location uses {o}, which no fetch argument can express"
                ))
            }
        }
    }
    let top = st.pop().ok_or("malformed location expression")?;
    if value {
        return match top {
            Sym::Dyn(v, 0) => Ok(Place::Value(v)),
            Sym::Const(c) => Ok(Place::Value(Val::Imm(c))),
            Sym::Dyn(_, _) => Err(
                "its value is a register plus a constant, and fetch arguments cannot add".into(),
            ),
            Sym::Static(_) => {
                Err("its value is an address in the object, which a fetch argument cannot give as a number".into())
            }
        };
    }
    match top {
        Sym::Dyn(v, o) => Ok(Place::Based(v, o)),
        Sym::Static(a) => Ok(Place::Static(a)),
        Sym::Const(_) => Err("it is in memory at a constant address".into()),
    }
}

/// Where an access leads: the place, its type, and its bitfield
/// `(width, bit offset, container bits)` if it is one.
pub type Stepped = (Place, Option<usize>, Option<(u64, u64, u64)>);

/// Follow a member or element access from a place of type `ty`.
pub fn step(
    q: &mut dyn Types,
    place: &Place,
    ty: Option<usize>,
    access: &crate::spec::Access,
) -> Result<Stepped, String> {
    use crate::spec::Access;
    let t = q.resolve(ty);
    match access {
        Access::Dot(f) | Access::Arrow(f) => {
            let (rec, base) = match (&t, access) {
                (Type::Record { die, .. }, Access::Dot(_)) => (*die, place.clone()),
                (Type::Pointer { target }, Access::Arrow(_)) => match q.resolve(*target) {
                    Type::Record { die, .. } => (die, Place::Based(place.value(), 0)),
                    other => return Err(format!("points to {}, not a struct", describe(&other))),
                },
                (Type::Record { .. }, Access::Arrow(_)) => {
                    return Err(format!("is a struct, not a pointer: use '.{f}'"))
                }
                (Type::Pointer { .. }, Access::Dot(_)) => {
                    return Err(format!("is a pointer: use '->{f}'"))
                }
                (other, _) => return Err(format!("is {}, which has no members", describe(other))),
            };
            let m = q
                .member(rec, f)
                .ok_or_else(|| format!("has no member '{f}'"))?;
            let p = base
                .plus(m.offset as i64)
                .ok_or("is held in a register, so its members have no address")?;
            Ok((p, m.ty, m.bits))
        }
        Access::Index(i) => {
            let (elem, base) = match t {
                Type::Array { elem, .. } => (elem, place.clone()),
                Type::Pointer { target: Some(e) } => (e, Place::Based(place.value(), 0)),
                other => return Err(format!("is {}, which cannot be indexed", describe(&other))),
            };
            let size = q
                .size_of(Some(elem))
                .ok_or("has elements of unknown size")?;
            let p = base
                .plus(i.wrapping_mul(size as i64))
                .ok_or("is held in a register, so its elements have no address")?;
            Ok((p, Some(elem), None))
        }
    }
}

/// `an int`, `a struct`, for messages.
pub fn describe(t: &Type) -> String {
    match t {
        Type::Int { .. } => "an integer".into(),
        Type::Float { .. } => "a floating-point value".into(),
        Type::Pointer { .. } => "a pointer".into(),
        Type::Record { kind, .. } => format!("a {kind}"),
        Type::Array { .. } => "an array".into(),
        Type::Enum { .. } => "an enum".into(),
        Type::Other(s) => s.clone(),
    }
}
