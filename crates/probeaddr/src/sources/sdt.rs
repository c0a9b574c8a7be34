//! Statically defined tracing markers (USDT / SDT, `<sys/sdt.h>`): the
//! `.note.stapsdt` notes a program carries, one per marker, each with its
//! address, its semaphore and its arguments as the assembler wrote them
//! (`-4@%eax 8@-16(%rbp) 8@sym(%rip)`).
//!
//! A note's addresses are link-time ones, recorded against `.stapsdt.base`:
//! when prelink (or a linker script) moved the file, that section's address
//! says by how much, and the marker moves with it (as perf's
//! `sdt_adjust_loc` and libbpf's USDT reader do).

use object::elf;
use object::read::elf::{FileHeader, NoteIterator};

use super::elf::ElfObject;
use crate::error::{Error, ErrorKind, Result};

/// `NT_STAPSDT`.
const NT_STAPSDT: u32 = 3;

/// One marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// `python` in `python:function__entry`.
    pub provider: String,
    /// `function__entry`.
    pub name: String,
    /// Its link-time address (after the `.stapsdt.base` adjustment).
    pub pc: u64,
    /// The link-time address of its semaphore (a 16-bit counter the kernel
    /// raises while a uprobe is attached), if it has one.
    pub semaphore: Option<u64>,
    /// Its arguments as the assembler wrote them.
    pub args: String,
}

/// Every marker of `elf`, in note order.
pub fn markers(elf: &ElfObject) -> Result<Vec<Marker>> {
    let Some(sec) = elf.sections().iter().find(|s| s.name == ".note.stapsdt") else {
        return Ok(Vec::new());
    };
    let base = elf
        .sections()
        .iter()
        .find(|s| s.name == ".stapsdt.base")
        .map(|s| s.addr.get());
    let bad = |what: String| {
        Error::new(ErrorKind::Malformed, format!(".note.stapsdt: {what}")).with_path(elf.path())
    };
    let data = usize::try_from(sec.offset)
        .ok()
        .and_then(|o| {
            elf.data()
                .get(o..o.checked_add(usize::try_from(sec.size).ok()?)?)
        })
        .ok_or_else(|| bad("outside the file".into()))?;
    let align = sec.align.max(4);
    let le = object::Endianness::Little;
    let notes = if elf.bits() == 64 {
        NoteIterator::<elf::FileHeader64<object::Endianness>>::new(le, align, data)
            .and_then(collect)
    } else {
        NoteIterator::<elf::FileHeader32<object::Endianness>>::new(le, align as u32, data)
            .and_then(collect)
    }
    .map_err(|e| bad(e.to_string()))?;
    let word = (elf.bits() / 8) as usize;
    let mut out = Vec::new();
    for (owner, kind, desc) in notes {
        if owner != b"stapsdt" || kind != NT_STAPSDT {
            continue;
        }
        let num = |i: usize| -> Option<u64> {
            let b = desc.get(i * word..(i + 1) * word)?;
            Some(if word == 8 {
                u64::from_le_bytes(b.try_into().ok()?)
            } else {
                u64::from(u32::from_le_bytes(b.try_into().ok()?))
            })
        };
        let (Some(pc), Some(note_base), Some(sem)) = (num(0), num(1), num(2)) else {
            return Err(bad("a note shorter than its three addresses".into()));
        };
        let mut strs = desc[3 * word..].split(|&b| b == 0);
        let mut text = || -> Result<String> {
            let s = strs
                .next()
                .ok_or_else(|| bad("a note without its provider, name and arguments".into()))?;
            String::from_utf8(s.to_vec()).map_err(|_| bad("a name that is not UTF-8".into()))
        };
        let (provider, name) = (text()?, text()?);
        let args = text().unwrap_or_default();
        if provider.is_empty() || name.is_empty() {
            return Err(bad("a marker without a provider or name".into()));
        }
        let shift = |a: u64| match base {
            Some(b) => a.wrapping_add(b).wrapping_sub(note_base),
            None => a,
        };
        out.push(Marker {
            provider,
            name,
            pc: shift(pc),
            semaphore: (sem != 0).then_some(sem),
            args,
        });
    }
    Ok(out)
}

type Notes = Vec<(Vec<u8>, u32, Vec<u8>)>;

fn collect<H: FileHeader<Endian = object::Endianness>>(
    mut it: NoteIterator<'_, H>,
) -> object::read::Result<Notes> {
    let mut out = Vec::new();
    while let Some(n) = it.next()? {
        out.push((
            n.name().to_vec(),
            n.n_type(object::Endianness::Little),
            n.desc().to_vec(),
        ));
    }
    Ok(out)
}

/// Where one marker argument is, as `<sys/sdt.h>` wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    /// `%reg` (any width's name: `%eax`, `%r12d`, `%dil`).
    Reg(&'static str),
    /// `OFF(%reg)`.
    Mem {
        /// Byte offset.
        off: i64,
        /// The base register.
        base: &'static str,
    },
    /// `SYM+OFF(%rip)`: memory at a symbol (a global), by its name.
    Symbol {
        /// Its name.
        name: String,
        /// Bytes past it.
        off: i64,
    },
    /// `$N`.
    Imm(i64),
}

/// One argument: its size in bytes (negative: signed) and where it is.
pub type Arg = (i8, Operand);

/// The arguments of a marker, each parsed or with why it cannot be.
pub fn parse_args(args: &str) -> Vec<std::result::Result<Arg, String>> {
    args.split_whitespace().map(parse_arg).collect()
}

fn parse_arg(a: &str) -> std::result::Result<Arg, String> {
    let (size, op) = a
        .split_once('@')
        .ok_or_else(|| format!("'{a}' has no SIZE@ prefix"))?;
    let size: i8 = size
        .parse()
        .ok()
        .filter(|s: &i8| matches!(s.unsigned_abs(), 1 | 2 | 4 | 8))
        .ok_or_else(|| format!("'{a}': size {size} is not 1, 2, 4 or 8 bytes, signed or not"))?;
    let op = if let Some(imm) = op.strip_prefix('$') {
        Operand::Imm(number(imm).ok_or_else(|| format!("'{a}': bad immediate"))?)
    } else if let Some(r) = op.strip_prefix('%') {
        Operand::Reg(reg(r).ok_or_else(|| format!("'{a}': unknown register %{r}"))?)
    } else if let Some((disp, inner)) = op.strip_suffix(')').and_then(|o| o.split_once('(')) {
        if inner.contains(',') {
            return Err(format!("'{a}': an indexed address (base, index, scale), which fetch arguments cannot compute"));
        }
        let r = inner
            .strip_prefix('%')
            .and_then(reg)
            .ok_or_else(|| format!("'{a}': unknown base register {inner}"))?;
        if r == "ip" {
            // `sym(%rip)`, `sym+8(%rip)`: a global.
            let (name, off) = match disp.rsplit_once(['+', '-']) {
                Some((n, o)) if !n.is_empty() => {
                    let v = number(o).ok_or_else(|| format!("'{a}': bad offset"))?;
                    (
                        n,
                        if disp.as_bytes()[n.len()] == b'-' {
                            -v
                        } else {
                            v
                        },
                    )
                }
                _ => (disp, 0),
            };
            if name.is_empty() || number(name).is_some() {
                return Err(format!("'{a}': an address relative to the instruction, which a uprobe's fetch arguments cannot name"));
            }
            Operand::Symbol {
                name: name.to_string(),
                off,
            }
        } else {
            let off = if disp.is_empty() {
                0
            } else {
                number(disp).ok_or_else(|| format!("'{a}': bad displacement {disp}"))?
            };
            Operand::Mem { off, base: r }
        }
    } else {
        return Err(format!(
            "'{a}': not a register, memory or immediate operand"
        ));
    };
    Ok((size, op))
}

/// A decimal or `0x` number, with a sign.
fn number(s: &str) -> Option<i64> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => i64::from_str_radix(h, 16).ok()?,
        None => s.parse().ok()?,
    };
    Some(if neg { -v } else { v })
}

/// An x86 register name of any width as the kernel's `pt_regs` names it
/// (`%eax`, `%ax`, `%al` are all `ax`; `%r12d` is `r12`). The high byte
/// registers (`%ah`) are not a register's low bits and are refused.
fn reg(r: &str) -> Option<&'static str> {
    const LEGACY: [(&str, [&str; 4]); 8] = [
        ("ax", ["rax", "eax", "ax", "al"]),
        ("bx", ["rbx", "ebx", "bx", "bl"]),
        ("cx", ["rcx", "ecx", "cx", "cl"]),
        ("dx", ["rdx", "edx", "dx", "dl"]),
        ("si", ["rsi", "esi", "si", "sil"]),
        ("di", ["rdi", "edi", "di", "dil"]),
        ("bp", ["rbp", "ebp", "bp", "bpl"]),
        ("sp", ["rsp", "esp", "sp", "spl"]),
    ];
    for (kernel, names) in LEGACY {
        if names.contains(&r) {
            return Some(kernel);
        }
    }
    const NUMBERED: [&str; 8] = ["r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];
    for n in NUMBERED {
        if r == n
            || r.strip_prefix(n)
                .is_some_and(|s| matches!(s, "d" | "w" | "b"))
        {
            return Some(n);
        }
    }
    matches!(r, "rip" | "eip").then_some("ip")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_as_the_assembler_writes_them() {
        let got =
            parse_args("-4@%eax 8@-16(%rbp) 8@counter+8(%rip) 1@$5 2@(%r12) 8@%r15d -4@112(%rsp)");
        assert_eq!(
            got,
            [
                Ok((-4, Operand::Reg("ax"))),
                Ok((
                    8,
                    Operand::Mem {
                        off: -16,
                        base: "bp"
                    }
                )),
                Ok((
                    8,
                    Operand::Symbol {
                        name: "counter".into(),
                        off: 8
                    }
                )),
                Ok((1, Operand::Imm(5))),
                Ok((
                    2,
                    Operand::Mem {
                        off: 0,
                        base: "r12"
                    }
                )),
                Ok((8, Operand::Reg("r15"))),
                Ok((
                    -4,
                    Operand::Mem {
                        off: 112,
                        base: "sp"
                    }
                )),
            ]
        );
        for bad in ["4@(%rax,%rbx,8)", "3@%eax", "4@%ah", "eax", "8@16(%rip)"] {
            assert!(parse_arg(bad).is_err(), "{bad}");
        }
    }
}
