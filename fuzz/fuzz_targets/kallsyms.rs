//! kallsyms and System.map text. Invariants: no panic; symbolize never
//! answers with a symbol above the address; counts agree with lookups.
#![no_main]
use libfuzzer_sys::fuzz_target;
use probeaddr::addr::RuntimeAddr;
use probeaddr::internals::kallsyms::Kallsyms;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(k) = Kallsyms::parse(text.to_string(), Path::new("fuzz")) else {
        return;
    };
    for s in k.symbols().iter().take(64) {
        let name = k.name(s);
        assert_eq!(k.count(name, None), k.lookup(name).len());
        let q = RuntimeAddr(s.addr.get().wrapping_add(3));
        if let Some((hit, off)) = k.symbolize(q) {
            assert!(hit.addr.get() <= q.get());
            assert_eq!(hit.addr.get() + off, q.get());
        }
    }
    let _ = k.duplicates();
});
