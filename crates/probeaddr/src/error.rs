//! The library's error type: one small struct over a `#[non_exhaustive]` kind,
//! with the path of the file it concerns and a message that says what to do
//! next. Where a caller may want to act on *why* (suggest a name, offer the
//! candidates of an ambiguous point), the error carries a [`Reason`] as data.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::addr::LinkAddr;

/// What went wrong, for callers that branch on it. Messages carry the details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A file could not be opened or read.
    Io,
    /// The input is not an ELF file at all.
    NotElf,
    /// An ELF file whose headers or tables are truncated or inconsistent.
    Malformed,
    /// A valid ELF file of a class or machine probeaddr does not handle.
    Unsupported,
    /// No symbol table in the file nor in any debug file found for it.
    NoSymbols,
    /// Debug information whose build-id does not match the object.
    BuildIdMismatch,
    /// The probe point text does not parse.
    Syntax,
    /// Nothing matches the probe point.
    NotFound,
    /// Several locations match and a unique one was required.
    Ambiguous,
    /// An offset outside the function, or not on an instruction boundary.
    BadOffset,
    /// The probe point is valid but needs a capability not built yet.
    NotImplemented,
    /// The location cannot be written in the requested form (e.g. a path
    /// with whitespace in a uprobe definition).
    Unrepresentable,
    /// The object is not mapped in the given process.
    NotMapped,
    /// Bad input in a text file standing in for a system file (maps, kallsyms).
    BadInput,
    /// The kernel refuses a probe there (its kprobe blacklist).
    Refused,
}

/// Why a probe point has no answer, as data: what the message says in words.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Reason {
    /// Nothing matches the probe point.
    NotFound {
        /// Function names close to the one asked for (empty when none is).
        closest: Vec<String>,
    },
    /// Several locations match and exactly one was required (`unique`).
    Ambiguous {
        /// Every match, with the probe point that selects it alone.
        candidates: Vec<Candidate>,
    },
}

/// One location of an ambiguous probe point (resolve without `unique` for
/// the full [`crate::Location`]s).
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The location as messages name it (`helper [sub/b.c]`,
    /// `jhash inlined into f at f+0x10 [x.c]`).
    pub location: String,
    /// Its link-time address.
    pub addr: LinkAddr,
    /// What it is relative to (`file offset 0x1175`, `_text+0x3ea470`).
    pub anchor: String,
    /// A probe point that names this location alone (`helper@b.c`), if
    /// one exists; else only its anchor tells it apart.
    pub pin: Option<String>,
}

/// A probeaddr error: a kind, an optional file it concerns, and a message.
#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    path: Option<PathBuf>,
    message: String,
    detail: Option<String>,
    reason: Option<Box<Reason>>,
    source: Option<Arc<std::io::Error>>,
}

/// `Result<T, probeaddr::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            path: None,
            message: message.into(),
            detail: None,
            reason: None,
            source: None,
        }
    }

    /// Attach the reason as data.
    pub fn with_reason(mut self, reason: Reason) -> Self {
        self.reason = Some(Box::new(reason));
        self
    }

    /// Why, as data, where the error has a reason a caller may act on.
    pub fn reason(&self) -> Option<&Reason> {
        self.reason.as_deref()
    }

    /// Attach lines of detail shown below the one-line message (a caret under
    /// the bad column, a list of candidates).
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Extra lines shown below the message, if any.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// An I/O error on `path`.
    pub fn io(path: &Path, err: std::io::Error) -> Self {
        let what = match err.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => err.to_string(),
        };
        Error {
            kind: ErrorKind::Io,
            path: Some(path.to_path_buf()),
            message: what,
            detail: None,
            reason: None,
            source: Some(Arc::new(err)),
        }
    }

    /// Attach the file this error concerns (kept if one is already set).
    pub fn with_path(mut self, path: &Path) -> Self {
        if self.path.is_none() {
            self.path = Some(path.to_path_buf());
        }
        self
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The file this error concerns, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The message without the path.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{}: {}", p.display(), self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
