//! sysfs files: ELF notes (/sys/kernel/notes, module notes) and module
//! section addresses. Invariants: a build-id found lies inside the input; a
//! section address parses only from `0x` + hex.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(id)) = probeaddr::internals::sysfs::parse_build_id_note(data) {
        assert!(id.len() <= data.len());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(a) = probeaddr::internals::sysfs::parse_section_address(text) {
            assert_eq!(
                format!("{a:x}"),
                format!(
                    "{:x}",
                    u64::from_str_radix(text.trim().trim_start_matches("0x"), 16).unwrap()
                )
            );
        }
    }
});
