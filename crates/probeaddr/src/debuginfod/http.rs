//! One download from one server, on ureq and rustls: redirects followed,
//! the proxy the environment names, elfutils' timeouts and size limit,
//! the body written to a file the caller created, stopped as soon as the
//! caller says another server won.

use std::fs::File;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ureq::tls::{Certificate, RootCerts, TlsConfig};

/// How every request is made (from the `DEBUGINFOD_*` variables).
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// `DEBUGINFOD_TIMEOUT` (90 s; 0: none): for connecting, for the
    /// answer, and as libcurl's low-speed limit, at least 100 KiB each
    /// this many seconds.
    pub timeout: Option<Duration>,
    /// `DEBUGINFOD_MAXTIME`: the whole transfer.
    pub max_time: Option<Duration>,
    /// `DEBUGINFOD_MAXSIZE`: refuse larger files (sent to the server too).
    pub max_size: Option<u64>,
    /// `DEBUGINFOD_RETRY_LIMIT` (2): retries after an error other than 404.
    pub retry_limit: u32,
    /// `DEBUGINFOD_HEADERS_FILE`'s headers.
    pub headers: Vec<(String, String)>,
}

/// The low-speed limit's byte count (libcurl's `LOW_SPEED_LIMIT` as
/// elfutils sets it).
const LOW_SPEED_BYTES: u64 = 100 * 1024;

/// A request's outcome.
#[derive(Debug)]
pub(crate) enum Answer {
    /// The whole body is in the file; `modified` is `Last-Modified`.
    File {
        bytes: u64,
        modified: Option<SystemTime>,
    },
    /// 404: the server does not have it.
    NotFound,
    /// Larger than `DEBUGINFOD_MAXSIZE` (406, or the size it announced).
    TooBig(String),
    /// Anything else, in words.
    Failed(String),
    /// Another server won first.
    Cancelled,
}

/// The TLS roots: the system's store (which honours `SSL_CERT_FILE` and
/// `SSL_CERT_DIR`, as libcurl does), else the built-in Mozilla roots.
pub(crate) fn system_roots() -> RootCerts {
    let found = rustls_native_certs::load_native_certs();
    let certs: Vec<Certificate<'static>> = found
        .certs
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    if certs.is_empty() {
        RootCerts::WebPki
    } else {
        RootCerts::Specific(Arc::new(certs))
    }
}

/// One request: where, as whom, through what.
pub(crate) struct Request<'a> {
    /// The query URL (credentials removed).
    pub url: &'a str,
    /// The `Authorization` value, from credentials in the server URL.
    pub auth: Option<&'a str>,
    /// The proxy URL, if one applies.
    pub proxy: Option<&'a str>,
    /// The TLS roots.
    pub roots: &'a RootCerts,
    /// The limits.
    pub settings: &'a Settings,
}

/// GET `req.url` into `out`, retrying failures other than 404 and 406 up
/// to `retry_limit` times; `progress(received, total)` after each chunk.
pub(crate) fn download(
    req: &Request<'_>,
    out: &mut File,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Answer {
    let mut attempt = 0;
    loop {
        let answer = once(req, out, cancel, progress);
        match answer {
            Answer::Failed(_)
                if attempt < req.settings.retry_limit && !cancel.load(Ordering::Relaxed) =>
            {
                attempt += 1;
                // Start the file over.
                if out.set_len(0).is_err() || std::io::Seek::rewind(out).is_err() {
                    return answer;
                }
            }
            Answer::Failed(why) if attempt > 0 => {
                return Answer::Failed(format!("{why} (after {} attempts)", attempt + 1))
            }
            a => return a,
        }
    }
}

fn once(
    req: &Request<'_>,
    out: &mut File,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Answer {
    let Request {
        url,
        auth,
        proxy,
        roots,
        settings,
    } = *req;
    let proxy = match proxy.map(ureq::Proxy::new).transpose() {
        Ok(p) => p,
        Err(e) => return Answer::Failed(format!("proxy {:?}: {e}", proxy.unwrap_or(""))),
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(8)
        .proxy(proxy)
        .user_agent(format!(
            "probeaddr/{} ({}/{})",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH
        ))
        // The body is stored as sent: no transparent decompression.
        .accept_encoding("identity")
        .timeout_connect(settings.timeout)
        .timeout_recv_response(settings.timeout)
        .timeout_per_read(settings.timeout)
        .timeout_global(settings.max_time)
        .tls_config(TlsConfig::builder().root_certs(roots.clone()).build())
        .build()
        .into();
    let mut get = agent.get(url);
    if let Some(a) = auth {
        get = get.header("Authorization", a);
    }
    if let Some(m) = settings.max_size {
        get = get.header("X-DEBUGINFOD-MAXSIZE", m.to_string());
    }
    for (k, v) in &settings.headers {
        get = get.header(k.as_str(), v.as_str());
    }
    let resp = match get.call() {
        Ok(r) => r,
        Err(e) => return Answer::Failed(e.to_string()),
    };
    let status = resp.status().as_u16();
    match status {
        200 => {}
        404 => return Answer::NotFound,
        406 => {
            return Answer::TooBig(format!(
                "the server says the file is larger than DEBUGINFOD_MAXSIZE = {} bytes (HTTP 406)",
                settings.max_size.unwrap_or(0)
            ))
        }
        code => {
            let why = resp.status().canonical_reason().unwrap_or("");
            return Answer::Failed(format!("HTTP {code} {why}").trim_end().to_string());
        }
    }
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let total = header("content-length")
        .or_else(|| header("x-debuginfod-size"))
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let (Some(max), Some(t)) = (settings.max_size, total) {
        if t > max {
            return Answer::TooBig(format!(
                "the file is {t} bytes, more than DEBUGINFOD_MAXSIZE = {max}"
            ));
        }
    }
    let modified = header("last-modified").and_then(|v| httpdate::parse_http_date(&v).ok());
    let mut body = resp.into_body().into_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0u64;
    let mut window = (Instant::now(), 0u64);
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Answer::Cancelled;
        }
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                return Answer::Failed(match total {
                    Some(t) if got < t => {
                        format!("connection closed after {got} of {t} bytes ({e})")
                    }
                    _ => format!("after {got} bytes: {e}"),
                })
            }
        };
        if let Err(e) = out.write_all(&buf[..n]) {
            return Answer::Failed(format!("writing the cache: {e}"));
        }
        got += n as u64;
        progress(got, total);
        if let Some(max) = settings.max_size {
            if got > max {
                return Answer::TooBig(format!(
                    "more than DEBUGINFOD_MAXSIZE = {max} bytes arrived"
                ));
            }
        }
        if let Some(t) = settings.timeout {
            if window.0.elapsed() >= t {
                if got - window.1 < LOW_SPEED_BYTES {
                    return Answer::Failed(format!(
                        "less than 100 KiB in {} s (DEBUGINFOD_TIMEOUT): the transfer is too slow",
                        t.as_secs()
                    ));
                }
                window = (Instant::now(), got);
            }
        }
    }
    if let Some(t) = total {
        if got < t {
            return Answer::Failed(format!("connection closed after {got} of {t} bytes"));
        }
    }
    Answer::File {
        bytes: got,
        modified,
    }
}
