use super::*;

fn func(spec: &ProbeSpec) -> (&str, Option<&str>, u64, Option<LineSpec>) {
    match &spec.point {
        Point::Function {
            func,
            file,
            offset,
            line,
        } => (
            func.as_str(),
            file.as_ref().map(|f| f.as_str()),
            *offset,
            *line,
        ),
        other => panic!("not a function point: {other:?}"),
    }
}

#[test]
fn perf_function_forms() {
    let s = ProbeSpec::parse("helper@b.c").unwrap();
    assert_eq!(s.target, Target::Process(None));
    assert_eq!(func(&s), ("helper", Some("b.c"), 0, None));
    let s = ProbeSpec::parse("helper@src/b.c+0x4").unwrap();
    assert_eq!(func(&s), ("helper", Some("src/b.c"), 4, None));
    let s = ProbeSpec::parse("helper+16").unwrap();
    assert_eq!(func(&s), ("helper", None, 16, None));
    let s = ProbeSpec::parse("helper%return").unwrap();
    assert_eq!(s.kind, ProbeKind::Return);
    let s = ProbeSpec::parse("helper@b.c%return").unwrap();
    assert_eq!(func(&s), ("helper", Some("b.c"), 0, None));
    assert_eq!(s.kind, ProbeKind::Return);
    let s = ProbeSpec::parse("helper@b.c:3").unwrap();
    assert_eq!(
        func(&s),
        ("helper", Some("b.c"), 0, Some(LineSpec::Relative(3)))
    );
    let s = ProbeSpec::parse("myev=help*@*.c").unwrap();
    assert_eq!(s.event.as_deref(), Some("myev"));
    assert_eq!(func(&s), ("help*", Some("*.c"), 0, None));
}

#[test]
fn perf_line_forms() {
    let s = ProbeSpec::parse("b.c:12").unwrap();
    assert_eq!(
        s.point,
        Point::Line {
            file: Pattern::new("b.c"),
            line: 12
        }
    );
    let s = ProbeSpec::parse("src/b.c:7").unwrap();
    assert!(matches!(s.point, Point::Line { line: 7, .. }));
    // No '.' before ':' means a function with a relative line, like perf.
    let s = ProbeSpec::parse("vfs_read:20").unwrap();
    assert_eq!(
        func(&s),
        ("vfs_read", None, 0, Some(LineSpec::Relative(20)))
    );
}

#[test]
fn stap_forms() {
    let s = ProbeSpec::parse(r#"process("./prog").function("helper@b.c")"#).unwrap();
    assert_eq!(s.target, Target::Process(Some("./prog".into())));
    assert_eq!(func(&s), ("helper", Some("b.c"), 0, None));
    let s = ProbeSpec::parse(r#"kernel.function("init_once@fs/proc/inode.c").return"#).unwrap();
    assert_eq!(s.target, Target::Kernel);
    assert_eq!(s.kind, ProbeKind::Return);
    let s = ProbeSpec::parse(r#"module("ext4").function("ext4_*").call"#).unwrap();
    assert_eq!(s.target, Target::Module("ext4".into()));
    assert_eq!(s.inlines, InlineFilter::CallOnly);
    let s = ProbeSpec::parse(r#"process("/bin/x").statement("*@b.c:12")"#).unwrap();
    assert_eq!(
        s.point,
        Point::Line {
            file: Pattern::new("b.c"),
            line: 12
        }
    );
    let s = ProbeSpec::parse(r#"kernel.function("foo@a.c+3")"#).unwrap();
    assert_eq!(
        func(&s),
        ("foo", Some("a.c"), 0, Some(LineSpec::Relative(3)))
    );
    let s = ProbeSpec::parse(r#"kernel.data("jiffies")"#).unwrap();
    assert_eq!(
        s.point,
        Point::Data {
            name: Pattern::new("jiffies")
        }
    );
    let s = ProbeSpec::parse(r#"process.function("main")"#).unwrap();
    assert_eq!(s.target, Target::Process(None));
}

#[test]
fn both_syntaxes_same_spec() {
    let a = ProbeSpec::parse("helper@b.c%return").unwrap();
    let mut b = ProbeSpec::parse(r#"process.function("helper@b.c").return"#).unwrap();
    b.syntax = Syntax::Perf;
    assert_eq!(a, b);
}

fn col(text: &str) -> String {
    let e = ProbeSpec::parse(text).unwrap_err();
    assert_eq!(e.kind(), crate::ErrorKind::Syntax);
    e.message().to_string()
}

#[test]
fn errors_point_at_column() {
    {
        let m = col(r#"process("./prog".function("x")"#);
        assert!(m.contains("column 17: expected ')'"), "{m}");
    }
    {
        let m = col(r#"kernel.funcion("x")"#);
        assert!(m.contains("column 8: unknown probe type 'funcion'"), "{m}");
    }
    {
        let m = col("helper+0xzz");
        assert!(m.contains("column 8: bad offset '0xzz'"), "{m}");
    }
    {
        let m = col("helper%ret");
        assert!(m.contains("column 8: unknown '%ret'"), "{m}");
    }
    {
        let m = col("helper+4%return");
        assert!(m.contains("column 9"), "{m}");
    }
    {
        let m = col("b.c:x");
        assert!(m.contains("column 5: expected a line number"), "{m}");
    }
    {
        let m = col("");
        assert!(m.contains("column 1: empty probe point"), "{m}");
    }
    {
        let m = col("1ev=helper");
        assert!(
            m.contains("column 1: an event name starts with a letter or '_'"),
            "{m}"
        );
    }
    {
        let long = format!("{}=helper", "e".repeat(64));
        let m = col(&long);
        assert!(m.contains("column 64: an event name has at most 63 characters (the kernel's MAX_EVENT_NAME_LEN - 1); this one has 64"), "{m}");
        let ok = format!("{}=helper", "e".repeat(63));
        assert_eq!(
            ProbeSpec::parse(&ok).unwrap().event.as_deref(),
            Some(&*"e".repeat(63))
        );
    }
    {
        let m = col("helper%return%return");
        assert!(m.contains("column 14: %return given twice"), "{m}");
    }
    {
        let m = col("he(lper");
        assert!(m.contains("column 3: unexpected '('"), "{m}");
    }
    {
        let m = col(r#"process("x").function("f").retrun"#);
        assert!(m.contains("column 28: unsupported suffix '.retrun'"), "{m}");
    }
    let e = ProbeSpec::parse(r#"process("x".function("f")"#).unwrap_err();
    assert_eq!(
        e.detail(),
        Some("  process(\"x\".function(\"f\")\n             ^")
    );
}

#[test]
fn display_round_trips() {
    for t in [
        "helper",
        "helper@b.c+0x4",
        "ev=helper@b.c%return",
        "help*@*.c:3",
        "b.c:12",
        r#"process("/bin/x").function("helper@b.c").return"#,
        r#"kernel.function("init_once@fs/proc/inode.c")"#,
        r#"module("ext4").function("ext4_*").call"#,
        r#"kernel.data("jiffies")"#,
        r#"process.function("f@b.c:12")"#,
        r#"kernel.statement("*@fs/open.c:120")"#,
        // Found by the fuzzer: a file that starts like perf's 0xADDR must
        // not be printed in perf syntax, or it reads back as an address.
        "process.statement(\"*@0Xeeb.\u{1d}c:12\")",
        r#"process.function("0xabc")"#,
        "0x43770%return",
        // USDT markers, in both syntaxes.
        "%python:function__entry",
        "%python:gc*",
        r#"process("/usr/bin/python3.11").provider("python").mark("line")"#,
        r#"process.mark("tick")"#,
        // C++, Rust and Go names.
        "ns::Klass::method",
        "ns::Klass::method(int)@a.cc",
        "ns::twice<int>%return",
        "mycrate::parse::Parser::next:3",
        "net/http.(*Server).Serve",
        r#"process("/bin/x").function("ns::Klass::method@a.cc:12")"#,
        // Symbol versions: the default (`@@`) and any (`@`).
        "pthread_create@@GLIBC_2.34",
        "realpath@GLIBC_2.2.5%return",
    ] {
        let s = ProbeSpec::parse(t).unwrap();
        let back = s.to_string();
        let mut s2 = ProbeSpec::parse(&back).unwrap_or_else(|e| panic!("{t} -> {back}: {e}"));
        s2.syntax = s.syntax;
        assert_eq!(s, s2, "{t} -> {back}");
    }
    // perf's cached-event spelling is the same marker.
    assert_eq!(
        ProbeSpec::parse("sdt_python:line").unwrap().point,
        ProbeSpec::parse("%python:line").unwrap().point
    );
    // A file:line whose file starts with sdt_ is still a line.
    assert!(matches!(
        ProbeSpec::parse("sdt_x.c:12").unwrap().point,
        Point::Line { .. }
    ));
    assert!(ProbeSpec::parse("%python").is_err());
    assert!(ProbeSpec::parse(r#"kernel.mark("x")"#).is_err());
    // A C++ name keeps its '::' where ':' is a line.
    let s = ProbeSpec::parse("ns::f:12").unwrap();
    assert!(matches!(
        s.point,
        Point::Function { ref func, line: Some(LineSpec::Relative(12)), .. } if func.as_str() == "ns::f"
    ));
    let e = ProbeSpec::parse("ns::f(int").unwrap_err();
    assert!(
        e.message()
            .contains("column 6: unexpected '(' in function name: it is not closed"),
        "{}",
        e.message()
    );
    // A version reads back in perf syntax, as written.
    let s = ProbeSpec::parse("pthread_create@@GLIBC_2.34").unwrap();
    assert_eq!(s.to_string(), "pthread_create@@GLIBC_2.34");
    assert!(ProbeSpec::parse("f@@").is_err());
}

/// Inputs cargo fuzz (fuzz/fuzz_targets/probe_spec.rs) found; each broke the
/// print-and-parse-back invariant or panicked.
#[test]
fn fuzz_regressions() {
    // A marker whose provider starts with perf's `sdt_` lost it on the way
    // back (CI's smoke run found "sdt_sdt_:s").
    let s = ProbeSpec::parse("sdt_sdt_:s").unwrap();
    assert_eq!(s.to_string(), "%sdt_sdt_:s");
    assert_eq!(ProbeSpec::parse(&s.to_string()).unwrap().point, s.point);
    // A dotted name with a '::' was read back as FILE:LINE ("zh.ste" line
    // ":odula.f").
    let t = "zh.ste::odula.f+0\r\r$comm\raaaax";
    let s = ProbeSpec::parse(t).unwrap();
    let back = ProbeSpec::parse(&s.to_string()).unwrap();
    assert_eq!(back.point, s.point, "{}", s);
    // A file with an unpaired bracket, printed in perf syntax, read back
    // as a function.
    let s = ProbeSpec::parse("process.statement(\"*@<\0b.c\0vf:12\")").unwrap();
    assert_eq!(
        ProbeSpec::parse(&s.to_string()).unwrap().point,
        s.point,
        "{}",
        s
    );
    // ... and one that only closes keeps perf syntax (and its event; the
    // fuzzer's `6=` is now refused as an event name, so `e6=`), as a
    // function's file with one does.
    let s = ProbeSpec::parse("e6=[]\0.t).:7").unwrap();
    assert_eq!(s.to_string(), "e6=[]\0.t).:7");
    let s = ProbeSpec::parse("kevenc527nc=277e@)").unwrap();
    assert_eq!(s.to_string(), "kevenc527nc=277e@)");
    // A bare line's file starting with '@' (a version's spelling after a
    // function) printed in perf syntax.
    let s = ProbeSpec::parse("process.statement(\"*@@a.c:3\")").unwrap();
    assert_eq!(
        ProbeSpec::parse(&s.to_string()).unwrap().point,
        s.point,
        "{}",
        s
    );
    // FUNC:N whose name has a '.' only after its first ':' is no FILE:N
    // to perf's parser, so it keeps perf syntax and its event name.
    let t = "v00000=0($*:($*:].>].>c368nfs:20";
    let s = ProbeSpec::parse(t).unwrap();
    assert_eq!(s.to_string(), t);
    // A bare FUNC that perf's parser would read as FILE:LINE (a '.' before
    // its first ':') keeps its '+0', and so its event name.
    let t = "zh.(:>sde::odula.f+0\r\r$comm\raaaax";
    let s = ProbeSpec::parse(t).unwrap();
    assert_eq!(s.to_string(), "zh.(:>sde::odula.f+0 $comm aaaax");
    assert_eq!(ProbeSpec::parse(&s.to_string()).unwrap(), s);
    let s = ProbeSpec::parse("ev=zh.(:>s+0").unwrap();
    assert_eq!(s.to_string(), "ev=zh.(:>s+0");
    // A file's ';' inside brackets is still the lazy-pattern ';'.
    assert!(ProbeSpec::parse("e6=[t(\"j;).:7").is_err());
    // A file named with '::' is refused in perf syntax as in SystemTap's.
    assert!(ProbeSpec::parse("::..:3").is_err());
    // A function with an unclosed bracket, which only SystemTap syntax can
    // hold, printed in perf syntax.
    let t = r#"process.statement("*module(@bf+022")"#;
    let s = ProbeSpec::parse(t).unwrap();
    assert_eq!(
        ProbeSpec::parse(&s.to_string()).unwrap().point,
        s.point,
        "{}",
        s
    );
    // A ':' in a file name printed back as "b.c::6".
    let e = ProbeSpec::parse(r#"process.statement("*@b.c::06")"#).unwrap_err();
    assert!(
        e.message().contains("a ':' in a source file name"),
        "{}",
        e.message()
    );
    // A file perf syntax cannot say (no '.') prints as SystemTap syntax.
    let s = ProbeSpec::parse(r#"process.statement("*@b]~c:12")"#).unwrap();
    assert_eq!(s.to_string(), r#"process.statement("*@b]~c:12")"#);
    // A second '=' lost the event name on the way back.
    let e = ProbeSpec::parse("ev=f@a=b.c").unwrap_err();
    assert!(e.message().contains("a second '='"), "{}", e.message());
    // An empty function before a relative line.
    let e = ProbeSpec::parse(r#"process.statement("+36")"#).unwrap_err();
    assert!(
        e.message().contains("expected a function name"),
        "{}",
        e.message()
    );
    // FUNC:N with a '.' in FUNC reads back as FILE:N in perf syntax.
    let s = ProbeSpec::parse(r#"process.statement("**[b.cc+36")"#).unwrap();
    let back = ProbeSpec::parse(&s.to_string()).unwrap();
    assert_eq!(back.point, s.point);
    // An escaped multi-byte character inside a quoted argument (panicked).
    assert!(ProbeSpec::parse("process.function(\"a\\\u{5ff}b\")").is_ok());
    // A syntax error right after a multi-byte character (panicked).
    assert!(ProbeSpec::parse("module(\"\u{c614}\").function(\"x\").y").is_err());
    // A perf form that looks like SystemTap syntax.
    let s = ProbeSpec::parse(r#"process.statement("*@kernel.b.:12")"#).unwrap();
    let back = ProbeSpec::parse(&s.to_string()).unwrap();
    assert_eq!(back.point, s.point);
}

#[test]
fn perf_absolute_addresses() {
    let s = ProbeSpec::parse("0x43770").unwrap();
    assert_eq!(s.point, Point::Address { addr: 0x43770 });
    assert_eq!(s.kind, ProbeKind::Entry);
    assert_eq!(s.to_string(), "0x43770");
    let s = ProbeSpec::parse("ev=0xffffffff813cd1f0%return").unwrap();
    assert_eq!(
        s.point,
        Point::Address {
            addr: 0xffffffff813cd1f0
        }
    );
    assert_eq!(s.kind, ProbeKind::Return);
    assert_eq!(s.event.as_deref(), Some("ev"));
    assert_eq!(ProbeSpec::parse(&s.to_string()).unwrap(), s);
    let m = col("0xzz");
    assert!(
        m.contains("column 1: expected a hexadecimal address after '0x'"),
        "{m}"
    );
    let m = col("0x10+4");
    assert!(m.contains("expected a hexadecimal address"), "{m}");
    let m = col("0x10%entry");
    assert!(
        m.contains("column 5: only '%return' may follow an address"),
        "{m}"
    );
}
