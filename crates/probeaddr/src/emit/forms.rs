//! The forms in which probe APIs take a location, and why each is safe.
//!
//! * `PATH:0xOFF` ([`Form::File`]): uprobes take file offsets; the process
//!   maps the file where it likes.
//! * `_text+0xOFF` ([`Form::Text`]): unique by construction, and KASLR
//!   moves `_text` with the code.
//! * `SYM+0xOFF` ([`Form::Symbol`]): only with a symbol the kernel finds
//!   once — the function itself when its name is unique, else the nearest
//!   unique function before it in its section (never `__pfx_` padding).
//! * `MOD:SYM+0xOFF` ([`Form::ModuleSymbol`]): module code, with a symbol
//!   unique in the module (6.1.60–6.6 skip the check for `MOD:SYM`; later
//!   kernels count within the module; requiring it satisfies both).
//! * `0xADDR` ([`Form::Address`]): the runtime address, valid for this boot
//!   of this build only; given only after linking with matching build-ids.

use std::fmt;

use serde::Serialize;

use crate::addr::{FileOffset, RuntimeAddr};
use crate::error::{Error, ErrorKind, Result};
use crate::link::Linked;
use crate::location::{Anchor, LocationKind, Namespace, Object, SymbolAnchor};

/// Which form to write a kernel location in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FormChoice {
    /// The safest available: `_text+`, else `MOD:SYM+` or `SYM+`, else the address.
    #[default]
    Safest,
    /// `_text+0xOFF` for the kernel image (`MOD:SYM+0xOFF` for modules).
    Text,
    /// `SYM+0xOFF` or the nearest unique symbol (`MOD:SYM+0xOFF` for modules).
    Symbol,
    /// The absolute runtime address.
    Address,
}

impl FormChoice {
    fn name(self) -> &'static str {
        match self {
            FormChoice::Safest => "usable",
            FormChoice::Text => "_text+",
            FormChoice::Symbol => "symbol",
            FormChoice::Address => "address",
        }
    }
}

/// One way to write a location for a probe API.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Form {
    /// `PATH:0xOFF`.
    File {
        /// The absolute path.
        path: String,
        /// The file offset.
        offset: FileOffset,
        /// A USDT marker's semaphore (`PATH:0xOFF(0xREF)`).
        ref_ctr: Option<FileOffset>,
    },
    /// `_text+0xOFF`.
    Text {
        /// Bytes after `_text`.
        offset: u64,
    },
    /// `SYM+0xOFF`, SYM unique in the namespace the location was resolved in.
    Symbol {
        /// The symbol and offset.
        anchor: SymbolAnchor,
        /// Where SYM was counted.
        namespace: Option<Namespace>,
    },
    /// `MOD:SYM+0xOFF`, SYM unique in the module.
    ModuleSymbol {
        /// The module.
        module: String,
        /// The symbol and offset.
        anchor: SymbolAnchor,
    },
    /// `0xADDR`.
    Address(RuntimeAddr),
}

impl fmt::Display for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Form::File {
                path,
                offset,
                ref_ctr: None,
            } => write!(f, "{path}:{offset}"),
            Form::File {
                path,
                offset,
                ref_ctr: Some(r),
            } => write!(f, "{path}:{offset}({r})"),
            Form::Text { offset } => write!(f, "_text+{offset:#x}"),
            Form::Symbol { anchor, .. } => write!(f, "{anchor}"),
            Form::ModuleSymbol { module, anchor } => write!(f, "{module}:{anchor}"),
            Form::Address(a) => write!(f, "{a}"),
        }
    }
}

impl Form {
    /// Why this form names the location and nothing else.
    pub fn reason(&self) -> &'static str {
        match self {
            Form::File { .. } => {
                "uprobes take file offsets; the process maps the file where it likes"
            }
            Form::Text { .. } => "_text is unique, and KASLR moves it with the code",
            Form::Symbol {
                anchor,
                namespace: Some(Namespace::Kallsyms),
            } if anchor.own => "the name is unique in the running kernel's kallsyms",
            Form::Symbol { anchor, .. } if anchor.own => {
                "the name is unique in the files given; a module loaded later could share it"
            }
            Form::Symbol { .. } => "the nearest unique function before it, in its section",
            Form::ModuleSymbol { .. } => "the name is unique in the module",
            Form::Address(_) => "the runtime address of this boot of this build",
        }
    }

    /// The form `choice` asks for, or an error saying why there is none.
    pub fn choose(l: &Linked, choice: FormChoice) -> Result<Form> {
        let loc = &l.location;
        let none = |why: &str| {
            Error::new(
                ErrorKind::Unrepresentable,
                format!(
                    "{} [{}]: no {} form: {why}",
                    loc.symbol,
                    loc.file.as_deref().unwrap_or("?"),
                    choice.name()
                ),
            )
        };
        if loc.kind == LocationKind::Data {
            return Err(none(
                "a data location is a fetch argument (@ADDR / @SYM), not a probe",
            ));
        }
        if let Anchor::File { offset } = &loc.anchor {
            return match &l.uprobe_path {
                Some(Ok(path)) => Ok(Form::File {
                    path: path.clone(),
                    offset: *offset,
                    ref_ctr: loc.marker.as_ref().and_then(|m| m.semaphore),
                }),
                Some(Err(e)) => Err(e.clone()),
                None => Err(none("not linked")),
            };
        }
        let all = Forms::of(l);
        let why = || {
            loc.notes
                .iter()
                .chain(&l.unlinked)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        };
        let sym = all.module.clone().or(all.symbol.clone());
        match choice {
            FormChoice::Safest => all.text.or(sym).or(all.address).ok_or_else(|| none(&why())),
            FormChoice::Text => all.text.or(all.module).ok_or_else(|| {
                none("module code is not relative to _text, and no symbol of the module anchors it")
            }),
            FormChoice::Symbol => sym.ok_or_else(|| none(&why())),
            FormChoice::Address => all
                .address
                .ok_or_else(|| none(&l.unlinked.clone().unwrap_or_else(why))),
        }
    }
}

/// Every form a linked location has.
#[derive(Debug, Clone, Default)]
pub struct Forms {
    /// `_text+0xOFF`.
    pub text: Option<Form>,
    /// `SYM+0xOFF` (the function's own name, or the nearest unique one).
    pub symbol: Option<Form>,
    /// `MOD:SYM+0xOFF`.
    pub module: Option<Form>,
    /// The runtime address.
    pub address: Option<Form>,
}

impl Forms {
    /// The forms of `l` (none but the file form for user space).
    pub fn of(l: &Linked) -> Forms {
        let loc = &l.location;
        if loc.kind == LocationKind::Data {
            return Forms {
                address: l.runtime.map(Form::Address),
                ..Forms::default()
            };
        }
        let text = match &loc.anchor {
            Anchor::KernelText { offset } => Some(Form::Text { offset: *offset }),
            _ => None,
        };
        let module = match (&loc.object, &loc.module_form) {
            (Object::Module { name, .. }, Some(a)) => Some(Form::ModuleSymbol {
                module: name.clone(),
                anchor: a.clone(),
            }),
            _ => None,
        };
        Forms {
            text,
            symbol: loc.symbol_form.clone().map(|anchor| Form::Symbol {
                anchor,
                namespace: loc.namespace,
            }),
            module,
            address: match loc.anchor {
                Anchor::File { .. } => None,
                _ => l.runtime.map(Form::Address),
            },
        }
    }
}

/// The forms as JSON shows them: each form's text, or null.
#[derive(Debug, Clone, Serialize)]
pub struct FormsJson {
    /// `_text+0xOFF`.
    pub text: Option<String>,
    /// `SYM+0xOFF` with the function's own (unique) name.
    pub symbol: Option<String>,
    /// `UNIQ+0xOFF` with the nearest unique symbol, when the own name is not unique.
    pub nearest: Option<String>,
    /// `MOD:SYM+0xOFF`.
    pub module: Option<String>,
    /// The runtime address.
    pub address: Option<String>,
    /// `@SYM` for a data location.
    pub data_symbol: Option<String>,
    /// `PATH:0xOFF` for a user-space location.
    pub file: Option<String>,
}

impl FormsJson {
    /// The JSON view of `l`'s forms.
    pub fn of(l: &Linked) -> FormsJson {
        let f = Forms::of(l);
        let s = |f: Option<Form>| f.map(|f| f.to_string());
        let (own, nearest) = match &f.symbol {
            Some(Form::Symbol { anchor, .. }) if !anchor.own => (None, f.symbol.clone()),
            _ => (f.symbol.clone(), None),
        };
        FormsJson {
            text: s(f.text),
            symbol: s(own),
            nearest: s(nearest),
            module: s(f.module),
            address: s(f.address),
            data_symbol: l.location.data_symbol.clone(),
            file: match (&l.location.anchor, &l.uprobe_path) {
                (Anchor::File { offset }, Some(Ok(p))) => Some(format!("{p}:{offset}")),
                _ => None,
            },
        }
    }
}
