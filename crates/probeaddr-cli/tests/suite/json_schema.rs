//! `--format json` follows docs/json.md: the document's field table is read
//! here, and every entry of real output — user space, the kernel image,
//! modules, data, a kallsyms listing, lines, inlined sites, a build-id
//! mismatch — has exactly the keys it lists, of the types it says. The
//! document's own examples are checked the same way, and plans are the
//! location fields alone.

use std::collections::BTreeSet;

use super::fixtures::{self, probeaddr};
use super::kernel::world;

/// One row of the field table.
#[derive(Debug)]
struct Field {
    path: Vec<String>,
    types: Vec<String>,
    /// `kind=a,b` / `status=x`: present only when the parent's key has one of these values.
    when: Option<(String, Vec<String>)>,
}

fn fields() -> Vec<Field> {
    let doc = std::fs::read_to_string(fixtures::src_dir().join("../../docs/json.md")).unwrap();
    let table = doc
        .split("<!-- fields -->")
        .nth(1)
        .and_then(|t| t.split("<!-- /fields -->").next())
        .expect("docs/json.md has the fields table");
    let mut out = Vec::new();
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split(" | ").collect();
        let key = cells[0].trim_start_matches("| ").trim_matches('`');
        let types = cells[1].replace("\\|", "|");
        let when = match cells[2].trim() {
            "always" => None,
            w => {
                let (k, v) = w.split_once('=').expect("present: always or key=values");
                Some((k.to_string(), v.split(',').map(str::to_string).collect()))
            }
        };
        out.push(Field {
            path: key.split('.').map(str::to_string).collect(),
            types: types.split('|').map(|t| t.trim().to_string()).collect(),
            when,
        });
    }
    assert!(out.len() > 50, "{out:?}");
    out
}

fn type_of(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(s) if s.starts_with("0x") => "hex",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// Check one entry (and its nested objects) against the table.
fn check(entry: &serde_json::Value, fields: &[Field], ctx: &str) {
    check_level(entry, fields, &[], ctx);
}

fn check_level(v: &serde_json::Value, fields: &[Field], prefix: &[String], ctx: &str) {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("{ctx}: not an object: {v}"));
    let here: Vec<&Field> = fields
        .iter()
        .filter(|f| f.path.len() == prefix.len() + 1 && f.path[..prefix.len()] == *prefix)
        .collect();
    let mut want = BTreeSet::new();
    for f in &here {
        let key = &f.path[prefix.len()];
        let present = match &f.when {
            None => true,
            Some((k, vals)) => obj
                .get(k)
                .and_then(|x| x.as_str())
                .is_some_and(|x| vals.iter().any(|v| v == x)),
        };
        if !present {
            continue;
        }
        want.insert(key.clone());
        let val = obj
            .get(key)
            .unwrap_or_else(|| panic!("{ctx}: {} missing in {v}", f.path.join(".")));
        let t = type_of(val);
        // A string field may hold a string that happens to start with 0x.
        let ok = f
            .types
            .iter()
            .any(|w| w == t || (w == "string" && t == "hex"));
        assert!(
            ok,
            "{ctx}: {} is {t} ({val}), the document says {:?}",
            f.path.join("."),
            f.types
        );
        if t == "object" {
            let mut p = prefix.to_vec();
            p.push(key.clone());
            if fields
                .iter()
                .any(|g| g.path.len() > p.len() && g.path[..p.len()] == p[..])
            {
                check_level(val, fields, &p, ctx);
            }
        }
    }
    let have: BTreeSet<String> = obj.keys().cloned().collect();
    assert_eq!(
        have, want,
        "{ctx}: keys at {prefix:?} differ from docs/json.md"
    );
}

fn document(stdout: &str, ctx: &str) -> Vec<serde_json::Value> {
    let v: serde_json::Value =
        serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{ctx}: {e}: {stdout}"));
    assert_eq!(v["schema"], 1, "{ctx}");
    let top: BTreeSet<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(
        top.into_iter().cloned().collect::<Vec<_>>(),
        ["locations", "schema"],
        "{ctx}"
    );
    v["locations"].as_array().unwrap().clone()
}

#[test]
fn the_documents_examples_follow_its_table() {
    let fields = fields();
    let doc = std::fs::read_to_string(fixtures::src_dir().join("../../docs/json.md")).unwrap();
    let blocks: Vec<&str> = doc
        .split("```json")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert_eq!(blocks.len(), 4);
    let mut kinds = BTreeSet::new();
    for (i, b) in blocks.iter().enumerate() {
        for e in document(b, &format!("example {i}")) {
            check(&e, &fields, &format!("example {i}"));
            kinds.insert(e["object"]["kind"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(
        kinds,
        BTreeSet::from(["module".into(), "user".into(), "vmlinux".into()])
    );
}

#[test]
fn user_and_kernel_output_follow_the_document() {
    let fields = fields();
    let mut seen = BTreeSet::new();
    let mut run = |args: Vec<String>| {
        let r = probeaddr(&args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        for e in document(&r.stdout, &format!("{args:?}")) {
            check(&e, &fields, &format!("{args:?}"));
            seen.insert((
                e["object"]["kind"].as_str().unwrap().to_string(),
                e["kind"].as_str().unwrap().to_string(),
                e["anchor"]["kind"].as_str().unwrap().to_string(),
                e["build_id"]["status"].as_str().unwrap().to_string(),
            ));
        }
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let prog = fixtures::path("prog").display().to_string();
    let inline = fixtures::path("prog-inline").display().to_string();
    let clones = fixtures::path("clones").display().to_string();
    for point in [
        "helper",
        "helper@b.c%return",
        "b.c:22",
        "helper+0x4",
        "helper@a.c:2",
    ] {
        run(s(&["resolve", "-x", &prog, point, "--format", "json"]));
    }
    run(s(&["resolve", "-x", &inline, "twice", "--format", "json"]));
    run(s(&["resolve", "-x", &clones, "*", "--format", "json"]));
    // A kernel with its kallsyms and sysfs stand-ins: vmlinux, module, data, a line.
    let w = world("schema");
    let kernel = |extra: &[&str]| {
        let mut a = s(&["resolve", "--format", "json"]);
        a.extend(s(&[
            "-k",
            w.vmlinux_path(),
            "-m",
            w.ko_path(),
            "--kallsyms",
            w.kallsyms().to_str().unwrap(),
            "--sysfs",
            w.sysfs().to_str().unwrap(),
        ]));
        a.extend(s(extra));
        a
    };
    run(kernel(&["init_once"]));
    run(kernel(&[r#"module("fixmod").function("fixmod_*")"#]));
    run(kernel(&[r#"kernel.data("jiffies")"#]));
    run(kernel(&[
        "init/main.c:24",
        "schedule%return",
        "start_kernel+0x8",
    ]));
    // kallsyms alone: vmlinux and module symbols of the listing.
    run(s(&[
        "resolve",
        "--format",
        "json",
        "--kallsyms",
        w.kallsyms().to_str().unwrap(),
        "--offline",
        "init_once",
        r#"module("fixmod").function("fixmod_create")"#,
    ]));
    // Another build running: the mismatch is in the entry.
    let notes = w.sysfs().join("kernel/notes");
    let mut n = std::fs::read(&notes).unwrap();
    let last = n.len() - 1;
    n[last] ^= 0xff;
    std::fs::write(&notes, n).unwrap();
    run(kernel(&["start_kernel"]));
    for want in [
        ("user", "entry", "file"),
        ("user", "return", "file"),
        ("user", "line", "file"),
        ("user", "offset", "file"),
        ("vmlinux", "entry", "kernel_text"),
        ("vmlinux", "return", "kernel_text"),
        ("vmlinux", "line", "kernel_text"),
        ("vmlinux", "offset", "kernel_text"),
        ("vmlinux", "data", "kernel_text"),
        ("module", "entry", "module_section"),
        ("module", "entry", "absolute"),
    ] {
        assert!(
            seen.iter()
                .any(|(o, k, a, _)| (o.as_str(), k.as_str(), a.as_str()) == want),
            "no {want:?} among {seen:?}"
        );
    }
    assert!(seen.iter().any(|x| x.3 == "mismatch"), "{seen:?}");
}

#[test]
fn a_plan_is_the_location_fields_and_links_back() {
    let fields = fields();
    // The location fields: from `point` to `marker`.
    let names: Vec<&str> = fields
        .iter()
        .filter(|f| f.path.len() == 1)
        .map(|f| f.path[0].as_str())
        .collect();
    let end = names.iter().position(|n| *n == "marker").unwrap();
    let location: BTreeSet<&str> = names[..=end].iter().copied().collect();
    let prog = fixtures::path("prog");
    let plan = probeaddr(["plan", "-x", prog.to_str().unwrap(), "helper"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    for l in document(&plan.stdout, "plan") {
        let keys: BTreeSet<&str> = l.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, location);
        assert!(std::path::Path::new(l["object"]["path"].as_str().unwrap()).is_absolute());
    }
    // resolve's JSON output links as a plan, to the same definitions.
    let json = probeaddr([
        "resolve",
        "-x",
        prog.to_str().unwrap(),
        "helper",
        "--format",
        "json",
    ]);
    let f = std::env::temp_dir().join(format!("probeaddr-schema-plan-{}.json", std::process::id()));
    std::fs::write(&f, &json.stdout).unwrap();
    let linked = probeaddr(["link", f.to_str().unwrap(), "--format", "uprobe"]);
    let direct = probeaddr([
        "resolve",
        "-x",
        prog.to_str().unwrap(),
        "helper",
        "--format",
        "uprobe",
    ]);
    assert_eq!(linked.stdout, direct.stdout, "{}", linked.stderr);
    assert_eq!(linked.stdout.lines().count(), 3);
    std::fs::remove_file(f).unwrap();
}
