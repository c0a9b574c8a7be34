//! Kernel locations from a kallsyms listing: every form of a location names
//! the same address (`_text+OFF`, `SYM+OFF`, the nearest unique symbol, the
//! runtime address).
#![no_main]
use libfuzzer_sys::fuzz_target;
use probeaddr::kernel::{resolve, KernelInputs};
use probeaddr::sources::kallsyms::Kallsyms;
use probeaddr::ProbeSpec;
use std::path::Path;

fn split(form: &str) -> Option<(&str, u64)> {
    let (s, off) = form.rsplit_once('+')?;
    Some((s, u64::from_str_radix(off.strip_prefix("0x")?, 16).ok()?))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(ks) = Kallsyms::parse(text.to_string(), Path::new("fuzz")) else { return };
    if ks.addresses_hidden() {
        return;
    }
    let inp = KernelInputs { kallsyms: Some(&ks), kallsyms_matches: true, ..Default::default() };
    let names: Vec<String> = ks.symbols().iter().filter(|s| s.is_text() && ks.module(s).is_none()).take(16).map(|s| ks.name(s).to_string()).collect();
    for name in names {
        let Ok(spec) = ProbeSpec::parse(&format!("kernel.function(\"{}\")", name.replace('\\', "\\\\").replace('"', "\\\""))) else { continue };
        let Ok(locs) = resolve(&spec, &inp) else { continue };
        for l in locs {
            let Some(addr) = l.forms.address else { continue };
            let at = |sym: &str| ks.vmlinux_unique(sym).map(|s| s.addr.get());
            if let Some((s, off)) = l.forms.text.as_deref().and_then(split) {
                assert_eq!(at(s).map(|a| a.wrapping_add(off)), Some(addr.get()), "{l:?}");
            }
            for f in [&l.forms.symbol, &l.forms.nearest].into_iter().flatten() {
                let (s, off) = split(f).expect("SYM+0xOFF");
                assert_eq!(ks.count(s, None), 1, "{f} is not unique");
                assert_eq!(at(s).map(|a| a.wrapping_add(off)), Some(addr.get()), "{l:?}");
            }
        }
    }
});
