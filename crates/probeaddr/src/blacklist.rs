//! Where the kernel refuses kprobes, computed from the vmlinux.
//!
//! `register_kprobe` refuses an address (`-EINVAL`) that the kernel's kprobe
//! blacklist covers. At boot (`populate_kprobe_blacklist` in
//! kernel/kprobes.c) the blacklist is built from:
//!
//! - every function whose address `NOKPROBE_SYMBOL()` put in the
//!   `_kprobe_blacklist` section, whole (its size from kallsyms);
//! - every function in the `__kprobes` text area (`__kprobes_text_start` to
//!   `__kprobes_text_end`) and in the `noinstr` area (`__noinstr_text_*`);
//! - on x86, the entry code (`__entry_text_start` to `__entry_text_end`,
//!   `arch_populate_kprobe_blacklist`).
//!
//! `within_kprobe_blacklist` also refuses a compiler clone (`foo.isra.0`)
//! of a blacklisted `foo`. And after boot `.init.text` is freed: an address
//! there is no kernel text any more (`check_kprobe_address_safe`).
//! `/sys/kernel/debug/kprobes/blacklist` lists the result on a live system.

use crate::index::names::split_variant;
use crate::index::{Symbol, SymbolIndex, SymbolKind};
use crate::object::AnalysedObject;
use crate::LinkAddr;

/// The ranges the kernel refuses kprobes in, with the rule for each.
#[derive(Debug, Default)]
pub(crate) struct KprobeBlacklist {
    /// Text areas refused whole: `(start, end, why)`.
    areas: Vec<(u64, u64, String)>,
    /// The addresses `NOKPROBE_SYMBOL()` lists, sorted: each is the start of
    /// a function the kernel refuses whole. They are matched against the
    /// function a probe is in when one is asked about, so that reading the
    /// list costs nothing per symbol of the kernel.
    entries: Vec<u64>,
}

/// The area markers the kernel blacklists, with what to call them.
const AREAS: [(&str, &str, &str); 3] = [
    (
        "__kprobes_text_start",
        "__kprobes_text_end",
        "it is __kprobes code (.kprobes.text)",
    ),
    (
        "__noinstr_text_start",
        "__noinstr_text_end",
        "it is noinstr code (.noinstr.text)",
    ),
    (
        "__entry_text_start",
        "__entry_text_end",
        "it is entry code (.entry.text)",
    ),
];

impl KprobeBlacklist {
    /// The blacklist of a vmlinux. A vmlinux without these sections and
    /// markers (not built with kprobes) has an empty one.
    pub fn of_vmlinux(obj: &AnalysedObject) -> KprobeBlacklist {
        let Ok(idx) = obj.index() else {
            return KprobeBlacklist::default();
        };
        let elf = obj.elf();
        let mut bl = KprobeBlacklist::default();
        let [a0, a1, b0, b1, c0, c1, start, stop] = idx
            .first_named([
                AREAS[0].0,
                AREAS[0].1,
                AREAS[1].0,
                AREAS[1].1,
                AREAS[2].0,
                AREAS[2].1,
                "__start_kprobe_blacklist",
                "__stop_kprobe_blacklist",
            ])
            .map(|s| s.map(|s| s.addr.get()));
        for ((s, e), (_, _, why)) in [(a0, a1), (b0, b1), (c0, c1)].into_iter().zip(AREAS) {
            if let (Some(s), Some(e)) = (s, e) {
                if s < e {
                    bl.areas.push((s, e, why.to_string()));
                }
            }
        }
        for sec in elf.sections() {
            if sec.name == ".init.text" && sec.size > 0 {
                bl.areas.push((
                    sec.addr.get(),
                    sec.addr.get() + sec.size,
                    "it is in .init.text, which the kernel frees after boot".into(),
                ));
            }
        }
        // NOKPROBE_SYMBOL() entries: addresses between these markers (the
        // linker script keeps them in .init.data), link-time values in the
        // vmlinux file.
        if let (Some(start), Some(stop)) = (start, stop) {
            let bytes = elf
                .sections()
                .iter()
                .find(|sec| {
                    !sec.is_nobits() && sec.addr.get() <= start && stop <= sec.addr.get() + sec.size
                })
                .and_then(|sec| {
                    let o = usize::try_from(sec.offset + (start - sec.addr.get())).ok()?;
                    elf.data()
                        .get(o..o.checked_add(usize::try_from(stop - start).ok()?)?)
                })
                .unwrap_or(&[]);
            bl.entries = bytes
                .chunks_exact(8)
                .map(|e| u64::from_le_bytes(e.try_into().expect("8 bytes")))
                .collect();
            bl.entries.sort_unstable();
            bl.entries.dedup();
        }
        bl
    }

    /// Why the kernel refuses a kprobe at `addr` in `function` (the
    /// function symbol holding it, named `name`), or `None` when it does
    /// not. `idx` is the vmlinux's symbol index (for a clone's original).
    pub fn refuses(
        &self,
        idx: &SymbolIndex,
        addr: LinkAddr,
        function: &Symbol,
        name: &str,
    ) -> Option<String> {
        let a = addr.get();
        if let Some(r) = self.areas.iter().find(|r| r.0 <= a && a < r.1) {
            return Some(r.2.clone());
        }
        let listed = |s: &Symbol| {
            s.kind == SymbolKind::Function && self.entries.binary_search(&s.addr.get()).is_ok()
        };
        if listed(function) && a.wrapping_sub(function.addr.get()) < function.size.max(1) {
            return Some(format!(
                "NOKPROBE_SYMBOL({name}) lists it (_kprobe_blacklist)"
            ));
        }
        let (base, _) = split_variant(name);
        (base != name
            && idx
                .with_base(base)
                .any(|s| listed(s) && idx.name(s) == base)).then(|| {
            format!("it is a clone of {base}, which NOKPROBE_SYMBOL({base}) lists (within_kprobe_blacklist checks the name before the '.')")
        })
    }
}
