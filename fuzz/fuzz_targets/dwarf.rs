//! DWARF compile units, subprograms, line tables and inlined sites over an
//! arbitrary ELF file. Invariants: no panic, no hang (origin chains are
//! bounded), every line row found for a unit lies in that unit's input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use probeaddr::addr::LinkAddr;
use probeaddr::internals::dwarf::CompUnits;
use probeaddr::internals::{elf::ElfObject, Bytes};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(elf) = ElfObject::from_bytes(Path::new("fuzz"), Bytes::Owned(data.to_vec())) else {
        return;
    };
    let Ok(Some(cu)) = CompUnits::load(&elf) else {
        return;
    };
    for a in [0x1000u64, 0x1149, 0x1175, 0x401000, 0xffffffff81000000] {
        let _ = cu.unit_at(LinkAddr(a));
        let _ = cu.subprogram_at(LinkAddr(a));
        let _ = cu.rows_of_unit_at(LinkAddr(a));
    }
    let _ = cu.inlined_sites(&|_| true, None, None);
    let _ = cu.units_naming("helper");
    let _ = cu.strings_matching(&|s| s.starts_with('h'), 8);
    let _ = cu.has_split_units();
});
