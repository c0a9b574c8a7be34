//! A faithful port of the kallsyms name compression of Linux 6.1
//! (`scripts/kallsyms.c`: `build_initial_token_table`, `insert_real_symbols_in_table`,
//! `optimize_result`, `find_best_token`, `compress_symbols`, and the layout
//! `write_src` gives `kallsyms_names`, `kallsyms_markers`, `kallsyms_token_table`
//! and `kallsyms_token_index`).
//!
//! The algorithm, as in the kernel:
//!
//! * every symbol is its type letter followed by its name (`sym->sym[0] = type`);
//! * `token_profit[a + (b << 8)]` counts every adjacent byte pair of every symbol
//!   (overlapping pairs count: `"aaa"` counts `aa` twice);
//! * every byte value that occurs in some symbol keeps its own table slot
//!   (`best_table[c] = {c}`, length 1);
//! * the free slots are filled from 255 down to 0; for each, the pair with the
//!   highest count wins, ties going to the lowest index `a + (b << 8)` (the C loop
//!   takes a new best only on a strictly greater count), and filling stops as soon
//!   as the best count is 0;
//! * the winning pair is replaced in every symbol that contains it, left to right
//!   and without overlap, each touched symbol's pairs being forgotten before and
//!   learnt again after.
//!
//! The C code rescans every symbol on every round; this port visits only the
//! symbols that may contain the pair (an inverted index, kept conservatively),
//! which gives the same result because each symbol's rewrite and its profit
//! updates do not depend on the others.
//!
//! Layout facts for 6.1 (as the Debian 6.1 kernels ship it):
//!
//! * `kallsyms_names`: per symbol, a ULEB128 length of the *compressed* bytes —
//!   one byte when the length is ≤ 0x7F, else two bytes `(len & 0x7F) | 0x80,
//!   len >> 7` (lengths above 0x3FFF are refused) — then the compressed bytes;
//! * `kallsyms_markers`: one `.long` (4 bytes) per 256 symbols, the offset in
//!   `kallsyms_names` of symbol `256 * k`;
//! * `kallsyms_token_table`: the 256 tokens, fully expanded, each NUL-terminated
//!   (an unused slot is just its NUL);
//! * `kallsyms_token_index`: 256 `.short` offsets into the token table;
//! * `kallsyms_seqs_of_names` (6.1 stable): 3 bytes per symbol, big endian.

/// Number of entries of the kernel's `token_profit` table.
const PAIRS: usize = 0x10000;

/// Result of compressing a symbol list the way scripts/kallsyms.c does.
#[derive(Debug, Clone)]
pub struct Compressed {
    /// Compressed bytes of each symbol.
    symbols: Vec<Vec<u8>>,
    /// Expanded bytes of each token table entry (empty if unused).
    tokens: Vec<Vec<u8>>,
}

/// Compress `symbols` (each: type letter followed by the name).
pub fn compress(symbols: &[Vec<u8>]) -> Compressed {
    let mut syms: Vec<Vec<u8>> = symbols.to_vec();
    let mut profit = vec![0i32; PAIRS];
    // For each pair, symbols that may contain it. A symbol is listed for every
    // pair it had when first learnt, and for every pair a replacement creates
    // (those involve the new code); entries may be stale, never missing.
    let mut occurs: Vec<Vec<u32>> = vec![Vec::new(); PAIRS];

    // build_initial_token_table
    for (i, s) in syms.iter().enumerate() {
        learn(&mut profit, s);
        for w in s.windows(2) {
            let p = pair(w[0], w[1]);
            if occurs[p].last() != Some(&(i as u32)) {
                occurs[p].push(i as u32);
            }
        }
    }

    // insert_real_symbols_in_table
    let mut best_table = [[0u8; 2]; 256];
    let mut best_len = [0u8; 256];
    for s in &syms {
        for &c in s {
            best_table[c as usize][0] = c;
            best_len[c as usize] = 1;
        }
    }

    // optimize_result
    let mut stamp = vec![u32::MAX; syms.len()];
    let mut round = 0u32;
    for i in (0..256usize).rev() {
        if best_len[i] != 0 {
            continue;
        }
        let best = find_best_token(&profit);
        if profit[best] == 0 {
            break;
        }
        let (a, b) = ((best & 0xFF) as u8, (best >> 8) as u8);
        best_len[i] = 2;
        best_table[i] = [a, b];
        let idx = i as u8;

        // compress_symbols
        let candidates = std::mem::take(&mut occurs[best]);
        for &s in &candidates {
            let s = s as usize;
            if stamp[s] == round {
                continue;
            }
            stamp[s] = round;
            let sym = &mut syms[s];
            if !contains_pair(sym, a, b) {
                continue;
            }
            forget(&mut profit, sym);
            replace_pair(sym, a, b, idx);
            learn(&mut profit, sym);
            for j in 0..sym.len().saturating_sub(1) {
                if sym[j] == idx || sym[j + 1] == idx {
                    occurs[pair(sym[j], sym[j + 1])].push(s as u32);
                }
            }
        }
        round += 1;
    }

    // Expand every entry; an entry only refers to real bytes or to entries
    // filled before it (higher slots), so going from 255 down suffices.
    let mut tokens: Vec<Vec<u8>> = vec![Vec::new(); 256];
    for c in 0..256usize {
        if best_len[c] == 1 {
            tokens[c] = vec![best_table[c][0]];
        }
    }
    for c in (0..256usize).rev() {
        if best_len[c] == 2 {
            let [a, b] = best_table[c];
            let mut t = tokens[a as usize].clone();
            t.extend_from_slice(&tokens[b as usize]);
            tokens[c] = t;
        }
    }

    Compressed {
        symbols: syms,
        tokens,
    }
}

/// `token_profit` index of the pair `(a, b)`.
#[inline]
fn pair(a: u8, b: u8) -> usize {
    a as usize | (b as usize) << 8
}

/// `learn_symbol`: count every adjacent pair.
fn learn(profit: &mut [i32], s: &[u8]) {
    for w in s.windows(2) {
        profit[pair(w[0], w[1])] += 1;
    }
}

/// `forget_symbol`: uncount every adjacent pair.
fn forget(profit: &mut [i32], s: &[u8]) {
    for w in s.windows(2) {
        profit[pair(w[0], w[1])] -= 1;
    }
}

/// `find_best_token`: the first index with the greatest count.
fn find_best_token(profit: &[i32]) -> usize {
    let mut best = 0;
    let mut best_profit = -10000;
    for (i, &p) in profit.iter().enumerate() {
        if p > best_profit {
            best = i;
            best_profit = p;
        }
    }
    best
}

/// `find_token` on the whole symbol.
fn contains_pair(s: &[u8], a: u8, b: u8) -> bool {
    s.windows(2).any(|w| w[0] == a && w[1] == b)
}

/// The replacement loop of `compress_symbols`: each occurrence of `(a, b)`,
/// left to right, searching again after the code just written.
fn replace_pair(s: &mut Vec<u8>, a: u8, b: u8, idx: u8) {
    let n = s.len();
    let (mut r, mut w) = (0, 0);
    while r < n {
        if r + 1 < n && s[r] == a && s[r + 1] == b {
            s[w] = idx;
            r += 2;
        } else {
            s[w] = s[r];
            r += 1;
        }
        w += 1;
    }
    s.truncate(w);
}

impl Compressed {
    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    /// Whether there are no symbols.
    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    /// Compressed bytes of symbol i (token indexes).
    pub fn symbol(&self, i: usize) -> &[u8] {
        &self.symbols[i]
    }

    /// The token table: entry c expands to these bytes (empty if unused).
    pub fn token(&self, c: u8) -> &[u8] {
        &self.tokens[c as usize]
    }

    /// Expand symbol i back to its input bytes.
    pub fn expand(&self, i: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for &c in &self.symbols[i] {
            out.extend_from_slice(&self.tokens[c as usize]);
        }
        out
    }

    /// Size in bytes of kallsyms_names as the kernel lays it out (length
    /// prefixes + data), unpadded. The length prefix is ULEB128: one byte for a
    /// compressed length ≤ 0x7F, two bytes above.
    pub fn names_size(&self) -> usize {
        self.symbols
            .iter()
            .map(|s| s.len() + if s.len() <= 0x7F { 1 } else { 2 })
            .sum()
    }

    /// Size of kallsyms_token_table (every token NUL-terminated, as write_src
    /// emits it; an unused entry is a lone NUL).
    pub fn token_table_size(&self) -> usize {
        self.tokens.iter().map(|t| t.len() + 1).sum()
    }

    /// Size of kallsyms_markers: one 4-byte (`.long`) entry per 256 symbols.
    pub fn markers_size(&self) -> usize {
        self.symbols.len().div_ceil(256) * 4
    }

    /// Total bytes of the name-related tables: names + markers + token table +
    /// token index (256 × 2). Excludes `kallsyms_seqs_of_names` (3 bytes per
    /// symbol in 6.1 stable) and alignment padding.
    pub fn total_size(&self) -> usize {
        self.names_size() + self.markers_size() + self.token_table_size() + 256 * 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(list: &[&str]) -> Vec<Vec<u8>> {
        list.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    /// Symbols "Tab", "Tab", "tabc" (type letters T, T, t), by hand:
    ///
    /// * pairs: `Ta`×2, `ab`×3, `ta`×1, `bc`×1. Real bytes T a b c t keep
    ///   their slots; 255 is the first free slot.
    /// * slot 255 ← `ab` (3). Symbols: `T\xff`, `T\xff`, `t\xff c`.
    ///   Pairs: `T\xff`×2, `t\xff`×1, `\xff c`×1.
    /// * slot 254 ← `T\xff` = "Tab" (2). Symbols: `\xfe`, `\xfe`, `t\xff c`.
    /// * tie at 1 between `t\xff` (index 0x74 + 0xff00 = 0xff74) and `\xff c`
    ///   (index 0xff + 0x6300 = 0x63ff): the lower index wins, so
    ///   slot 253 ← `\xff c` = "abc". Third symbol: `t\xfd`.
    /// * slot 252 ← `t\xfd` = "tabc". Third symbol: `\xfc`.
    /// * all counts 0: stop. Slots 251..0 (but the real bytes) stay empty.
    ///
    /// Sizes: names 3 × (1 + 1) = 6; token table: 5 real bytes × 2 + "ab\0" 3 +
    /// "Tab\0" 4 + "abc\0" 4 + "tabc\0" 5 + 247 empty × 1 = 273; markers 4;
    /// index 512; total 795.
    #[test]
    fn hand_computed() {
        let c = compress(&input(&["Tab", "Tab", "tabc"]));
        assert_eq!(c.len(), 3);
        assert_eq!(c.token(255), b"ab");
        assert_eq!(c.token(254), b"Tab");
        assert_eq!(c.token(253), b"abc");
        assert_eq!(c.token(252), b"tabc");
        assert_eq!(c.token(251), b"");
        assert_eq!(c.token(0), b"");
        for b in *b"Tabct" {
            assert_eq!(c.token(b), [b]);
        }
        assert_eq!(c.symbol(0), [254]);
        assert_eq!(c.symbol(1), [254]);
        assert_eq!(c.symbol(2), [252]);
        assert_eq!(c.names_size(), 6);
        assert_eq!(c.token_table_size(), 273);
        assert_eq!(c.markers_size(), 4);
        assert_eq!(c.total_size(), 795);
    }

    /// Overlapping runs are replaced left to right without overlap, and the
    /// two-byte length prefix starts at 0x80 compressed bytes.
    #[test]
    fn overlap_and_long_prefix() {
        // "aaaaa": pairs aa×4 → slot 255 ← "aa", giving \xff \xff a;
        // then pair \xff\xff ×1 (index 0xffff) vs \xff a ×1 (0x61ff): 0x61ff
        // wins → slot 254 ← "aaa", giving \xff \xfe; then slot 253 ← "aaaaa".
        let c = compress(&input(&["aaaaa"]));
        assert_eq!(c.token(255), b"aa");
        assert_eq!(c.token(254), b"aaa");
        assert_eq!(c.token(253), b"aaaaa");
        assert_eq!(c.symbol(0), [253]);

        // 200 distinct bytes, no repeated pair within or across symbols
        // except the shared ones, so some stay long.
        let long: Vec<u8> = (1..=200u8).collect();
        let c = compress(&[long.clone(), long.iter().rev().copied().collect()]);
        assert_eq!(c.expand(0), long);
        let expect: usize = (0..2)
            .map(|i| c.symbol(i).len() + if c.symbol(i).len() >= 0x80 { 2 } else { 1 })
            .sum();
        assert_eq!(c.names_size(), expect);
    }

    /// Deterministic, kernel-like names.
    fn realistic(n: usize) -> Vec<Vec<u8>> {
        let prefixes = [
            "",
            "__",
            "__pfx_",
            "__x64_sys_",
            "tcp_",
            "ext4_",
            "kvm_",
            "drm_",
            "mlx5_",
            "nf_",
            "__traceiter_",
            "trace_event_raw_event_",
            "perf_trace_",
            "__bpf_trace_",
        ];
        let words = [
            "init", "once", "alloc", "free", "page", "lock", "unlock", "write", "read", "buf",
            "cpu", "irq", "handler", "get", "put", "ops", "queue", "work", "dev", "probe",
            "remove", "set", "config", "state", "fn",
        ];
        let types = b"TtDdBbRrWwVA";
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        (0..n)
            .map(|i| {
                let mut s = vec![types[(next() % types.len() as u64) as usize]];
                s.extend_from_slice(prefixes[(next() % prefixes.len() as u64) as usize].as_bytes());
                let k = 1 + next() % 4;
                for j in 0..k {
                    if j > 0 {
                        s.push(b'_');
                    }
                    s.extend_from_slice(words[(next() % words.len() as u64) as usize].as_bytes());
                }
                match next() % 5 {
                    0 => s.extend_from_slice(format!("_{}", i % 977).as_bytes()),
                    1 => s.extend_from_slice(format!(".constprop.{}", i % 3).as_bytes()),
                    2 => s.extend_from_slice(b".cold"),
                    _ => {}
                }
                s
            })
            .collect()
    }

    #[test]
    fn round_trip_realistic() {
        let input = realistic(5000);
        let c = compress(&input);
        assert_eq!(c.len(), input.len());
        for (i, s) in input.iter().enumerate() {
            assert_eq!(&c.expand(i), s, "symbol {i}");
        }
        // Real bytes keep their own slot.
        for s in &input {
            for &b in s {
                assert_eq!(c.token(b), [b]);
            }
        }
        assert!(c.names_size() < input.iter().map(|s| s.len() + 1).sum::<usize>());
        assert_eq!(c.markers_size(), 5000usize.div_ceil(256) * 4);
    }

    /// The running kernel's own symbols (vmlinux only), if readable.
    #[test]
    fn round_trip_proc_kallsyms() {
        let Ok(text) = std::fs::read_to_string("/proc/kallsyms") else {
            return;
        };
        let input: Vec<Vec<u8>> = text
            .lines()
            .filter_map(|l| {
                let mut f = l.split_ascii_whitespace();
                let (_addr, ty, name) = (f.next()?, f.next()?, f.next()?);
                if f.next().is_some() {
                    return None;
                }
                let mut s = ty.as_bytes().to_vec();
                s.extend_from_slice(name.as_bytes());
                Some(s)
            })
            .collect();
        if input.is_empty() {
            return;
        }
        let c = compress(&input);
        for (i, s) in input.iter().enumerate() {
            assert_eq!(&c.expand(i), s, "symbol {i}");
        }
    }

    /// The Debian 6.1 vmlinux, if present: decode its kallsyms tables, compress
    /// the decoded symbols again and require the very same token table and
    /// compressed names, byte for byte.
    #[test]
    fn reproduces_debian_6_1_tables() {
        use object::{Object, ObjectSection, ObjectSymbol};
        const PATH: &str = "/root/.cache/probeaddr/debian-6.1.0-56-cloud-amd64/root/usr/lib/debug/boot/vmlinux-6.1.0-56-cloud-amd64";
        let Ok(file) = std::fs::File::open(PATH) else {
            return;
        };
        // SAFETY: a read-only map of a file nobody writes during the test.
        let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
        let elf = object::File::parse(&*map).unwrap();
        // The bytes from symbol `name` to the end of its section.
        let from = |name: &str| -> &[u8] {
            let sym = elf.symbols().find(|s| s.name() == Ok(name)).unwrap();
            let section = elf.section_by_index(sym.section_index().unwrap()).unwrap();
            let data = section.data().unwrap();
            &data[(sym.address() - section.address()) as usize..]
        };
        let n = u32::from_le_bytes(from("kallsyms_num_syms")[..4].try_into().unwrap()) as usize;
        let index: Vec<usize> = from("kallsyms_token_index")[..512]
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]) as usize)
            .collect();
        let table = from("kallsyms_token_table");
        let tokens: Vec<&[u8]> = index
            .iter()
            .map(|&at| {
                let end = at + table[at..].iter().position(|&b| b == 0).unwrap();
                &table[at..end]
            })
            .collect();
        let names = from("kallsyms_names");
        let (mut at, mut compressed, mut input) = (0, Vec::new(), Vec::new());
        for _ in 0..n {
            let mut len = names[at] as usize;
            at += 1;
            if len & 0x80 != 0 {
                len = (len & 0x7F) | (names[at] as usize) << 7;
                at += 1;
            }
            let c = &names[at..at + len];
            at += len;
            input.push(
                c.iter()
                    .flat_map(|&t| tokens[t as usize].iter().copied())
                    .collect::<Vec<u8>>(),
            );
            compressed.push(c);
        }
        let c = compress(&input);
        for t in 0..=255u8 {
            assert_eq!(c.token(t), tokens[t as usize], "token {t}");
        }
        for (i, want) in compressed.iter().enumerate() {
            assert_eq!(c.symbol(i), *want, "symbol {i}");
        }
        // 1,131,136 bytes up to kallsyms_markers, less 5 bytes of padding.
        assert_eq!(c.names_size(), at);
        assert_eq!(at, 1_131_131);
        assert_eq!(c.token_table_size(), index[255] + tokens[255].len() + 1);
        assert_eq!(c.markers_size(), n.div_ceil(256) * 4);
    }
}
