//! The debuginfod client against the shapes a fleet's servers come in,
//! all on 127.0.0.1: elfutils' own `debuginfod` behind a TLS terminator
//! (stunnel) with a test CA, a redirect, an HTTP proxy, a server that
//! stalls, federated servers where the first has nothing, credentials and
//! headers, `DEBUGINFOD_MAXSIZE`, and a cache shared both ways with
//! elfutils' `debuginfod-find` (negative entries included).

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use super::debuginfod::{
    assert_no_trace, build_id, fake_server, free_port, http_server, outcome, read_request, serve,
    serve_answering, target, tmpdir,
};
use super::fixtures::{self, hexfield, Scratch};
use super::oracle;

/// The stripped fixture, its build-id, a directory holding its debug
/// file (for a server to index), and gdb's address of the point.
struct Case {
    stripped: PathBuf,
    id: String,
    files: Scratch,
    want: u64,
}

const POINT: &str = "helper@sub/b.c";

fn case(tag: &str) -> Case {
    let stripped = fixtures::path("prog-stripped");
    let id = build_id(&stripped);
    let files = tmpdir(&format!("fleet-{tag}"));
    std::fs::copy(
        fixtures::path(&format!("debug/.build-id/{}/{}.debug", &id[..2], &id[2..])),
        files.join("prog.debug"),
    )
    .unwrap();
    let want = oracle::gdb_address(&fixtures::path("prog"), "'sub/b.c'::helper", None);
    Case {
        stripped,
        id,
        files,
        want,
    }
}

/// `probeaddr resolve -x STRIPPED helper@sub/b.c --format json` with the
/// cache at `cache`, each URL as `--debuginfod`, and `env`.
fn resolve(
    c: &Case,
    cache: &Path,
    urls: &[&str],
    env: &[(&str, &OsStr)],
) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_probeaddr"));
    cmd.args([
        "resolve",
        "-x",
        c.stripped.to_str().unwrap(),
        POINT,
        "--format",
        "json",
    ]);
    for u in urls {
        cmd.args(["--debuginfod", u]);
    }
    cmd.env("DEBUGINFOD_CACHE_PATH", cache);
    for (k, v) in env {
        cmd.env(k, v);
    }
    outcome(cmd.output().unwrap())
}

/// The address of the first location in a JSON answer.
fn address(out: &str) -> u64 {
    let doc: serde_json::Value = serde_json::from_str(out).unwrap();
    hexfield(&doc["locations"][0], "addr")
}

/// Resolves to gdb's address.
fn assert_resolves(c: &Case, run: (Option<i32>, String, String)) {
    let (code, out, err) = run;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(address(&out), c.want, "{out}");
}

/// The port of `http://127.0.0.1:PORT`.
fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().unwrap().parse().unwrap()
}

/// stunnel terminating TLS on 127.0.0.1 for a backend, with a test CA
/// made here; killed on drop.
struct Tls {
    child: Child,
    url: String,
    ca: PathBuf,
    _dir: Scratch,
}

impl Drop for Tls {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tls_terminator(backend: u16) -> Tls {
    let dir = tmpdir("tls");
    let sh = |script: &str| {
        let o = Command::new("sh")
            .arg("-ec")
            .arg(script)
            .current_dir(&*dir)
            .output()
            .expect("sh");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    // A CA of this test's own, and a certificate for 127.0.0.1 it signs.
    sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -subj /CN=probeaddr-test-ca -days 2 \
        && openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=localhost \
        && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ext \
        && openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile ext");
    let port = free_port();
    let conf = dir.join("stunnel.conf");
    std::fs::write(
        &conf,
        format!(
            "foreground = yes\npid =\ndebug = 7\n[debuginfod]\naccept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{backend}\ncert = {0}/srv.pem\nkey = {0}/srv.key\n",
            dir.display()
        ),
    )
    .unwrap();
    let mut child = Command::new("stunnel4")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("stunnel4 (Debian package stunnel4) is needed");
    // Ready when it says the port is bound; then keep draining its log.
    let mut log = BufReader::new(child.stderr.take().unwrap());
    let bound = format!("bound to 127.0.0.1:{port}");
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if log.read_line(&mut line).unwrap() == 0 {
            panic!("stunnel exited before listening:\n{seen}");
        }
        seen.push_str(&line);
        if line.contains(&bound) {
            break;
        }
    }
    std::thread::spawn(move || std::io::copy(&mut log, &mut std::io::sink()));
    Tls {
        child,
        url: format!("https://127.0.0.1:{port}"),
        ca: dir.join("ca.pem"),
        _dir: dir,
    }
}

#[test]
fn https_through_a_tls_terminator_with_a_test_ca() {
    let c = case("https");
    let server = serve(&c.files, &c.id);
    let tls = tls_terminator(port_of(&server.url));
    let cache = tmpdir("https-cache");
    // The test CA is trusted through SSL_CERT_FILE, as libcurl's users do.
    let run = resolve(
        &c,
        &cache,
        &[&tls.url],
        &[("SSL_CERT_FILE", tls.ca.as_os_str())],
    );
    assert_resolves(&c, run);
    assert_eq!(build_id(&cache.join(&c.id).join("debuginfo")), c.id);
    // Without it the server's certificate is not trusted: an error that
    // says so, and nothing in the cache.
    let cache = tmpdir("https-untrusted");
    let (code, _, err) = resolve(&c, &cache, &[&tls.url], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!("{}/buildid/{}/debuginfo: ", tls.url, c.id)),
        "{err}"
    );
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert_no_trace(&cache);
}

#[test]
fn redirects_are_followed() {
    let c = case("redirect");
    let server = serve(&c.files, &c.id);
    let target = format!("{}/buildid/{}/debuginfo", server.url, c.id);
    let redirect = fake_server(
        format!("HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n")
            .into_bytes(),
    );
    let cache = tmpdir("redirect-cache");
    assert_resolves(&c, resolve(&c, &cache, &[&redirect], &[]));
    assert_eq!(build_id(&cache.join(&c.id).join("debuginfo")), c.id);
}

/// A server that answers the headers of a 1 MB file, sends 16 bytes and
/// then nothing, holding each connection open.
fn stalling_server() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            read_request(&mut c);
            let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
            held.push(c);
        }
    });
    url
}

#[test]
fn a_stalled_server_times_out_and_does_not_hold_up_a_good_one() {
    let c = case("stall");
    let stall = stalling_server();
    let one = OsStr::new("1");
    let no_retry = OsStr::new("0");
    let env = [
        ("DEBUGINFOD_TIMEOUT", one),
        ("DEBUGINFOD_RETRY_LIMIT", no_retry),
    ];
    // Alone, it is given up after DEBUGINFOD_TIMEOUT with no new bytes.
    let cache = tmpdir("stall-cache");
    let (code, _, err) = resolve(&c, &cache, &[&stall], &env);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!("{stall}/buildid/{}/debuginfo: ", c.id)),
        "{err}"
    );
    assert!(err.contains("timeout"), "{err}");
    assert_no_trace(&cache);
    // With no low-speed timeout (0), DEBUGINFOD_MAXTIME bounds the whole
    // transfer.
    let env = [
        ("DEBUGINFOD_TIMEOUT", no_retry),
        ("DEBUGINFOD_MAXTIME", one),
        ("DEBUGINFOD_RETRY_LIMIT", no_retry),
    ];
    let (code, _, err) = resolve(&c, &cache, &[&stall], &env);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("timeout: global"), "{err}");
    assert_no_trace(&cache);
    // Asked first beside a good server, it does not stop the answer (the
    // servers are asked at once; the default 90 s timeout applies).
    let server = serve(&c.files, &c.id);
    let cache = tmpdir("stall-cache2");
    assert_resolves(&c, resolve(&c, &cache, &[&stall, &server.url], &[]));
    let files: Vec<_> = super::debuginfod::walk(&cache.join(&c.id));
    assert_eq!(files, [cache.join(&c.id).join("debuginfo")], "{files:?}");
}

#[test]
fn federated_servers_where_the_first_has_nothing() {
    let c = case("federated");
    let empty = tmpdir("federated-empty");
    let nothing = serve_answering(&empty, "/metrics");
    let server = serve(&c.files, &c.id);
    let cache = tmpdir("federated-cache");
    let verbose = [("DEBUGINFOD_VERBOSE", OsStr::new("1"))];
    let urls = format!("{} {}", nothing.url, server.url);
    // Through DEBUGINFOD_URLS, as a distribution's setup gives them.
    let run = resolve(
        &c,
        &cache,
        &[],
        &[verbose[0], ("DEBUGINFOD_URLS", OsStr::new(&urls))],
    );
    let err = run.2.clone();
    assert_resolves(&c, run);
    // Both were asked (at once); the second answered.
    for s in [&nothing.url, &server.url] {
        let url = format!("{s}/buildid/{}/debuginfo", c.id);
        assert!(err.contains(&format!("debuginfod: GET {url}\n")), "{err}");
    }
    let got = format!(
        "debuginfod: {}/buildid/{}/debuginfo: 7496 bytes -> ",
        server.url, c.id
    );
    assert!(err.contains(&got), "{err}");
    // Both without it: the miss is cached as elfutils caches it, and
    // believed for cache_miss_s without asking again.
    let cache = tmpdir("federated-miss");
    let run = resolve(&c, &cache, &[&nothing.url], &[]);
    assert_eq!(run.0, Some(2), "{}", run.2);
    let entry = cache.join(&c.id).join("debuginfo");
    assert_eq!(std::fs::metadata(&entry).unwrap().len(), 0);
    let (code, _, err) = resolve(&c, &cache, &[&server.url], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            " ago in {} is believed for 600 s (cache_miss_s)",
            entry.display()
        )),
        "{err}"
    );
    // Older than cache_miss_s: asked again, and found.
    age(&entry, 601);
    assert_resolves(&c, resolve(&c, &cache, &[&server.url], &[]));
}

/// Set `path`'s mtime `secs` into the past.
fn age(path: &Path, secs: u64) {
    let when = std::time::SystemTime::now() - std::time::Duration::from_secs(secs);
    std::fs::File::options()
        .write(true)
        .open(path)
        .or_else(|_| std::fs::File::open(path))
        .unwrap()
        .set_modified(when)
        .unwrap();
}

/// elfutils' `debuginfod-find debuginfo ID` with this cache and servers.
fn debuginfod_find(cache: &Path, urls: &str, id: &str) -> (bool, String, String) {
    let o = Command::new("debuginfod-find")
        .args(["debuginfo", id])
        .env("DEBUGINFOD_CACHE_PATH", cache)
        .env("DEBUGINFOD_URLS", urls)
        .output()
        .expect("debuginfod-find (Debian package debuginfod)");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).trim().to_string(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn the_cache_is_shared_with_elfutils_both_ways() {
    let c = case("shared");
    let server = serve(&c.files, &c.id);
    let empty = tmpdir("shared-empty");
    let nothing = serve_answering(&empty, "/metrics");
    let dead = format!("http://127.0.0.1:{}", free_port());
    let entry = |cache: &Path| cache.join(&c.id).join("debuginfo");

    // debuginfod-find downloads; probeaddr uses its file with no server up.
    let cache = tmpdir("shared-1");
    let (ok, path, err) = debuginfod_find(&cache, &server.url, &c.id);
    assert!(ok, "{err}");
    assert_eq!(Path::new(&path), entry(&cache));
    assert_resolves(&c, resolve(&c, &cache, &[&dead], &[]));

    // probeaddr downloads; debuginfod-find finds it with no server up.
    let cache = tmpdir("shared-2");
    assert_resolves(&c, resolve(&c, &cache, &[&server.url], &[]));
    let (ok, path, err) = debuginfod_find(&cache, &dead, &c.id);
    assert!(ok, "{err}");
    assert_eq!(Path::new(&path), entry(&cache));

    // debuginfod-find records a miss: probeaddr believes it, and asks
    // again once it is older than cache_miss_s.
    let cache = tmpdir("shared-3");
    let (ok, _, _) = debuginfod_find(&cache, &nothing.url, &c.id);
    assert!(!ok);
    assert_eq!(std::fs::metadata(entry(&cache)).unwrap().len(), 0);
    let (code, _, err) = resolve(&c, &cache, &[&server.url], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("is believed for 600 s (cache_miss_s)"),
        "{err}"
    );
    age(&entry(&cache), 601);
    assert_resolves(&c, resolve(&c, &cache, &[&server.url], &[]));

    // probeaddr records a miss: debuginfod-find believes it (the server
    // it is given has the file), and asks again once it is old.
    let cache = tmpdir("shared-4");
    let (code, _, err) = resolve(&c, &cache, &[&nothing.url], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not found (404)"), "{err}");
    assert_eq!(std::fs::metadata(entry(&cache)).unwrap().len(), 0);
    let (ok, _, _) = debuginfod_find(&cache, &server.url, &c.id);
    assert!(
        !ok,
        "debuginfod-find did not believe probeaddr's negative entry"
    );
    age(&entry(&cache), 601);
    let (ok, path, err) = debuginfod_find(&cache, &server.url, &c.id);
    assert!(ok, "{err}");
    assert_eq!(build_id(Path::new(&path)), c.id);
    // Both wrote elfutils' configuration files, with its defaults.
    for (name, value) in [
        ("cache_clean_interval_s", "86400"),
        ("cache_miss_s", "600"),
        ("max_unused_age_s", "604800"),
    ] {
        assert_eq!(
            std::fs::read_to_string(cache.join(name)).unwrap().trim(),
            value
        );
    }
}

/// A server that records each request head and answers 404.
fn recording_server() -> (String, mpsc::Receiver<String>) {
    let (port, rx) = http_server(|_| ("404 Not Found", Vec::new()));
    (format!("http://127.0.0.1:{port}"), rx)
}

#[test]
fn credentials_headers_and_limits_reach_the_server() {
    let c = case("headers");
    let (url, requests) = recording_server();
    let with_user = url.replacen("http://", "http://me:p%40ss@", 1);
    let headers = c.files.join("headers");
    std::fs::write(&headers, "X-Fleet-Token: t0k3n\nnot a header\n").unwrap();
    let cache = tmpdir("headers-cache");
    let (code, _, err) = resolve(
        &c,
        &cache,
        &[&with_user],
        &[
            ("DEBUGINFOD_HEADERS_FILE", headers.as_os_str()),
            ("DEBUGINFOD_MAXSIZE", OsStr::new("1000")),
        ],
    );
    assert_eq!(code, Some(2), "{err}");
    // The credentials left the URL (in no message either) for a header.
    assert!(!err.contains("p%40ss") && !err.contains("me:"), "{err}");
    let req = requests.recv().unwrap().to_ascii_lowercase();
    assert!(
        req.starts_with(&format!("get /buildid/{}/debuginfo http/1.1\r\n", c.id)),
        "{req}"
    );
    // base64("me:p@ss")
    assert!(
        req.contains(
            "\r\nauthorization: basic bwu6ceBzcw==\r\n"
                .to_ascii_lowercase()
                .as_str()
        ),
        "{req}"
    );
    assert!(req.contains("\r\nx-fleet-token: t0k3n\r\n"), "{req}");
    assert!(req.contains("\r\nx-debuginfod-maxsize: 1000\r\n"), "{req}");
    assert!(
        req.contains(&format!("\r\nhost: 127.0.0.1:{}\r\n", port_of(&url))),
        "{req}"
    );

    // elfutils' server refuses a file larger than DEBUGINFOD_MAXSIZE
    // (in a fresh cache: the 404 above is a cached miss).
    let server = serve(&c.files, &c.id);
    let cache = tmpdir("headers-cache2");
    let (code, _, err) = resolve(
        &c,
        &cache,
        &[&server.url],
        &[("DEBUGINFOD_MAXSIZE", OsStr::new("1000"))],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("larger than DEBUGINFOD_MAXSIZE = 1000 bytes"),
        "{err}"
    );
    assert_no_trace(&cache);
}

/// An HTTP proxy on 127.0.0.1 that tunnels (`CONNECT host:port`, which
/// is how ureq reaches http and https servers alike through a proxy) and
/// reports each request line it was sent.
fn http_proxy() -> (String, mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let head = read_request(&mut c);
            let first = head.split("\r\n").next().unwrap_or("").to_string();
            let _ = tx.send(first.clone());
            let Some(target) = first
                .strip_prefix("CONNECT ")
                .and_then(|r| r.split(' ').next())
            else {
                let _ =
                    c.write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n");
                continue;
            };
            let Ok(up) = TcpStream::connect(target) else {
                continue;
            };
            if c.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .is_err()
            {
                continue;
            }
            let (mut c2, mut up2) = (c.try_clone().unwrap(), up.try_clone().unwrap());
            let mut up = up;
            std::thread::spawn(move || std::io::copy(&mut c2, &mut up2));
            std::thread::spawn(move || std::io::copy(&mut up, &mut c));
        }
    });
    (url, rx)
}

#[test]
fn proxies_are_used_unless_no_proxy_names_the_host() {
    let c = case("proxy");
    let server = serve(&c.files, &c.id);
    let (proxy, seen) = http_proxy();
    let p = OsStr::new(&proxy);
    let host = format!("127.0.0.1:{}", port_of(&server.url));
    let cache = tmpdir("proxy-cache");
    assert_resolves(
        &c,
        resolve(&c, &cache, &[&server.url], &[("http_proxy", p)]),
    );
    assert_eq!(seen.try_recv().unwrap(), format!("CONNECT {host} HTTP/1.1"));
    // no_proxy covers 127.0.0.1: straight to the server.
    let cache = tmpdir("proxy-cache2");
    let no_proxy = ("no_proxy", OsStr::new("localhost,127.0.0.1"));
    assert_resolves(
        &c,
        resolve(&c, &cache, &[&server.url], &[("http_proxy", p), no_proxy]),
    );
    assert!(seen.try_recv().is_err());
    // https_proxy is for https servers: not used for http, used for https.
    let cache = tmpdir("proxy-cache3");
    assert_resolves(
        &c,
        resolve(&c, &cache, &[&server.url], &[("https_proxy", p)]),
    );
    assert!(seen.try_recv().is_err());
    let tls = tls_terminator(port_of(&server.url));
    let cache = tmpdir("proxy-cache4");
    let ca = ("SSL_CERT_FILE", tls.ca.as_os_str());
    assert_resolves(
        &c,
        resolve(&c, &cache, &[&tls.url], &[("HTTPS_PROXY", p), ca]),
    );
    assert_eq!(
        seen.try_recv().unwrap(),
        format!("CONNECT 127.0.0.1:{} HTTP/1.1", port_of(&tls.url))
    );
}

/// With no vmlinux given, the running kernel's debug vmlinux is found by
/// the build-id in `/sys/kernel/notes`: in a debug directory's
/// `.build-id` tree, or from debuginfod for a point kallsyms cannot answer
/// (`FUNC@FILE`); the answer is the one `-k VMLINUX` gives.
#[test]
fn the_running_kernels_debug_vmlinux_by_its_build_id() {
    let w = super::kernel::world("dbgd-running");
    let vmlinux = Path::new(w.vmlinux_path());
    let id = build_id(vmlinux);
    let live = |extra: &[&str], env: &[(&str, &OsStr)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_probeaddr"));
        cmd.args(["resolve", "--kallsyms"])
            .arg(w.kallsyms())
            .arg("--sysfs")
            .arg(w.sysfs())
            .args(["init_once@fs/proc/inode.c", "--format", "kprobe"])
            .args(extra);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let o = cmd.output().unwrap();
        outcome(o)
    };
    let with_k = live(&["-k", w.vmlinux_path()], &[]);
    assert_eq!(with_k.0, Some(0), "{}", with_k.2);
    assert!(
        with_k.1.starts_with("p:probeaddr/init_once "),
        "{}",
        with_k.1
    );
    // Without a debug file kallsyms has no file names: an error.
    let none = live(&[], &[]);
    assert_eq!(none.0, Some(2), "{}", none.2);
    // A debug directory laid out as Fedora's (.build-id links).
    let dir = tmpdir("running-debugdir");
    let link = dir.join(".build-id").join(&id[..2]);
    std::fs::create_dir_all(&link).unwrap();
    std::os::unix::fs::symlink(vmlinux, link.join(format!("{}.debug", &id[2..]))).unwrap();
    let by_dir = live(&["--debug-dir", dir.to_str().unwrap()], &[]);
    assert_eq!(by_dir.0, Some(0), "{}", by_dir.2);
    assert_eq!(by_dir.1, with_k.1);
    assert!(
        by_dir.2.contains(&format!(
            "the running kernel's debug vmlinux (build-id {id}): "
        )),
        "{}",
        by_dir.2
    );
    // And as Debian's (boot/vmlinux-RELEASE, build-id checked).
    let deb = tmpdir("running-debian");
    std::fs::create_dir_all(deb.join("boot")).unwrap();
    std::os::unix::fs::symlink(vmlinux, deb.join("boot/vmlinux-6.1.0-test")).unwrap();
    let by_deb = live(&["--debug-dir", deb.to_str().unwrap()], &[]);
    assert_eq!(by_deb.1, with_k.1, "{}", by_deb.2);
    // From debuginfod, into the cache, when no local file has it.
    let files = tmpdir("running-files");
    std::fs::copy(vmlinux, files.join("vmlinux")).unwrap();
    let server = serve(&files, &id);
    let cache = tmpdir("running-cache");
    let fetched = live(
        &["--debuginfod", &server.url],
        &[("DEBUGINFOD_CACHE_PATH", cache.as_os_str())],
    );
    assert_eq!(fetched.0, Some(0), "{}", fetched.2);
    assert_eq!(fetched.1, with_k.1);
    assert_eq!(build_id(&cache.join(&id).join("debuginfo")), id);
    // Fetched whole for the inlined sites; the user learns what would do.
    assert!(
        fetched
            .2
            .contains("(the whole file, for inlined sites; with --no-inlines only its symbols and line programs"),
        "{}",
        fetched.2
    );
}

/// `probeaddr debuginfo` says where each debug file comes from, as
/// `resolve` finds it: the file itself, a build-id directory, a
/// distribution's kernel path, a debuginfod server, then its cache.
#[test]
fn debuginfo_says_where_each_debug_file_comes_from() {
    let c = case("where");
    let run = |args: &[&str], cache: &Path| {
        let o = Command::new(env!("CARGO_BIN_EXE_probeaddr"))
            .arg("debuginfo")
            .args(args)
            .env("DEBUGINFOD_CACHE_PATH", cache)
            .output()
            .unwrap();
        outcome(o)
    };
    let cache = tmpdir("where-cache");
    let prog = fixtures::path("prog");
    let (code, out, err) = run(&[prog.to_str().unwrap()], &cache);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("from      the file itself\n"), "{out}");
    // The stripped copy: its build-id link in a debug directory.
    let dbg = fixtures::path("debug");
    let (code, out, err) = run(
        &[
            c.stripped.to_str().unwrap(),
            "--debug-dir",
            dbg.to_str().unwrap(),
        ],
        &cache,
    );
    assert_eq!(code, Some(0), "{err}");
    let want = dbg.join(format!(".build-id/{}/{}.debug", &c.id[..2], &c.id[2..]));
    assert!(out.contains(&format!("build-id  {}\n", c.id)), "{out}");
    assert!(
        out.contains(&format!("path      {}\n", want.display())),
        "{out}"
    );
    assert!(out.contains("from      build-id directory\n"), "{out}");
    assert!(out.contains("dwarf     yes\n"), "{out}");
    // A build-id alone: from a server, then from the cache.
    let server = serve(&c.files, &c.id);
    let (code, out, err) = run(&[&c.id, "--debuginfod", &server.url], &cache);
    assert_eq!(code, Some(0), "{err}");
    let url = format!("{}/buildid/{}/debuginfo", server.url, c.id);
    assert!(
        out.contains(&format!("from      debuginfod {url}\n")),
        "{out}"
    );
    let cached = cache.join(&c.id).join("debuginfo");
    assert!(
        out.contains(&format!("path      {}\n", cached.display())),
        "{out}"
    );
    let (code, out, _) = run(
        &[&c.id, "--debuginfod", &server.url, "--format", "json"],
        &cache,
    );
    assert_eq!(code, Some(0));
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["found"]["origin"]["kind"], "debuginfod");
    assert!(j["found"]["origin"]["url"].is_null(), "{out}");
    // The running kernel's, by /sys/kernel/notes, at Debian's path.
    let w = super::kernel::world("dbgd-where");
    let deb = tmpdir("where-debian");
    std::fs::create_dir_all(deb.join("boot")).unwrap();
    let vm = deb.join("boot/vmlinux-6.1.0-test");
    std::os::unix::fs::symlink(w.vmlinux_path(), &vm).unwrap();
    let sys = w.sysfs();
    let (code, out, err) = run(
        &[
            "kernel",
            "--sysfs",
            sys.to_str().unwrap(),
            "--debug-dir",
            deb.to_str().unwrap(),
        ],
        &cache,
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains(&format!("path      {}\n", vm.display())),
        "{out}"
    );
    assert!(
        out.contains("from      distribution path (build-id matches)\n"),
        "{out}"
    );
    // Nothing anywhere: said, with every place looked at, and exit 2.
    let (code, out, _) = run(&["00112233445566778899"], &cache);
    assert_eq!(code, Some(2));
    assert!(out.contains("path      (not found)\n"), "{out}");
    assert!(
        out.contains("searched  /usr/lib/debug/.build-id/00/112233445566778899.debug\n"),
        "{out}"
    );
}

/// With no `-m`, a loaded module's debug file is found by the build-id in
/// `/sys/module/M/notes` under a debug directory's `lib/modules` tree
/// (Debian's layout), and gives what `-m KO` gives.
#[test]
fn a_loaded_modules_debug_file_by_its_build_id() {
    let w = super::kernel::world("dbgd-module");
    let point = r#"module("fixmod").function("fixmod_create")"#;
    let run = |extra: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_probeaddr"))
            .args(["resolve", "--kallsyms"])
            .arg(w.kallsyms())
            .arg("--sysfs")
            .arg(w.sysfs())
            .args([
                "-k",
                w.vmlinux_path(),
                point,
                "--format",
                "kprobe",
                "--form",
                "address",
            ])
            .args(extra)
            .output()
            .unwrap();
        outcome(o)
    };
    let with_m = run(&["-m", w.ko_path()]);
    assert_eq!(with_m.0, Some(0), "{}", with_m.2);
    let deb = tmpdir("module-debian");
    let dir = deb.join("lib/modules/6.1.0-test/kernel/drivers/misc");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(w.ko_path(), dir.join("fixmod.ko")).unwrap();
    let found = run(&["--debug-dir", deb.to_str().unwrap()]);
    assert_eq!(found.0, Some(0), "{}", found.2);
    assert_eq!(found.1, with_m.1);
    assert!(
        found.2.contains(&format!(
            "module fixmod's debug file (build-id {}): {}",
            build_id(Path::new(w.ko_path())),
            dir.join("fixmod.ko").display()
        )),
        "{}",
        found.2
    );
}

/// Debian packages as shipped: elfutils' debuginfod indexes the .deb of
/// `libadns1-dbg` (`-Z .deb=dpkg-deb --fsys-tarfile`), and a static function of `libadns.so.1.6`
/// (unpacked from `libadns1`; neither package is installed) resolves
/// through it to gdb's address in the debug file, which `.dynsym` alone
/// could not name.
#[test]
fn a_debian_dbg_package_indexed_as_a_deb() {
    let debs = std::env::var_os("PROBEADDR_DEBS")
        .map(PathBuf::from)
        .filter(|d| d.join("READY").exists())
        .expect(
            "PROBEADDR_DEBS: the libadns1 and libadns1-dbg .debs (scripts/test downloads them)",
        );
    let deb = |prefix: &str| {
        std::fs::read_dir(&debs)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix}*.deb in {}", debs.display()))
    };
    let (lib_deb, dbg_deb) = (deb("libadns1_"), deb("libadns1-dbg_"));
    let unpacked = tmpdir("adns-root");
    for d in [&lib_deb, &dbg_deb] {
        let ok = Command::new("dpkg-deb")
            .arg("-x")
            .arg(d)
            .arg(&*unpacked)
            .status()
            .unwrap();
        assert!(ok.success());
    }
    let lib = unpacked.join("usr/lib/libadns.so.1.6");
    let debug = unpacked.join("usr/lib/debug/usr/lib/libadns.so.1.6");
    let id = build_id(&lib);
    assert_eq!(build_id(&debug), id);
    // The server sees only the .deb.
    let archive = tmpdir("adns-debs");
    std::fs::copy(&dbg_deb, archive.join(dbg_deb.file_name().unwrap())).unwrap();
    let port = free_port();
    let db = archive.join(".debuginfod.sqlite");
    let mut child = Command::new("debuginfod")
        // dpkg-deb unpacks the .deb (-U would need bsdtar).
        .args(["-Z", ".deb=dpkg-deb --fsys-tarfile"])
        .arg(&*archive)
        .args(["-p", &port.to_string(), "-d", db.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let ready = (0..300).any(|_| {
        let (ok, _, _) = debuginfod_find(&tmpdir("adns-probe"), &url, &id);
        ok || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            false
        }
    });
    assert!(
        ready,
        "debuginfod -Z .deb did not serve {id} from {}",
        dbg_deb.display()
    );
    let cache = tmpdir("adns-cache");
    let o = Command::new(env!("CARGO_BIN_EXE_probeaddr"))
        .args([
            "resolve",
            "-x",
            lib.to_str().unwrap(),
            "tcp_connected",
            "--format",
            "json",
            "--debuginfod",
            &url,
        ])
        .env("DEBUGINFOD_CACHE_PATH", &*cache)
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        address(&out),
        oracle::gdb_address(&debug, "tcp_connected", None)
    );
    assert_eq!(
        std::fs::read(cache.join(&id).join("debuginfo")).unwrap(),
        std::fs::read(&debug).unwrap()
    );
}

/// elfutils' server indexing `libc6-dbg` as shipped (the installed
/// version's .deb; scripts/test downloads it), with `/usr/lib/debug`
/// hidden in a mount namespace so that nothing local answers: the ten
/// `static internal_getent` copies of this machine's libc come from the
/// server, each at the address and with the `STT_FILE` readelf gives in
/// the package's own debug file, and each printed pin selects its copy
/// alone.
#[test]
fn libc6_dbg_indexed_as_a_deb_answers_for_this_machines_libc() {
    const LIBC: &str = "/lib/x86_64-linux-gnu/libc.so.6";
    let debs = std::env::var_os("PROBEADDR_DEBS")
        .map(PathBuf::from)
        .filter(|d| d.join("READY").exists())
        .expect("PROBEADDR_DEBS: libc6-dbg's .deb (scripts/test downloads it)");
    let version = String::from_utf8(
        Command::new("dpkg-query")
            .args(["-W", "-f=${Version}", "libc6"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let deb = debs.join(format!("libc6-dbg_{version}_amd64.deb"));
    assert!(
        deb.is_file(),
        "{} missing: scripts/test downloads libc6-dbg at the installed libc6's version",
        deb.display()
    );
    let id = build_id(Path::new(LIBC));
    let unpacked = tmpdir("libc6-dbg");
    let ok = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&*unpacked)
        .status()
        .unwrap();
    assert!(ok.success());
    let debug = unpacked.join(format!(
        "usr/lib/debug/.build-id/{}/{}.debug",
        &id[..2],
        &id[2..]
    ));
    let want: std::collections::BTreeSet<(u64, String)> = oracle::readelf_funcs(&debug, false)
        .into_iter()
        .filter(|f| f.name == "internal_getent")
        .map(|f| (f.value, f.file.expect("a static has its STT_FILE")))
        .collect();
    assert_eq!(want.len(), 10, "{want:?}");
    let server = super::debuginfod::serve_debs(&[&deb]);
    let hidden = tmpdir("no-usr-lib-debug");
    let cache = tmpdir("libc6-dbg-cache");
    let resolve = |point: &str| {
        let o = Command::new("unshare")
            .args([
                "-m",
                "sh",
                "-c",
                "mount --bind \"$0\" /usr/lib/debug && exec \"$@\"",
            ])
            .arg(&*hidden)
            .arg(env!("CARGO_BIN_EXE_probeaddr"))
            .args(["resolve", "-x", LIBC, point, "--format", "json"])
            .args(["--debuginfod", &server.url])
            .env("DEBUGINFOD_CACHE_PATH", &*cache)
            .output()
            .unwrap();
        let (code, out, err) = outcome(o);
        assert_eq!(code, Some(0), "unshare -m (root) and the server: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["locations"].as_array().unwrap().clone()
    };
    let rows = resolve("internal_getent");
    let got: std::collections::BTreeSet<(u64, String)> = rows
        .iter()
        .map(|l| {
            let file = l["file"].as_str().unwrap();
            (
                hexfield(l, "addr"),
                file.rsplit('/').next().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(build_id(&cache.join(&id).join("debuginfo")), id);
    // From the cache now: each pin is its copy alone.
    for l in &rows {
        let pin = l["pin"].as_str().unwrap();
        let one = resolve(pin);
        assert_eq!(one.len(), 1, "{pin}");
        assert_eq!(one[0]["addr"], l["addr"], "{pin}");
    }
}

/// With `DEBUGINFOD_URLS` unset, the servers come from
/// `/etc/debuginfod/*.urls` (as the profile script of Debian's
/// libdebuginfod-common sets them up); and a server whose host name has
/// two addresses is reached on the second when the first refuses. Both
/// in a mount namespace, where a test directory stands for
/// `/etc/debuginfod` and a test file for `/etc/hosts` (`::1` first, where
/// nothing listens; then `127.0.0.1`): the machine's own are not touched.
#[test]
fn etc_debuginfod_urls_and_a_host_with_two_addresses() {
    let c = case("etc");
    let body = std::fs::read(c.files.join("prog.debug")).unwrap();
    let want = format!("/buildid/{}/debuginfo", c.id);
    let (port, rx) = http_server(move |t| {
        if t == want {
            ("200 OK", body.clone())
        } else {
            ("404 Not Found", Vec::new())
        }
    });
    let dir = tmpdir("etc");
    let etc = dir.join("debuginfod");
    std::fs::create_dir_all(&etc).unwrap();
    // elfutils' format: URLs separated by white space, one file per source;
    // a file not ending in .urls is not read.
    std::fs::write(etc.join("test.urls"), format!("http://twoaddrs:{port}\n")).unwrap();
    std::fs::write(etc.join("other.txt"), "http://127.0.0.1:1\n").unwrap();
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, "::1 twoaddrs\n127.0.0.1 twoaddrs\n").unwrap();
    let cache = tmpdir("etc-cache");
    let run = |hosts: &Path| {
        let o = Command::new("unshare")
        .args([
            "-m",
            "sh",
            "-c",
            "mount --bind \"$0\" /etc/debuginfod && mount --bind \"$1\" /etc/hosts && shift && exec \"$@\"",
        ])
        .arg(&etc)
        .arg(hosts)
        .arg(env!("CARGO_BIN_EXE_probeaddr"))
        .args(["resolve", "-x", c.stripped.to_str().unwrap(), POINT])
        .args(["--format", "json"])
        .env_remove("DEBUGINFOD_URLS")
        .env("DEBUGINFOD_CACHE_PATH", &*cache)
        .output()
        .unwrap();
        outcome(o)
    };
    // The first address alone refuses: the name is resolved by the hosts
    // file given, and ::1 is really asked.
    let only_v6 = dir.join("hosts-v6");
    std::fs::write(&only_v6, "::1 twoaddrs\n").unwrap();
    let (code, _, err) = run(&only_v6);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!("http://twoaddrs:{port}/buildid/")),
        "{err}"
    );
    assert_resolves(&c, run(&hosts));
    assert_eq!(
        rx.try_iter()
            .map(|l| target(&l).to_string())
            .collect::<Vec<_>>(),
        vec![format!("/buildid/{}/debuginfo", c.id)]
    );
    assert_eq!(build_id(&cache.join(&c.id).join("debuginfo")), c.id);
}

/// A server URL with a query string is not an error: the query is sent
/// as elfutils' client sends it (the path appended to the URL as
/// written), and a server that answers there is used.
#[test]
fn a_server_url_with_a_query_string_is_sent_as_elfutils_sends_it() {
    let c = case("query");
    let body = std::fs::read(c.files.join("prog.debug")).unwrap();
    let want = format!("GET /dbg?x=1/buildid/{}/debuginfo HTTP/1.1", c.id);
    let path = target(&want).to_string();
    let (port, rx) = http_server(move |t| {
        if t == path {
            ("200 OK", body.clone())
        } else {
            ("404 Not Found", Vec::new())
        }
    });
    let url = format!("http://127.0.0.1:{port}/dbg?x=1");
    let cache = tmpdir("query-cache");
    assert_resolves(&c, resolve(&c, &cache, &[&url], &[]));
    assert_eq!(
        rx.try_iter()
            .map(|h| h.lines().next().unwrap_or("").to_string())
            .collect::<Vec<_>>(),
        vec![want]
    );
}
