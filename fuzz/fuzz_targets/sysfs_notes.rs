//! ELF note parsing of /sys/kernel/notes and module notes. Invariant: a
//! build-id found lies inside the input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(id)) = probeaddr::sources::sysfs::parse_build_id_note(data) {
        assert!(id.len() <= data.len());
    }
});
