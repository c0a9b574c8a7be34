//! The plan loader. Invariant: a plan that loads serializes and loads back
//! to the same plan.
#![no_main]
use libfuzzer_sys::fuzz_target;
use probeaddr::plan::Plan;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(plan) = Plan::from_json(text, Path::new("fuzz")) else {
        return;
    };
    let back = serde_json::to_string(&plan).unwrap();
    let again = Plan::from_json(&back, Path::new("fuzz")).unwrap();
    assert_eq!(plan, again);
});
