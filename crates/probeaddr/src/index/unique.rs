//! Uniqueness in the kernel's namespace, and the one rule for the nearest
//! unique symbol.
//!
//! `kprobe_events` takes `SYM+OFF` only when SYM names one symbol among all
//! of kallsyms (vmlinux and every loaded module; `number_of_same_symbols()`
//! in `kernel/trace/trace_kprobe.c`; since 6.6, backported to 6.1.60, an
//! ambiguous name is refused with `EADDRNOTAVAIL`, and older kernels probe
//! the first). A location whose own name is ambiguous can still be written
//! as `UNIQ+OFF` with the nearest unique function before it in its section.

/// The nearest symbol before a probe address that can anchor `SYM+OFF`:
/// a function (never `__pfx_` padding, nor a local label starting with
/// `.`) whose name `count` says occurs once.
///
/// `preceding` walks backwards from the probe address over the function
/// symbols of the probe's own section (or module), giving each one's name
/// and address; the caller bounds the walk to that section. Returns the
/// symbol and the probe's offset from it.
pub(crate) fn nearest_unique<'a>(
    addr: u64,
    preceding: impl Iterator<Item = (&'a str, u64)>,
    count: impl Fn(&str) -> usize,
) -> Option<(String, u64)> {
    preceding
        .filter(|(name, a)| *a <= addr && !name.starts_with("__pfx_") && !name.starts_with('.'))
        .find(|(name, _)| count(name) == 1)
        .map(|(name, a)| (name.to_string(), addr - a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_padding_labels_and_ambiguous_names() {
        let before = [
            ("__pfx_init_once", 0x1f0),
            ("init_once", 0x100),
            (".Ltmp", 0x90),
            ("uniq", 0x80),
        ];
        let count = |n: &str| if n == "init_once" { 4 } else { 1 };
        assert_eq!(
            nearest_unique(0x204, before.into_iter(), count),
            Some(("uniq".to_string(), 0x184))
        );
        assert_eq!(nearest_unique(0x204, std::iter::empty(), count), None);
    }
}
