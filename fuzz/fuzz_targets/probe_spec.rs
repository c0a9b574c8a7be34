//! Both probe-point syntaxes. Invariant: a spec prints back to text that
//! parses to the same spec.
#![no_main]
use libfuzzer_sys::fuzz_target;
use probeaddr::ProbeSpec;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(spec) = ProbeSpec::parse(text) else {
        return;
    };
    let back = spec.to_string();
    let mut again = ProbeSpec::parse(&back)
        .unwrap_or_else(|e| panic!("{text:?} printed as {back:?}, which does not parse: {e}"));
    again.syntax = spec.syntax;
    assert_eq!(spec, again, "{text:?} -> {back:?}");
});
