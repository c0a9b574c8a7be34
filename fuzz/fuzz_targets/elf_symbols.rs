//! The ELF reader and symbol index, with file attribution. Invariants: no
//! panic; every indexed symbol's name is valid UTF-8 and lies in the input;
//! every file offset computed lies inside the file; reading code never
//! reaches past the input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use probeaddr::index::SymbolIndex;
use probeaddr::sources::{elf::ElfObject, Bytes};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(elf) = ElfObject::from_bytes(Path::new("fuzz"), Bytes::Owned(data.to_vec())) else { return };
    let Ok(idx) = SymbolIndex::build(&elf, Some(&elf)) else { return };
    for s in idx.symbols() {
        let _ = idx.name(s);
        let _ = idx.file(s);
        if let Some(off) = elf.file_offset(s.addr) {
            assert!(off.get() < data.len() as u64, "file offset past the end");
        }
        if let Some(code) = elf.bytes_at(s.addr, s.size.min(4096)) {
            assert!(code.len() as u64 == s.size.min(4096));
        }
    }
    let _ = idx.by_address();
});
