//! A debuginfod client (the protocol of elfutils' `debuginfod`, which gdb,
//! perf and systemd already use): `GET URL/buildid/HEX/debuginfo`.
//!
//! * Servers come from `--debuginfod URL` or `$DEBUGINFOD_URLS` (space
//!   separated), tried in order.
//! * Files land in the standard cache (`$DEBUGINFOD_CACHE_PATH`, else
//!   `$XDG_CACHE_HOME/debuginfod_client`, else `~/.cache/debuginfod_client`)
//!   as `HEX/debuginfo`, so elfutils, gdb and probeaddr share downloads.
//! * A download goes to a temporary file in the cache and is renamed into
//!   place only once it is complete, an ELF file, and has the build-id asked
//!   for; anything else is deleted, so the cache never holds a partial or
//!   wrong file.
//! * Plain `http://` only: TLS would need a heavy dependency; a local
//!   debuginfod or a proxy covers `https://` servers.

use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::sources::elf::{hex, ElfObject};

/// Where and how to fetch.
#[derive(Debug, Clone, Default)]
pub struct Debuginfod {
    /// Server base URLs.
    pub urls: Vec<String>,
    /// The cache directory.
    pub cache: PathBuf,
    /// Show a progress bar on a terminal for downloads over 1 MB.
    pub progress: bool,
}

impl Debuginfod {
    /// From `--debuginfod` URLs, else `$DEBUGINFOD_URLS`; `None` if neither
    /// names a server.
    pub fn from_env(cli_urls: &[String]) -> Option<Debuginfod> {
        let urls: Vec<String> = if cli_urls.is_empty() {
            std::env::var("DEBUGINFOD_URLS")
                .ok()?
                .split_whitespace()
                .map(str::to_string)
                .collect()
        } else {
            cli_urls
                .iter()
                .flat_map(|u| u.split_whitespace())
                .map(str::to_string)
                .collect()
        };
        if urls.is_empty() {
            return None;
        }
        let cache = std::env::var_os("DEBUGINFOD_CACHE_PATH")
            .map(PathBuf::from)
            .or_else(|| crate::sources::cache_home().map(|c| c.join("debuginfod_client")))
            .unwrap_or_else(|| PathBuf::from(".cache/debuginfod_client"));
        Some(Debuginfod {
            urls,
            cache,
            progress: std::io::stderr().is_terminal(),
        })
    }

    /// The cache path of a build-id's debug file.
    pub fn cache_path(&self, build_id: &[u8]) -> PathBuf {
        self.cache.join(hex(build_id)).join("debuginfo")
    }

    /// The debug file for `build_id`: from the cache, else from the first
    /// server that has it.
    pub fn fetch(&self, build_id: &[u8]) -> Result<PathBuf> {
        let dest = self.cache_path(build_id);
        if dest.is_file() {
            return Ok(dest);
        }
        let mut errors = Vec::new();
        for url in &self.urls {
            match self.fetch_from(url, build_id, &dest) {
                Ok(()) => return Ok(dest),
                Err(e) => errors.push(e),
            }
        }
        Err(Error::new(
            ErrorKind::NoSymbols,
            format!(
                "debuginfod: no server gave the debug file of build-id {}: {}",
                hex(build_id),
                errors.join("; ")
            ),
        ))
    }

    fn fetch_from(
        &self,
        base: &str,
        build_id: &[u8],
        dest: &Path,
    ) -> std::result::Result<(), String> {
        let url = format!(
            "{}/buildid/{}/debuginfo",
            base.trim_end_matches('/'),
            hex(build_id)
        );
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{base}: only http:// servers are supported (no TLS); use a local debuginfod or proxy"))?;
        let (hostport, path) = rest
            .split_once('/')
            .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
        let addr = if hostport.contains(':') {
            hostport.to_string()
        } else {
            format!("{hostport}:80")
        };
        let sock = addr
            .to_socket_addrs()
            .map_err(|e| format!("{base}: cannot resolve {hostport}: {e}"))?
            .next()
            .ok_or_else(|| format!("{base}: {hostport} has no address"))?;
        let mut stream = TcpStream::connect_timeout(&sock, Duration::from_secs(10))
            .map_err(|e| format!("{base}: {e}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(60))).ok();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {hostport}\r\nUser-Agent: probeaddr/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        );
        stream
            .write_all(request.as_bytes())
            .map_err(|e| format!("{base}: {e}"))?;
        let mut r = BufReader::new(stream);
        let mut status = String::new();
        r.read_line(&mut status)
            .map_err(|e| format!("{base}: {e}"))?;
        let code: u16 = status
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("{base}: not an HTTP response: {:?}", status.trim()))?;
        let mut length: Option<u64> = None;
        let mut chunked = false;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).map_err(|e| format!("{base}: {e}"))? == 0 {
                return Err(format!("{base}: connection closed in the headers"));
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = v.trim().parse().ok(),
                    "transfer-encoding" => chunked = v.trim().eq_ignore_ascii_case("chunked"),
                    _ => {}
                }
            }
        }
        if code == 404 {
            return Err(format!("{base}: not found (404)"));
        }
        if code != 200 {
            return Err(format!("{base}: HTTP {code}"));
        }
        std::fs::create_dir_all(dest.parent().expect("cache path has a parent"))
            .map_err(|e| format!("cache {}: {e}", self.cache.display()))?;
        let tmp = dest.with_file_name(format!(".debuginfo.{}.tmp", std::process::id()));
        let result = (|| -> std::result::Result<(), String> {
            let mut f =
                std::fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
            let mut got = 0u64;
            let show = self.progress && length.is_some_and(|l| l > 1 << 20);
            let mut buf = vec![0u8; 1 << 16];
            let mut copy = |r: &mut dyn Read,
                            want: Option<u64>,
                            got: &mut u64|
             -> std::result::Result<(), String> {
                loop {
                    let limit = want.map_or(buf.len() as u64, |w| (w - *got).min(buf.len() as u64))
                        as usize;
                    if limit == 0 {
                        return Ok(());
                    }
                    let n = r
                        .read(&mut buf[..limit])
                        .map_err(|e| format!("{base}: {e}"))?;
                    if n == 0 {
                        return match want {
                            Some(w) if *got < w => Err(format!(
                                "{base}: connection closed after {got} of {w} bytes"
                            )),
                            _ => Ok(()),
                        };
                    }
                    f.write_all(&buf[..n])
                        .map_err(|e| format!("{}: {e}", tmp.display()))?;
                    *got += n as u64;
                    if show {
                        let total = length.unwrap_or(1);
                        eprint!(
                            "\rdebuginfod: {} {:>3}% ({:.1}/{:.1} MB)",
                            hex(build_id),
                            *got * 100 / total,
                            *got as f64 / 1e6,
                            total as f64 / 1e6
                        );
                    }
                }
            };
            if chunked {
                loop {
                    let mut line = String::new();
                    r.read_line(&mut line).map_err(|e| format!("{base}: {e}"))?;
                    let size = u64::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                        .map_err(|_| format!("{base}: bad chunk size {:?}", line.trim()))?;
                    if size == 0 {
                        break;
                    }
                    let target = got + size;
                    let mut chunk_got = got;
                    copy(&mut r, Some(target), &mut chunk_got)?;
                    got = chunk_got;
                    let mut crlf = [0u8; 2];
                    r.read_exact(&mut crlf)
                        .map_err(|e| format!("{base}: {e}"))?;
                }
            } else {
                copy(&mut r, length, &mut got)?;
            }
            if show {
                eprintln!();
            }
            f.sync_all()
                .map_err(|e| format!("{}: {e}", tmp.display()))?;
            // Only a complete ELF file with the build-id asked for is kept.
            let elf = ElfObject::open(&tmp).map_err(|e| {
                format!(
                    "{base}: the server sent something that is not a usable debug file ({})",
                    e.message()
                )
            })?;
            if elf.build_id() != Some(build_id) {
                return Err(format!(
                    "{base}: the server sent a file with build-id {}, not {}",
                    elf.build_id().map_or("none".to_string(), hex),
                    hex(build_id)
                ));
            }
            std::fs::rename(&tmp, dest).map_err(|e| format!("{}: {e}", dest.display()))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
            let _ = std::fs::remove_dir(dest.parent().expect("cache path has a parent"));
        }
        result
    }
}
