//! The ELF reader and symbol index, with file attribution. Invariants: no
//! panic; every indexed symbol's name is valid UTF-8 and lies in the input;
//! every file offset computed lies inside the file; every function lies
//! inside the section it names; reading code never reaches past the input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use probeaddr::internals::SymbolIndex;
use probeaddr::internals::{elf::ElfObject, Bytes};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(elf) = ElfObject::from_bytes(Path::new("fuzz"), Bytes::Owned(data.to_vec())) else {
        return;
    };
    let Ok(idx) = SymbolIndex::build(&elf, Some(&elf)) else {
        return;
    };
    for s in idx.symbols() {
        let _ = idx.name(s);
        if s.kind == probeaddr::internals::SymbolKind::Function
            && elf.kind() != probeaddr::internals::elf::ObjectKind::Relocatable
        {
            if let Some(sec) = elf
                .sections()
                .get(s.section as usize)
                .filter(|x| x.size > 0 && x.flags & 2 != 0)
            {
                assert!(
                    s.addr >= sec.addr
                        && s.addr.get().saturating_add(s.size)
                            <= sec.addr.get().saturating_add(sec.size),
                    "function outside its section"
                );
            }
        }
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
