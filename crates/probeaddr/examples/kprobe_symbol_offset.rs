//! A kprobe on one of the kernel's eight `init_once`: `(symbol, offset)`
//! with a symbol the running kernel finds once (aya's `KProbe::attach`,
//! libbpf's `bpf_program__attach_kprobe_opts`), and its offset from `_text`.
//! `cargo run --example kprobe_symbol_offset VMLINUX`
use probeaddr::{Anchor, Linker, ProbeSpec, Resolver, Source};

fn main() -> Result<(), probeaddr::Error> {
    let vmlinux = std::env::args()
        .nth(1)
        .expect("usage: kprobe_symbol_offset VMLINUX");
    let linker = Linker::live();
    let mut sources = vec![Source::Vmlinux(vmlinux.into())];
    sources.extend(linker.kernel_symbols()?.map(Source::Kallsyms));
    let spec = ProbeSpec::parse("init_once@fs/proc/inode.c")?;
    for l in Resolver::new(sources).resolve(&spec)?.locations {
        let (Some(sym), Anchor::KernelText { offset }) = (&l.symbol_form, &l.anchor) else {
            continue;
        };
        let runtime = linker.link(&l)?.runtime;
        println!(
            "{} {:#x} _text+{offset:#x} {runtime:?}",
            sym.symbol, sym.offset
        );
    }
    Ok(())
}
