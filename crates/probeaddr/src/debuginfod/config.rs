//! What the environment says about servers, proxies and headers, read the
//! way elfutils (through libcurl) reads it, so that one shell setup serves
//! gdb, perf, SystemTap and probeaddr alike.

use std::path::Path;

use super::Artifact;

/// Server URLs in `text` (whitespace separated, as `DEBUGINFOD_URLS`),
/// each once, in order.
pub(crate) fn split_urls<'a>(text: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for url in text.into_iter().flat_map(str::split_whitespace) {
        // elfutils skips a server named twice (with or without a final '/').
        let key = url.trim_end_matches('/');
        if !out.iter().any(|u| u.trim_end_matches('/') == key) {
            out.push(url.to_string());
        }
    }
    out
}

/// The servers the environment names: `$DEBUGINFOD_URLS` when it is set
/// (set but empty means none, as for elfutils' client); when it is unset,
/// every `*.urls` file in `etc` (`/etc/debuginfod`), which is what
/// elfutils' profile script puts into `DEBUGINFOD_URLS` for login shells.
pub(crate) fn servers_from_env(etc: &Path) -> Vec<String> {
    if let Some(v) = std::env::var_os("DEBUGINFOD_URLS") {
        return split_urls([v.to_string_lossy().as_ref()]);
    }
    servers_from_dir(etc)
}

/// The servers listed in `dir/*.urls`, files in name order (as the shell's
/// glob sorts them).
pub(crate) fn servers_from_dir(dir: &Path) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "urls") && p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let texts: Vec<String> = files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect();
    split_urls(texts.iter().map(String::as_str))
}

/// The URL of `artifact` of build-id `hex` on `server`: elfutils adds
/// `buildid` after a final '/', else `/buildid`.
pub(crate) fn query_url(server: &str, hex: &str, artifact: &Artifact) -> String {
    let slash = if server.ends_with('/') { "" } else { "/" };
    let what = match artifact {
        Artifact::Debuginfo => "debuginfo".to_string(),
        Artifact::Executable => "executable".to_string(),
        Artifact::Section(s) => format!("section/{s}"),
    };
    format!("{server}{slash}buildid/{hex}/{what}")
}

/// A URL with any `user:password@` taken out of it and turned into the
/// `Authorization: Basic` value libcurl would send.
pub(crate) fn split_credentials(url: &str) -> (String, Option<String>) {
    use base64::Engine;
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_string(), None);
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return (url.to_string(), None);
    };
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let pair = format!("{}:{}", percent_decode(user), percent_decode(password));
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    );
    (format!("{scheme}://{host}{path}"), Some(auth))
}

/// `%XX` escapes decoded (credentials in URLs are written that way).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The proxy for `url`, by libcurl's rules: `http_proxy` (lower case
/// only, against "httpoxy") for http, `https_proxy`/`HTTPS_PROXY` for
/// https, then `all_proxy`/`ALL_PROXY`; none for a host `no_proxy`
/// (`NO_PROXY`) covers.
pub(crate) fn proxy_for(url: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = hostport.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        hostport.split(':').next().unwrap_or("")
    };
    let get = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| env(n).filter(|v| !v.trim().is_empty()))
    };
    let no_proxy = get(&["no_proxy", "NO_PROXY"]).unwrap_or_default();
    if no_proxy_covers(&no_proxy, host) {
        return None;
    }
    let specific = match scheme.to_ascii_lowercase().as_str() {
        "http" => get(&["http_proxy"]),
        "https" => get(&["https_proxy", "HTTPS_PROXY"]),
        _ => None,
    };
    specific.or_else(|| get(&["all_proxy", "ALL_PROXY"]))
}

/// libcurl's `no_proxy`: comma-separated names, each matching the host
/// and its subdomains (a leading '.' is allowed), `*` matching all.
fn no_proxy_covers(list: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    list.split([',', ' '])
        .map(|e| e.trim().trim_start_matches('.').trim_end_matches('.'))
        .filter(|e| !e.is_empty())
        .any(|e| {
            let e = e.to_ascii_lowercase();
            e == "*" || host == e || host.ends_with(&format!(".{e}"))
        })
}

/// Headers from `DEBUGINFOD_HEADERS_FILE`: one `Name: value` per line;
/// blank and malformed lines are skipped (and named, for verbose output).
pub(crate) fn headers_from_file(path: &Path) -> (Vec<(String, String)>, Vec<String>) {
    let mut headers = Vec::new();
    let mut skipped = Vec::new();
    match std::fs::read_to_string(path) {
        Ok(text) => {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                match line.split_once(':') {
                    Some((k, v))
                        if !k.is_empty()
                            && k.bytes().all(|b| b.is_ascii_graphic() && b != b':') =>
                    {
                        headers.push((k.to_string(), v.trim().to_string()));
                    }
                    _ => skipped.push(format!("{}: bad header {line:?}", path.display())),
                }
            }
        }
        Err(e) => skipped.push(format!("header file {}: {e}", path.display())),
    }
    (headers, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_split_and_deduplicated() {
        assert_eq!(
            split_urls(["http://a:1  http://b/\thttp://a:1/\n", "http://b"]),
            ["http://a:1", "http://b/"]
        );
        assert!(split_urls(["  "]).is_empty());
    }

    #[test]
    fn urls_files_are_read_in_name_order() {
        let d = std::env::temp_dir().join(format!("probeaddr-urls-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("b.urls"), "https://b.example\n").unwrap();
        std::fs::write(d.join("a.urls"), "https://a.example https://b.example\n").unwrap();
        std::fs::write(d.join("c.txt"), "https://c.example\n").unwrap();
        assert_eq!(
            servers_from_dir(&d),
            ["https://a.example", "https://b.example"]
        );
        std::fs::remove_dir_all(&d).unwrap();
        assert!(servers_from_dir(&d).is_empty());
    }

    #[test]
    fn query_urls_are_elfutils() {
        let id = "ab12";
        assert_eq!(
            query_url("http://h:8002", id, &Artifact::Debuginfo),
            "http://h:8002/buildid/ab12/debuginfo"
        );
        assert_eq!(
            query_url("https://h/debuginfod/", id, &Artifact::Executable),
            "https://h/debuginfod/buildid/ab12/executable"
        );
        assert_eq!(
            query_url("http://h", id, &Artifact::Section(".symtab".into())),
            "http://h/buildid/ab12/section/.symtab"
        );
    }

    #[test]
    fn credentials_leave_the_url_for_a_header() {
        let (url, auth) = split_credentials("https://me:p%40ss@h.example:8443/x?y=1");
        assert_eq!(url, "https://h.example:8443/x?y=1");
        // base64("me:p@ss")
        assert_eq!(auth.as_deref(), Some("Basic bWU6cEBzcw=="));
        let (url, auth) = split_credentials("http://h/a@b");
        assert_eq!((url.as_str(), auth), ("http://h/a@b", None));
    }

    #[test]
    fn proxies_follow_libcurl() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let e = env(&[
            ("http_proxy", "http://p1:3128"),
            ("HTTPS_PROXY", "http://p2:3128"),
            ("no_proxy", "localhost,.internal.example, 10.0.0.1"),
        ]);
        assert_eq!(
            proxy_for("http://h.example/x", &e).as_deref(),
            Some("http://p1:3128")
        );
        assert_eq!(
            proxy_for("https://h.example/x", &e).as_deref(),
            Some("http://p2:3128")
        );
        assert_eq!(proxy_for("https://a.internal.example/x", &e), None);
        assert_eq!(proxy_for("https://internal.example/x", &e), None);
        assert_eq!(proxy_for("http://10.0.0.1:80/x", &e), None);
        assert_eq!(proxy_for("http://user:pw@localhost:80/x", &e), None);
        assert_eq!(
            proxy_for("http://notinternal.example/x", &e).as_deref(),
            Some("http://p1:3128")
        );
        // Upper-case HTTP_PROXY is not read (httpoxy); ALL_PROXY is the fallback.
        let e = env(&[("HTTP_PROXY", "http://bad"), ("ALL_PROXY", "http://all:1")]);
        assert_eq!(proxy_for("http://h/x", &e).as_deref(), Some("http://all:1"));
        let e = env(&[("https_proxy", "http://p"), ("NO_PROXY", "*")]);
        assert_eq!(proxy_for("https://h/x", &e), None);
    }

    #[test]
    fn header_files_skip_what_is_not_a_header() {
        let f = std::env::temp_dir().join(format!("probeaddr-headers-{}", std::process::id()));
        std::fs::write(
            &f,
            "Authorization: Bearer t0k\n\nnot a header\nX-Test:  1 \n",
        )
        .unwrap();
        let (h, skipped) = headers_from_file(&f);
        assert_eq!(
            h,
            [
                ("Authorization".to_string(), "Bearer t0k".to_string()),
                ("X-Test".to_string(), "1".to_string())
            ]
        );
        assert_eq!(skipped.len(), 1);
        std::fs::remove_file(&f).unwrap();
    }
}
