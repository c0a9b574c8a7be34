//! The numbers an eBPF loader attaches with: for a USDT marker, the file,
//! the uprobe's file offset and the semaphore's (aya's `UProbe::attach`,
//! libbpf's `bpf_program__attach_uprobe_opts` with `ref_ctr_offset`).
//! `cargo run --example attach_point [BINARY [PROVIDER:NAME]]`
use probeaddr::{attach_point, AttachPoint, Linker, LinkerConfig, ProbeSpec, Resolver, Source};

fn main() -> Result<(), probeaddr::Error> {
    let mut args = std::env::args().skip(1);
    let bin = args.next().unwrap_or("/usr/bin/python3.11".into());
    let marker = args.next().unwrap_or("python:function__entry".into());
    let resolver = Resolver::new([Source::User(bin.into())]);
    let linker = Linker::new(LinkerConfig::offline());
    for l in resolver
        .resolve(&ProbeSpec::parse(&format!("%{marker}"))?)?
        .locations
    {
        if let AttachPoint::Uprobe {
            path,
            offset,
            ref_ctr_offset,
            ..
        } = attach_point(&linker.link(&l)?)?
        {
            println!(
                "{path} {offset:#x} {}",
                ref_ctr_offset.map_or("-".into(), |r| format!("{r:#x}"))
            );
        }
    }
    Ok(())
}
