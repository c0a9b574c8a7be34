//! Pins: the probe point that names one location alone among the
//! locations of a probe point (`helper@b.c`, `host@f.c+0x7d`, `0x43770`).
//!
//! A pin is chosen by counting, for each candidate name and file suffix,
//! how many locations it would select. Done naively that is every pair of
//! locations, and a helper inlined at 6,000 sites (`get_current`) makes it
//! tens of millions of path comparisons. Here the locations are indexed
//! once — by every name that selects them and then by the basename of
//! every file that can match them — so a count looks only at the
//! locations that could share the pin: the cost grows with the answer.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::index::names::file_matches;
use crate::location::{Anchor, Location, LocationKind};
use crate::spec::Pattern;

/// The probe point that names each location alone among `all` (see
/// [`Location::pin`]), computed together: the cost grows with the number
/// of locations, not with its square.
pub fn pins(all: &[Location]) -> Vec<Option<String>> {
    let targets: Vec<&Location> = all.iter().collect();
    pins_of(&targets, all)
}

/// The pins of `targets` among `all`.
pub(crate) fn pins_of(targets: &[&Location], all: &[Location]) -> Vec<Option<String>> {
    use crate::index::names::{demangle, split_variant, squash};
    // An overload or instantiation by its name with parameters
    // (`ns::Klass::method(int)`): computed once for every location.
    let by_params =
        |l: &Location| l.demangled.is_some() && l.offset == 0 && l.inlined_into.is_none();
    let params: Vec<Option<String>> = if targets.iter().any(|l| by_params(l)) {
        all.iter()
            .map(|l| demangle(split_variant(&l.symbol).0).map(|d| squash(&d.with_params)))
            .collect()
    } else {
        Vec::new()
    };
    let mut param_count: HashMap<&str, usize> = HashMap::new();
    for n in params.iter().flatten() {
        *param_count.entry(n.as_str()).or_default() += 1;
    }
    // File-local functions of one name in several files
    // (`local(int)@names_a.cc`): the same rule as C names, over the names
    // with parameters.
    let param_set = (!params.is_empty()).then(|| {
        PinSet::new(
            all.iter()
                .zip(&params)
                .map(|(o, n)| {
                    let mut pk = PinKey::of(o);
                    if let Some(n) = n {
                        pk.symbol = n;
                        pk.function = n;
                    }
                    pk
                })
                .collect(),
        )
    });
    let mut markers: HashMap<(&str, &str), usize> = HashMap::new();
    for m in all.iter().filter_map(|o| o.marker.as_ref()) {
        *markers.entry((&m.provider, &m.name)).or_default() += 1;
    }
    let mut versions: HashMap<(&str, &str), usize> = HashMap::new();
    for o in all {
        if let Some(v) = &o.version {
            *versions.entry((&o.symbol, v)).or_default() += 1;
        }
    }
    let mut addrs: HashMap<u64, usize> = HashMap::new();
    for o in all {
        *addrs.entry(o.addr.get()).or_default() += 1;
    }
    // A point that named a clone exactly (`foo.part.0`) matched none of
    // foo's other copies or inlined sites; `foo@FILE` would. Pin such a
    // location by its full name only.
    let mut by_function: HashMap<&str, bool> = HashMap::new();
    let set = PinSet::new(all.iter().map(PinKey::of).collect());

    let mut out = Vec::with_capacity(targets.len());
    for l in targets {
        let pin = (|| {
            if by_params(l) {
                if let Some(k) =
                    demangle(split_variant(&l.symbol).0).map(|d| squash(&d.with_params))
                {
                    if param_count.get(k.as_str()) == Some(&1) {
                        return Some(k);
                    }
                    let mut me = PinKey::of(l);
                    me.symbol = &k;
                    me.function = &k;
                    me.by_function = false;
                    if let Some(p) = param_set.as_ref().and_then(|s| s.pin(&me)) {
                        return Some(p);
                    }
                }
            }
            // A marker by its provider and name, when no other site has both.
            if let Some(m) = &l.marker {
                if markers.get(&(m.provider.as_str(), m.name.as_str())) == Some(&1) {
                    return Some(format!("%{}:{}", m.provider, m.name));
                }
            }
            let mut me = PinKey::of(l);
            me.by_function = *by_function.entry(&l.point).or_insert_with(|| {
                crate::spec::ProbeSpec::parse(&l.point)
                    .map(|s| s.name_pattern().is_none_or(|p| !p.as_str().contains('.')))
                    .unwrap_or(false)
            });
            if let Some(p) = set.pin(&me) {
                return Some(p);
            }
            // Versions of one function (`realpath@@GLIBC_2.3`, the
            // default, and `realpath@GLIBC_2.2.5`): the version names it.
            if let Some(v) = l.version.as_deref() {
                if l.offset == 0 && versions.get(&(l.symbol.as_str(), v)) == Some(&1) {
                    return Some(format!("{}{v}", l.symbol));
                }
            }
            // No name singles it out (a function whose unit's file every
            // other copy #includes: round_and_return in strtod_l.c): its
            // address does, in a linked object.
            (l.kind != LocationKind::Data
                && !matches!(l.anchor, Anchor::ModuleSection { .. })
                && addrs.get(&l.addr.get()) == Some(&1))
            .then(|| format!("{:#x}", l.addr.get()))
        })();
        out.push(pin);
    }
    out
}

/// What a pin is made of; also built for names that are not locations
/// (the instances of a duplicated kernel name).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PinKey<'a> {
    pub symbol: &'a str,
    pub function: &'a str,
    pub aliases: &'a [String],
    pub file: Option<&'a str>,
    pub source_path: Option<&'a str>,
    /// The declaration file, when not the unit: `@` matches it too.
    pub decl_file: Option<&'a str>,
    pub offset: u64,
    /// An inlined site: `offset` is into the host `symbol`, and the
    /// inlined `function` names the site with no offset.
    pub inlined: bool,
    /// The pin may name the source-level function (`foo@b.c` for
    /// `foo.isra.0`): the locations it is counted among are all that name
    /// matches.
    pub by_function: bool,
}

impl<'a> PinKey<'a> {
    pub(crate) fn of(l: &'a Location) -> PinKey<'a> {
        PinKey {
            symbol: &l.symbol,
            function: &l.function,
            aliases: &l.aliases,
            file: l.file.as_deref(),
            source_path: l.source_path.as_deref(),
            decl_file: l.decl_file.as_deref(),
            offset: l.offset,
            inlined: l.inlined_into.is_some(),
            by_function: true,
        }
    }
}

/// Up to this many candidates for a name are scanned as they are; more
/// are bucketed by file basename first.
const SCAN: usize = 16;

/// The keys a pin is counted among, indexed by name and file basename.
pub(crate) struct PinSet<'a> {
    keys: Vec<PinKey<'a>>,
    /// Every key under each name that may select it (symbol, function,
    /// aliases): a superset of what [`PinSet::names_it`] accepts.
    by_name: HashMap<&'a str, Vec<u32>>,
    /// Per name with many candidates: those candidates by the basename of
    /// each of their files, built on first use.
    buckets: RefCell<HashMap<String, Rc<Buckets<'a>>>>,
}

/// The candidates of one name by file basename.
struct Buckets<'a> {
    by_base: HashMap<&'a str, Vec<u32>>,
    /// Keys with a file whose basename is a glob: checked for every file.
    wild: Vec<u32>,
}

fn is_glob(s: &str) -> bool {
    s.bytes().any(|b| matches!(b, b'*' | b'?' | b'['))
}

/// The last path component as [`file_matches`] sees it.
fn last_component(p: &str) -> Option<&str> {
    p.split('/').rfind(|c| !c.is_empty() && *c != ".")
}

/// The file pins `l` may take, shortest first: every suffix of its file's
/// and source path's components (`b.c`, `src/b.c`, `/home/src/b.c`).
fn suffixes(l: &PinKey<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for path in [l.file, l.source_path].into_iter().flatten() {
        let comps: Vec<&str> = path
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        for k in 1..=comps.len() {
            let mut s = comps[comps.len() - k..].join("/");
            if k == comps.len() && path.starts_with('/') {
                s.insert(0, '/');
            }
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out.sort_by_key(|s| s.len());
    out
}

/// How many of `hits` there are: 0, 1, or 2 for "more" (it stops at the
/// second). With `offset_pin`, keys of one host in one file count once.
fn one_or_more<'k, 'a: 'k>(hits: impl Iterator<Item = &'k PinKey<'a>>, offset_pin: bool) -> usize {
    if !offset_pin {
        return hits.take(2).count();
    }
    let mut first = None;
    for h in hits.map(|o| (o.symbol, o.file, o.source_path)) {
        match first {
            None => first = Some(h),
            Some(f) if f != h => return 2,
            Some(_) => {}
        }
    }
    usize::from(first.is_some())
}

impl<'a> PinSet<'a> {
    pub(crate) fn new(keys: Vec<PinKey<'a>>) -> PinSet<'a> {
        let mut by_name: HashMap<&'a str, Vec<u32>> = HashMap::new();
        for (i, k) in keys.iter().enumerate() {
            let i = i as u32;
            for n in [k.symbol, k.function]
                .into_iter()
                .chain(k.aliases.iter().map(String::as_str))
            {
                let v = by_name.entry(n).or_default();
                if v.last() != Some(&i) {
                    v.push(i);
                }
            }
        }
        PinSet {
            keys,
            by_name,
            buckets: RefCell::new(HashMap::new()),
        }
    }

    /// The keys, in the order given.
    pub(crate) fn keys(&self) -> &[PinKey<'a>] {
        &self.keys
    }

    fn names_it(o: &PinKey<'_>, sym: &str) -> bool {
        o.symbol == sym
            || (o.function == sym && !sym.contains('.'))
            || o.aliases.iter().any(|a| a == sym)
    }

    fn in_file(o: &PinKey<'_>, p: &Pattern) -> bool {
        let f = p.as_str();
        o.file.is_some_and(|of| file_matches(p, of))
            || o.source_path.is_some_and(|of| file_matches(p, of))
            // Only the relative form of the declaration file is known: an
            // absolute pin counts as matching when it ends with it, which
            // can only make a pin rarer, never wrong.
            || o.decl_file.is_some_and(|d| {
                file_matches(p, d) || file_matches(&Pattern::new(d), f.trim_start_matches('/'))
            })
    }

    fn buckets(&self, sym: &str, cands: &[u32]) -> Rc<Buckets<'a>> {
        if let Some(b) = self.buckets.borrow().get(sym) {
            return b.clone();
        }
        let mut by_base: HashMap<&'a str, Vec<u32>> = HashMap::new();
        let mut wild = Vec::new();
        for &i in cands {
            let k = &self.keys[i as usize];
            let bases: Vec<&'a str> = [k.file, k.source_path, k.decl_file]
                .into_iter()
                .flatten()
                .filter_map(last_component)
                .collect();
            if bases.iter().any(|b| is_glob(b)) {
                wild.push(i);
                continue;
            }
            for b in bases {
                let v = by_base.entry(b).or_default();
                if v.last() != Some(&i) {
                    v.push(i);
                }
            }
        }
        let b = Rc::new(Buckets { by_base, wild });
        self.buckets.borrow_mut().insert(sym.to_string(), b.clone());
        b
    }

    /// How many keys `sym` (in `file`) selects: 0, 1, or 2 for "more".
    /// With `offset_pin`, keys of one host in one file count once.
    fn count(&self, sym: &str, file: Option<&Pattern>, offset_pin: bool) -> usize {
        let Some(cands) = self.by_name.get(sym) else {
            return 0;
        };
        let bucketed;
        let scan: Box<dyn Iterator<Item = u32> + '_> = match file {
            Some(p) if cands.len() > SCAN => match last_component(p.as_str()) {
                Some(base) if !is_glob(base) => {
                    bucketed = self.buckets(sym, cands);
                    Box::new(
                        bucketed
                            .by_base
                            .get(base)
                            .into_iter()
                            .flatten()
                            .chain(&bucketed.wild)
                            .copied(),
                    )
                }
                _ => Box::new(cands.iter().copied()),
            },
            _ => Box::new(cands.iter().copied()),
        };
        let hits = scan
            .map(|i| &self.keys[i as usize])
            .filter(|o| Self::names_it(o, sym) && file.is_none_or(|f| Self::in_file(o, f)));
        one_or_more(hits, offset_pin)
    }

    /// The one pinning rule (see [`Location::pin`]): the pin of `l` among
    /// the keys.
    pub(crate) fn pin(&self, l: &PinKey<'_>) -> Option<String> {
        // A pin with an offset (`host@f.c+0x7d`) selects the copies of the
        // host at that offset: two inlined sites in one host are one host.
        let offset_pin = |sym: &str| l.offset > 0 && !(l.inlined && sym == l.function);
        // An inlined site is named by its function alone (`twice@inl2.c`
        // resolves to the site), or by its host with the offset into it.
        let with_off = |sym: &str, p: String| {
            if offset_pin(sym) {
                format!("{p}+{:#x}", l.offset)
            } else {
                p
            }
        };
        let suffixes = suffixes(l);
        let names = if l.by_function {
            vec![l.function, l.symbol]
        } else {
            vec![l.symbol]
        };
        for sym in names {
            for f in &suffixes {
                if self.count(sym, Some(&Pattern::new(f.as_str())), offset_pin(sym)) == 1 {
                    return Some(with_off(sym, format!("{sym}@{f}")));
                }
            }
        }
        if self.count(l.symbol, None, offset_pin(l.symbol)) == 1 {
            return Some(with_off(l.symbol, l.symbol.to_string()));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key<'a>(file: &'a str, path: &'a str) -> PinKey<'a> {
        PinKey {
            symbol: "helper",
            function: "helper",
            aliases: &[],
            file: Some(file),
            source_path: Some(path),
            decl_file: None,
            offset: 0,
            inlined: false,
            by_function: true,
        }
    }

    #[test]
    fn pins_take_the_shortest_distinguishing_suffix() {
        let set = PinSet::new(vec![
            key("a.c", "/home/src/a.c"),
            key("b.c", "/home/src/b.c"),
            key("sub/b.c", "/home/src/sub/b.c"),
        ]);
        let pin = |i: usize| set.pin(&set.keys()[i]);
        assert_eq!(pin(0).as_deref(), Some("helper@a.c"));
        // b.c names both b.c files; src/b.c only the first.
        assert_eq!(pin(1).as_deref(), Some("helper@src/b.c"));
        assert_eq!(pin(2).as_deref(), Some("helper@sub/b.c"));
    }

    /// The bucketed count (many candidates) gives the pins the plain scan
    /// gives (few): the same keys, repeated past the scan limit.
    #[test]
    fn many_candidates_get_the_pins_few_do() {
        let files: Vec<(String, String)> = (0..40)
            .map(|i| {
                let f = format!("d{}/f{}.c", i % 5, i % 8);
                (f.clone(), format!("/src/{f}"))
            })
            .collect();
        let mut keys: Vec<PinKey<'_>> = files.iter().map(|(f, p)| key(f, p)).collect();
        keys[3].decl_file = Some("include/h*.h");
        keys[7].decl_file = Some("include/x.h");
        keys[9].inlined = true;
        keys[9].offset = 0x10;
        let many = PinSet::new(keys.clone());
        let mut pinned = 0;
        for (i, k) in keys.iter().enumerate() {
            let pin = many.pin(k);
            assert_eq!(pin, reference_pin(k, &keys), "key {i}");
            pinned += usize::from(pin.is_some());
        }
        // f0.c..f7.c in d0..d4: 40 keys, 40 distinct (dir, file) pairs.
        assert_eq!(pinned, 40);
        assert_eq!(many.pin(&keys[9]).as_deref(), Some("helper@d4/f1.c"));
    }

    /// The rule without any index, as it was first written.
    fn reference_pin(l: &PinKey<'_>, all: &[PinKey<'_>]) -> Option<String> {
        let count = |sym: &str, file: Option<&Pattern>, offset_pin: bool| {
            let hits = all
                .iter()
                .filter(|o| PinSet::names_it(o, sym) && file.is_none_or(|f| PinSet::in_file(o, f)));
            one_or_more(hits, offset_pin)
        };
        let offset_pin = |sym: &str| l.offset > 0 && !(l.inlined && sym == l.function);
        let suffixes = suffixes(l);
        for sym in [l.function, l.symbol] {
            for f in &suffixes {
                if count(sym, Some(&Pattern::new(f.as_str())), offset_pin(sym)) == 1 {
                    let p = format!("{sym}@{f}");
                    return Some(if offset_pin(sym) {
                        format!("{p}+{:#x}", l.offset)
                    } else {
                        p
                    });
                }
            }
        }
        (count(l.symbol, None, offset_pin(l.symbol)) == 1).then(|| l.symbol.to_string())
    }
}
