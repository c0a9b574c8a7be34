//! Relocating the debug sections of a relocatable object (a kernel module).
//!
//! In a `.ko`, DWARF's addresses and its references into `.debug_str`,
//! `.debug_line` or `.debug_rnglists` are left to the linker: the bytes hold
//! zeros (or just the addend) and a `.rela.debug_*` section says what to put
//! there. Read without them, every function starts at 0 and every name is the
//! first string. perf and SystemTap go through elfutils' libdwfl, which
//! applies them; here they are applied once, to a copy of each section, with
//! each allocated section at the address [`ElfObject`] laid it out at — the
//! same addresses the symbol index gives the module's symbols.

use object::{Object, ObjectSection, ObjectSymbol, RelocationKind, RelocationTarget};

use crate::sources::elf::ElfObject;

/// Apply the relocations of `section` (a section of `file`, the parsed
/// `elf`) to `data`, its uncompressed bytes. `Err` says which relocation
/// could not be applied, and why.
pub(crate) fn apply(
    elf: &ElfObject,
    file: &object::read::File<'_>,
    section: &object::read::Section<'_, '_>,
    data: &mut [u8],
) -> Result<(), String> {
    let name = section.name().unwrap_or("?");
    let base_of = |i: object::SectionIndex| elf.sections().get(i.0).map_or(0, |s| s.addr.get());
    for (at, r) in section.relocations() {
        let target = match r.target() {
            RelocationTarget::Symbol(i) => {
                let sym = file
                    .symbol_by_index(i)
                    .map_err(|e| format!("{name}: relocation at {at:#x}: {e}"))?;
                // An undefined symbol (an extern's address) stays 0, as
                // libdwfl leaves it.
                sym.section_index()
                    .map_or(0, base_of)
                    .wrapping_add(sym.address())
            }
            RelocationTarget::Section(i) => base_of(i),
            RelocationTarget::Absolute => 0,
            _ => {
                return Err(format!(
                    "{name}: relocation at {at:#x} has an unknown target"
                ))
            }
        };
        let width = usize::from(r.size() / 8);
        if width > 8 {
            return Err(format!(
                "{name}: relocation at {at:#x} is {} bits wide",
                r.size()
            ));
        }
        let start =
            usize::try_from(at).map_err(|_| format!("{name}: relocation offset {at:#x}"))?;
        let Some(field) = start
            .checked_add(width)
            .and_then(|end| data.get_mut(start..end))
        else {
            return Err(format!(
                "{name}: relocation at {at:#x} ({width} bytes) is past the section's end ({:#x} bytes)",
                data.len()
            ));
        };
        let addend = if r.has_implicit_addend() {
            read(field) as i64
        } else {
            r.addend()
        };
        let value = match r.kind() {
            RelocationKind::Absolute => target.wrapping_add(addend as u64),
            // PC-relative within a debug section (not allocated: at 0).
            RelocationKind::Relative => target.wrapping_add(addend as u64).wrapping_sub(at),
            // R_*_NONE: nothing to write.
            _ if width == 0 => continue,
            k => {
                return Err(format!(
                    "{name}: relocation at {at:#x} is of a kind DWARF does not use ({k:?}, {:?})",
                    r.flags()
                ))
            }
        };
        match width {
            8 => field.copy_from_slice(&value.to_le_bytes()),
            4 => field.copy_from_slice(&(value as u32).to_le_bytes()),
            2 => field.copy_from_slice(&(value as u16).to_le_bytes()),
            1 => field[0] = value as u8,
            _ => return Err(format!("{name}: relocation at {at:#x} has width {width}")),
        }
    }
    Ok(())
}

/// A little-endian field's value (the implicit addend of a `REL` relocation).
fn read(field: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b[..field.len()].copy_from_slice(field);
    u64::from_le_bytes(b)
}
