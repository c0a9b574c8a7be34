//! The running kernel's function by its file from a debuginfod server's
//! single sections (`/buildid/ID/section/NAME`) instead of the whole debug
//! vmlinux: elfutils' `debuginfod` indexing Debian's kernel `-dbg` package
//! as shipped (scripts/test downloads the .deb), and a server that cannot
//! send sections (503), where the whole file is fetched instead.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::debuginfod::{build_id, http_server, outcome, serve_debs, target, tmpdir, walk, Server};
use super::oracle;

/// The `.deb` of linux-image-6.1.0-56-cloud-amd64-dbg.
fn kernel_deb() -> PathBuf {
    let dir = std::env::var_os("PROBEADDR_KERNEL_DEB")
        .map(PathBuf::from)
        .filter(|d| d.join("READY").exists())
        .expect("PROBEADDR_KERNEL_DEB: Debian's kernel -dbg .deb (scripts/test downloads it)");
    std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .unwrap_or_else(|| panic!("no .deb in {}", dir.display()))
}

/// A kallsyms and a sysfs (`kernel/notes`) that describe `vmlinux` as the
/// running kernel.
fn running_as(vmlinux: &Path, dir: &Path) -> (PathBuf, PathBuf) {
    let ks = dir.join("kallsyms");
    std::fs::write(&ks, oracle::nm_kallsyms(vmlinux, &[])).unwrap();
    let sys = dir.join("sys");
    std::fs::create_dir_all(sys.join("kernel")).unwrap();
    std::fs::write(
        sys.join("kernel/notes"),
        oracle::section_bytes(vmlinux, ".notes"),
    )
    .unwrap();
    (ks, sys)
}

/// `resolve POINTS --format json` as the running kernel's, without the
/// object's path: the rest must not depend on which file answered.
fn resolve(
    ks: &Path,
    sys: &Path,
    points: &[&str],
    extra: &[&str],
    cache: &Path,
) -> (serde_json::Value, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_probeaddr"))
        .arg("resolve")
        .arg("--kallsyms")
        .arg(ks)
        .arg("--sysfs")
        .arg(sys)
        .args(points)
        .args(["--no-inlines", "--format", "json"])
        .args(extra)
        .env("DEBUGINFOD_CACHE_PATH", cache)
        .env("DEBUGINFOD_RETRY_LIMIT", "0")
        .output()
        .unwrap();
    let (code, out, err) = outcome(o);
    assert_eq!(code, Some(0), "{err}");
    let mut v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for l in v["locations"].as_array_mut().unwrap() {
        l["object"]["path"] = serde_json::Value::Null;
    }
    (v, err)
}

/// The points: statics by their directory (8 copies of init_once), a
/// global (no STT_FILE: every line program is read), one the kernel
/// refuses by its NOKPROBE_SYMBOL list (.init.data) and one by
/// .init.text.
const POINTS: [&str; 5] = [
    "init_once@fs/proc/inode.c",
    "init_once@fs/ext4/super.c",
    "vfs_read@fs/read_write.c",
    "kprobe_exceptions_notify@kernel/kprobes.c",
    "start_kernel@init/main.c",
];

#[test]
fn a_kernel_function_by_its_file_from_sections_of_a_debian_dbg_deb() {
    let vmlinux = super::debian::vmlinux(&super::debian::root());
    let vmlinux = Path::new(&vmlinux);
    let id = build_id(vmlinux);
    let work = tmpdir("ksec");
    let (ks, sys) = running_as(vmlinux, &work);
    let empty = work.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    // The answer from the whole file.
    let (want, _) = resolve(
        &ks,
        &sys,
        &POINTS,
        &["-k", vmlinux.to_str().unwrap()],
        &work.join("unused-cache"),
    );
    let rows = want["locations"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0]["addr"], "0xffffffff813ea470");
    assert_eq!(
        rows[0]["source_path"],
        "debian/build/build_amd64_none_cloud-amd64/fs/proc/inode.c"
    );
    assert!(
        rows[3]["probe_error"]
            .as_str()
            .unwrap()
            .contains("NOKPROBE_SYMBOL"),
        "{}",
        rows[3]
    );
    assert!(
        rows[4]["probe_error"]
            .as_str()
            .unwrap()
            .contains(".init.text"),
        "{}",
        rows[4]
    );

    // The server sees only the .deb.
    let server = serve_debs(&[&kernel_deb()]);
    let url = server.url.clone();
    let cache = work.join("cache");
    let (got, err) = resolve(
        &ks,
        &sys,
        &POINTS,
        &["--debuginfod", &url, "--debug-dir", empty.to_str().unwrap()],
        &cache,
    );
    assert_eq!(got, want, "{err}");
    assert!(
        err.contains("its symbols and line programs only, assembled from the sections"),
        "{err}"
    );
    // What was sent: sections, under 5% of the file, never the file.
    let m = server.metrics();
    let sent = Server::metric(
        &m,
        "http_responses_transfer_bytes_sum{code=\"200\",type=\"section\"}",
    );
    let whole = std::fs::metadata(vmlinux).unwrap().len() as f64;
    assert!(sent > 0.0 && sent < 0.05 * whole, "{sent} of {whole} bytes");
    assert_eq!(
        Server::metric(
            &m,
            "http_responses_transfer_bytes_sum{code=\"200\",type=\"debuginfo\"}"
        ),
        0.0
    );
    assert!(err.contains(&format!("{} bytes", sent as u64)), "{err}");
    // The cache holds the assembled image alone, with the symbols of the
    // real one: `readelf -s` agrees on every symbol (section symbols are
    // printed by their section's name, which sections alone do not give
    // for every section).
    let assembled = cache.join(&id).join("probeaddr-vmlinux");
    let files: Vec<PathBuf> = walk(&cache.join(&id));
    assert_eq!(files, vec![assembled.clone()]);
    assert_eq!(build_id(&assembled), id);
    let symbols = |f: &Path| -> Vec<String> {
        oracle::readelf_all(f)
            .into_iter()
            .filter(|(_, _, ty, _)| ty != "SECTION")
            .map(|(n, v, ty, ndx)| format!("{n} {v:x} {ty} {ndx}"))
            .collect()
    };
    let (a, b) = (symbols(vmlinux), symbols(&assembled));
    assert!(a.len() > 100_000, "{}", a.len());
    assert_eq!(a, b);
    // Every function's file, from line programs alone, as from the
    // compile units: all 43,936 but the 20 whose code no line row covers
    // (inline-asm thunks such as __raw_callee_save_xen_pte_val, asm
    // labels without line info), which get no file rather than a wrong
    // one.
    let files_of = |f: &Path| -> std::collections::BTreeMap<(String, String), serde_json::Value> {
        let o = Command::new(env!("CARGO_BIN_EXE_probeaddr"))
            .args(["resolve", "--offline", "-k"])
            .arg(f)
            .args(["*", "--no-inlines", "--format", "json"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["locations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    (
                        l["addr"].as_str().unwrap().to_string(),
                        l["symbol"].as_str().unwrap().to_string(),
                    ),
                    serde_json::json!([l["file"], l["source_path"]]),
                )
            })
            .collect()
    };
    let (by_units, by_lines) = (files_of(vmlinux), files_of(&assembled));
    assert_eq!(by_units.len(), 43_936);
    assert_eq!(
        by_units.keys().collect::<Vec<_>>(),
        by_lines.keys().collect::<Vec<_>>()
    );
    let differ: Vec<_> = by_units
        .iter()
        .filter(|(k, v)| by_lines[*k] != **v)
        .map(|(k, _)| k)
        .collect();
    assert_eq!(differ.len(), 20, "{differ:?}");
    for k in differ {
        assert_eq!(by_lines[k], serde_json::json!([null, null]), "{k:?}");
    }
    // Server gone: the cache answers alone.
    drop(server);
    let (again, err) = resolve(
        &ks,
        &sys,
        &POINTS,
        &["--debuginfod", &url, "--debug-dir", empty.to_str().unwrap()],
        &cache,
    );
    assert_eq!(again, want, "{err}");
}

/// A server that answers 503 for every section (elfutils' answer when it
/// cannot cut them out) and sends the whole file: the whole file is used,
/// and the user is told why.
#[test]
fn without_sections_the_whole_debug_vmlinux_is_fetched() {
    let w = super::kernel::world("ksec-503");
    let vmlinux = PathBuf::from(w.vmlinux_path());
    let id = build_id(&vmlinux);
    let body = std::fs::read(&vmlinux).unwrap();
    let want_path = format!("/buildid/{id}/debuginfo");
    let whole = want_path.clone();
    let (port, asked) = http_server(move |t| {
        if t.contains("/section/") {
            ("503 Service Unavailable", Vec::new())
        } else if t == whole {
            ("200 OK", body.clone())
        } else {
            ("404 Not Found", Vec::new())
        }
    });
    let url = format!("http://127.0.0.1:{port}");
    let cache = tmpdir("ksec-503-cache");
    let point = "init_once@fs/proc/inode.c";
    let run = |extra: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_probeaddr"))
            .args(["resolve", "--kallsyms"])
            .arg(w.kallsyms())
            .arg("--sysfs")
            .arg(w.sysfs())
            .args([point, "--no-inlines", "--format", "kprobe"])
            .args(extra)
            .env("DEBUGINFOD_CACHE_PATH", &*cache)
            .env("DEBUGINFOD_RETRY_LIMIT", "0")
            .output()
            .unwrap();
        outcome(o)
    };
    let with_k = run(&["-k", w.vmlinux_path()]);
    assert_eq!(with_k.0, Some(0), "{}", with_k.2);
    let fetched = run(&["--debuginfod", &url]);
    assert_eq!(fetched.0, Some(0), "{}", fetched.2);
    assert_eq!(fetched.1, with_k.1);
    assert!(
        fetched
            .2
            .contains("(the whole file: its sections could not be had:")
            && fetched.2.contains("503"),
        "{}",
        fetched.2
    );
    let asked: Vec<String> = asked.try_iter().map(|l| target(&l).to_string()).collect();
    assert_eq!(
        asked,
        vec![format!("/buildid/{id}/section/.symtab"), want_path.clone()]
    );
    assert_eq!(build_id(&cache.join(&id).join("debuginfo")), id);
    assert!(!cache.join(&id).join("probeaddr-vmlinux").exists());
}
