//! The debuginfod client against elfutils' own `debuginfod` server (Debian
//! package `debuginfod`) on loopback, and against broken servers.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use super::fixtures::{self, hexfield, probeaddr};
use super::oracle;

pub(super) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(super) fn tmpdir(tag: &str) -> fixtures::Scratch {
    fixtures::Scratch::new(&format!("dbgd-{tag}"))
}

pub(super) fn build_id(bin: &Path) -> String {
    let text = String::from_utf8(
        Command::new("readelf")
            .arg("-n")
            .arg(bin)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: "))
        .unwrap()
        .trim()
        .to_string()
}

/// elfutils debuginfod serving a directory, killed on drop.
pub(super) struct Server {
    child: Child,
    pub(super) url: String,
    /// What it indexes, removed after it stops.
    _dir: Option<fixtures::Scratch>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// The server's `/metrics` (Prometheus text).
    pub(super) fn metrics(&self) -> String {
        let port: u16 = self.url.rsplit(':').next().unwrap().parse().unwrap();
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(c, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        let mut s = String::new();
        c.read_to_string(&mut s).unwrap();
        s.split_once("\r\n\r\n")
            .map_or(s.clone(), |x| x.1.to_string())
    }

    /// A counter's value in [`Self::metrics`] (0 when absent).
    pub(super) fn metric(metrics: &str, name: &str) -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(0.0)
    }
}

/// elfutils debuginfod indexing Debian packages as shipped (`-Z .deb`
/// through dpkg-deb; symlinks to them followed), once its scanner has
/// counted every one as scanned.
pub(super) fn serve_debs(debs: &[&Path]) -> Server {
    let dir = tmpdir("debs");
    for d in debs {
        std::os::unix::fs::symlink(d, dir.join(d.file_name().unwrap())).unwrap();
    }
    let port = free_port();
    let child = Command::new("debuginfod")
        .args(["-L", "-Z", ".deb=dpkg-deb --fsys-tarfile"])
        .arg(&*dir)
        .args(["-p", &port.to_string(), "-d"])
        .arg(dir.join(".debuginfod.sqlite"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("elfutils debuginfod (Debian package debuginfod) is needed");
    let s = Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: Some(dir),
    };
    // The server's own counter of archives indexed.
    let want = debs.len() as f64;
    for _ in 0..1200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && Server::metric(&s.metrics(), "scanned_files_total{source=\".deb archive\"}") >= want
        {
            return s;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("debuginfod on port {port} did not index {debs:?}");
}

pub(super) fn serve(dir: &Path, want: &str) -> Server {
    serve_answering(dir, &format!("/buildid/{want}/debuginfo"))
}

/// elfutils debuginfod serving `dir`, once it answers `probe` with 200
/// (`/metrics` for a server that is up, whatever it indexed).
pub(super) fn serve_answering(dir: &Path, probe: &str) -> Server {
    let port = free_port();
    // The index lives beside the files it indexes (removed with them).
    let db = dir.join(".debuginfod.sqlite");
    let child = Command::new("debuginfod")
        .args([
            "-F",
            dir.to_str().unwrap(),
            "-p",
            &port.to_string(),
            "-d",
            db.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("elfutils debuginfod (Debian package debuginfod) is needed");
    let url = format!("http://127.0.0.1:{port}");
    let s = Server {
        child,
        url,
        _dir: None,
    };
    // Wait until it has indexed the directory and serves the file.
    for _ in 0..300 {
        if let Ok(o) = Command::new("bash")
            .arg("-c")
            .arg(format!("exec 3<>/dev/tcp/127.0.0.1/{port} && printf 'GET {probe} HTTP/1.0\\r\\n\\r\\n' >&3 && head -c 12 <&3"))
            .output()
        {
            if String::from_utf8_lossy(&o.stdout).contains(" 200") {
                return s;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("debuginfod on port {port} did not serve {probe}");
}

#[test]
fn fetches_into_the_standard_cache_and_reuses_it() {
    let prog = fixtures::path("prog");
    let stripped = fixtures::path("prog-stripped");
    let id = build_id(&stripped);
    let files = tmpdir("files");
    std::fs::copy(
        fixtures::path(&format!("debug/.build-id/{}/{}.debug", &id[..2], &id[2..])),
        files.join("prog.debug"),
    )
    .unwrap();
    let server = serve(&files, &id);
    let cache = tmpdir("cache");
    let run = |url: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_probeaddr"))
            .args([
                "resolve",
                "-x",
                stripped.to_str().unwrap(),
                "helper@sub/b.c",
                "--format",
                "json",
                "--debuginfod",
                url,
            ])
            .env("DEBUGINFOD_CACHE_PATH", &cache)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&server.url);
    assert_eq!(code, Some(0), "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let v = doc["locations"].as_array().unwrap();
    assert_eq!(
        hexfield(&v[0], "addr"),
        oracle::gdb_address(&prog, "'sub/b.c'::helper", None)
    );
    let cached = cache.join(&id).join("debuginfo");
    assert!(cached.is_file());
    assert_eq!(build_id(&cached), id);
    // Server gone: the cache answers.
    drop(server);
    let (code, out2, err) = run("http://127.0.0.1:1");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, out2);
    // DEBUGINFOD_URLS is honoured like elfutils, gdb and perf do.
    let cache2 = tmpdir("cache2");
    let server = serve(&files, &id);
    let o = Command::new(env!("CARGO_BIN_EXE_probeaddr"))
        .args([
            "resolve",
            "-x",
            stripped.to_str().unwrap(),
            "helper@sub/b.c",
            "--format",
            "json",
        ])
        .env("DEBUGINFOD_CACHE_PATH", &cache2)
        .env("DEBUGINFOD_URLS", &server.url)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(cache2.join(&id).join("debuginfo").is_file());
}

/// A one-shot HTTP server thread that answers with `response`.
pub(super) fn fake_server(response: Vec<u8>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for c in l.incoming().take(4) {
            let Ok(mut c) = c else { continue };
            // Read the whole request before answering.
            read_request(&mut c);
            let _ = c.write_all(&response);
        }
    });
    url
}

/// An HTTP server on 127.0.0.1, a request per connection: `answer` gets
/// each request's target (`/buildid/ID/debuginfo`) and gives the status
/// (`"200 OK"`) and body. Returns the port, and each request head (up to
/// the blank line) in the order asked. A head is recorded before its
/// answer is written, so once a client has its answers every request it
/// made is in the receiver (no wait for the server thread).
pub(super) fn http_server(
    answer: impl Fn(&str) -> (&'static str, Vec<u8>) + Send + 'static,
) -> (u16, std::sync::mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            let head = read_request(&mut conn);
            let (status, body) = answer(target(&head));
            let _ = tx.send(head);
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(&body);
        }
    });
    (port, rx)
}

/// The target of a request head (`/buildid/ID/debuginfo` of
/// `GET /buildid/ID/debuginfo HTTP/1.1`).
pub(super) fn target(head: &str) -> &str {
    head.split_whitespace().nth(1).unwrap_or("")
}

/// The request head (up to the blank line).
pub(super) fn read_request(c: &mut std::net::TcpStream) -> String {
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&req).into_owned()
}

/// A finished command's exit code, standard output and standard error.
pub(super) fn outcome(o: std::process::Output) -> (Option<i32>, String, String) {
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Nothing in the cache but elfutils' three configuration files.
pub(super) fn assert_no_trace(cache: &Path) {
    let config = ["cache_clean_interval_s", "cache_miss_s", "max_unused_age_s"];
    let left: Vec<_> = walk(cache)
        .into_iter()
        .filter(|p| !config.iter().any(|c| p == &cache.join(c)))
        .collect();
    assert!(left.is_empty(), "cache not empty: {left:?}");
}

pub(super) fn walk(d: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                v.extend(walk(&p));
            } else {
                v.push(p);
            }
        }
    }
    v
}

#[test]
fn broken_servers_leave_nothing_in_the_cache() {
    let stripped = fixtures::path("prog-stripped");
    let other = fixtures::path("prog-other");
    let junk = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\ngarbage".to_vec();
    let short = b"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n\x7fELF\x02\x01\x01".to_vec();
    let mut wrong = b"HTTP/1.1 200 OK\r\nContent-Length: ".to_vec();
    let body = std::fs::read(&other).unwrap();
    wrong.extend(format!("{}\r\n\r\n", body.len()).as_bytes());
    wrong.extend(&body);
    for (tag, resp, says) in [
        ("junk", junk, "not a usable debug file (not an ELF file"),
        ("short", short, "connection closed after 7 of 10000 bytes"),
        ("wrong", wrong, "the server sent a file with build-id"),
        ("down", Vec::new(), ""),
    ] {
        let url = if tag == "down" {
            format!("http://127.0.0.1:{}", free_port())
        } else {
            fake_server(resp)
        };
        let cache = tmpdir(&format!("bad-{tag}"));
        let out = Command::new(env!("CARGO_BIN_EXE_probeaddr"))
            .args([
                "resolve",
                "-x",
                stripped.to_str().unwrap(),
                "helper@sub/b.c",
                "--debuginfod",
                &url,
            ])
            .env("DEBUGINFOD_CACHE_PATH", &cache)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{tag}: {err}");
        assert!(
            err.contains(&format!(
                "debuginfod: no server gave the debug file of build-id {}",
                build_id(&stripped)
            )),
            "{tag}: {err}"
        );
        assert!(err.contains(says), "{tag}: {err}");
        if tag == "down" {
            assert!(err.contains("Connection refused"), "{err}");
        }
        assert_no_trace(&cache);
    }
    let _ = probeaddr(["--version"]);
}

#[test]
fn progress_bar_on_a_terminal_for_large_downloads() {
    // A >1 MB file served as the debug file of a stripped copy of itself:
    // probeaddr's own binary (no debug package on the machine has it).
    let libc = Path::new(env!("CARGO_BIN_EXE_probeaddr"));
    let dir = tmpdir("progress");
    let stripped = dir.join("probeaddr-stripped");
    assert!(Command::new("objcopy")
        .arg("--strip-all")
        .arg(libc)
        .arg(&stripped)
        .status()
        .unwrap()
        .success());
    let body = std::fs::read(libc).unwrap();
    assert!(body.len() > 1 << 20);
    let mut resp =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    resp.extend(&body);
    let url = fake_server(resp);
    let cache = dir.join("cache");
    // `script` gives the command a terminal, as a user would have.
    let cmd = format!(
        "DEBUGINFOD_CACHE_PATH={} {} resolve -x {} main --debuginfod {url} --format uprobe",
        cache.display(),
        env!("CARGO_BIN_EXE_probeaddr"),
        stripped.display()
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .expect("script (bsdutils)");
    let text = String::from_utf8_lossy(&out.stdout);
    let id = build_id(libc);
    assert!(text.contains(&format!("debuginfod: {id} 100% (")), "{text}");
    assert!(
        text.contains(&format!("p:probeaddr/main {}:", stripped.display())),
        "{text}"
    );
    assert_eq!(build_id(&cache.join(&id).join("debuginfo")), id);
    // Not on a terminal: no progress output.
    std::fs::remove_dir_all(&cache).unwrap();
    let mut resp =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    resp.extend(&body);
    let url = fake_server(resp);
    let o = Command::new(env!("CARGO_BIN_EXE_probeaddr"))
        .args([
            "resolve",
            "-x",
            stripped.to_str().unwrap(),
            "main",
            "--debuginfod",
            &url,
        ])
        .env("DEBUGINFOD_CACHE_PATH", &cache)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("100%"));
}

/// Kernel points use debuginfod too: a vmlinux without DWARF gets its debug
/// file by build-id, and the line probe is the full vmlinux's (gdb's address).
#[test]
fn kernel_points_fetch_the_vmlinux_debug_file() {
    let full = fixtures::path("kernel/vmlinux");
    let nodebug = fixtures::path("kernel/vmlinux-nodebug");
    let id = build_id(&nodebug);
    assert_eq!(id, build_id(&full));
    let files = tmpdir("kfiles");
    std::fs::copy(&full, files.join("vmlinux.debug")).unwrap();
    let server = serve(&files, &id);
    let cache = tmpdir("kcache");
    let out = Command::new(env!("CARGO_BIN_EXE_probeaddr"))
        .args([
            "resolve",
            "-k",
            nodebug.to_str().unwrap(),
            "--offline",
            "init/main.c:24",
            "--format",
            "json",
            "--debuginfod",
            &server.url,
        ])
        .env("DEBUGINFOD_CACHE_PATH", &cache)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let l = &doc["locations"][0];
    assert_eq!(l["symbol"], "rest_init");
    assert_eq!(
        hexfield(l, "addr"),
        oracle::gdb_line_address(&full, "init/main.c:24")
    );
    assert!(cache.join(&id).join("debuginfo").exists());
    drop(server);
    std::fs::remove_dir_all(&files).unwrap();
    std::fs::remove_dir_all(&cache).unwrap();
}
