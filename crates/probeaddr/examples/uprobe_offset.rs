//! The uprobe offset of `malloc` in libc: what `uprobe_events` (and aya's,
//! libbpf's uprobe attach) take. `cargo run --example uprobe_offset [LIBC]`
use probeaddr::{Anchor, ProbeSpec, Resolver, Source};

fn main() -> Result<(), probeaddr::Error> {
    let libc = std::env::args()
        .nth(1)
        .unwrap_or("/lib/x86_64-linux-gnu/libc.so.6".into());
    let resolver = Resolver::new([Source::User(libc.clone().into())]);
    for l in resolver.resolve(&ProbeSpec::parse("malloc")?)?.locations {
        if let Anchor::File { offset } = l.anchor {
            println!("{} {libc}:{offset}", l.symbol);
        }
    }
    Ok(())
}
