//! /proc/PID/maps. Invariant: every mapping parsed has start <= end, and a
//! runtime address it gives lies inside it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use probeaddr::addr::FileOffset;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(maps) = probeaddr::internals::maps::parse(text, Path::new("fuzz")) else {
        return;
    };
    for m in &maps {
        assert!(m.start <= m.end);
        if let Some(r) = m.runtime_addr(FileOffset(m.offset.get().wrapping_add(7))) {
            assert!(r >= m.start && r < m.end);
        }
    }
});
