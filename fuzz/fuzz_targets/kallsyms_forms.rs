//! Kernel locations from a kallsyms listing: every form of a location names
//! the same address (`_text+OFF`, `SYM+OFF`, the nearest unique symbol, the
//! runtime address).
#![no_main]
use libfuzzer_sys::fuzz_target;
use probeaddr::emit::forms::{Form, Forms};
use probeaddr::internals::kallsyms::Kallsyms;
use probeaddr::{KernelSymbols, Linker, LinkerConfig, ProbeSpec, Resolver, Source};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(ks) = Kallsyms::parse(text.to_string(), Path::new("fuzz")) else {
        return;
    };
    if ks.addresses_hidden() {
        return;
    }
    let Ok(symbols) = KernelSymbols::parse(text.to_string(), Path::new("fuzz")) else {
        return;
    };
    let kernel = Resolver::new([Source::Kallsyms(symbols.clone())]);
    let linker = Linker::new(LinkerConfig::offline()).with_kernel_symbols(symbols);
    let names: Vec<String> = ks
        .symbols()
        .iter()
        .filter(|s| s.is_text() && ks.module(s).is_none())
        .take(16)
        .map(|s| ks.name(s).to_string())
        .collect();
    for name in names {
        let Ok(spec) = ProbeSpec::parse(&format!(
            "kernel.function(\"{}\")",
            name.replace('\\', "\\\\").replace('"', "\\\"")
        )) else {
            continue;
        };
        let Ok(found) = kernel.resolve(&spec) else {
            continue;
        };
        for l in found.locations {
            let Ok(linked) = linker.link(&l) else {
                continue;
            };
            let Some(addr) = linked.runtime else { continue };
            let at = |sym: &str| ks.vmlinux_unique(sym).map(|s| s.addr.get());
            let forms = Forms::of(&linked);
            if let Some(Form::Text { offset }) = forms.text {
                assert_eq!(
                    at("_text").map(|a| a.wrapping_add(offset)),
                    Some(addr.get()),
                    "{l:?}"
                );
            }
            if let Some(Form::Symbol { anchor, .. }) = forms.symbol {
                assert_eq!(ks.count(&anchor.symbol, None), 1, "{anchor} is not unique");
                assert_eq!(
                    at(&anchor.symbol).map(|a| a.wrapping_add(anchor.offset)),
                    Some(addr.get()),
                    "{l:?}"
                );
            }
        }
    }
});
