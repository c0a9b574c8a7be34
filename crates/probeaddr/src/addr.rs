//! Address types that say what an address is.
//!
//! A probe location passes through three address spaces, and mixing them up is
//! the classic way to register a probe "successfully" at the wrong place:
//!
//! * [`LinkAddr`]: the virtual address the ELF file says (`st_value`, `p_vaddr`).
//! * [`FileOffset`]: where the bytes are in the file; what `uprobe_events` takes.
//! * [`RuntimeAddr`]: where the code is in memory now (after ASLR/KASLR, after
//!   the loader mapped the file).
//!
//! Conversions between them are named functions that can fail (return `Option`)
//! rather than arithmetic on bare `u64`s.
//!
//! In JSON every address and offset is a `0x` hex string (a 64-bit kernel
//! address does not survive a JavaScript number); reading accepts a number too.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! addr_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub u64);

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                hex::serialize(&self.0, s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                hex::deserialize(d).map($name)
            }
        }

        impl $name {
            /// The raw value.
            #[inline]
            pub const fn get(self) -> u64 {
                self.0
            }

            /// `self + delta`, or `None` on overflow.
            #[inline]
            pub fn checked_add(self, delta: u64) -> Option<Self> {
                self.0.checked_add(delta).map(Self)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:#x})"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:#x}", self.0)
            }
        }

        impl fmt::LowerHex for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::LowerHex::fmt(&self.0, f)
            }
        }
    };
}

addr_newtype!(
    /// A link-time virtual address: what the ELF file's symbol table and
    /// program headers say, before any relocation by the loader or KASLR.
    LinkAddr
);
addr_newtype!(
    /// An offset into the file on disk. Uprobes are defined as `PATH:FILE_OFFSET`.
    FileOffset
);
addr_newtype!(
    /// An address in the memory of a running process or kernel.
    RuntimeAddr
);
addr_newtype!(
    /// An offset into one section of a relocatable object (a kernel
    /// module's symbol values): the loader places each section on its own.
    SectionOffset
);

/// `u64` fields as `0x` hex strings in JSON (`#[serde(with = "crate::addr::hex")]`).
pub mod hex {
    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};
    use std::fmt;

    /// Write `v` as `"0x…"`.
    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{v:#x}"))
    }

    /// Read `"0x…"` (or a plain number).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        struct Hex;
        impl Visitor<'_> for Hex {
            type Value = u64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 0x hex string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
                Ok(v)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
                v.strip_prefix("0x")
                    .and_then(|h| u64::from_str_radix(h, 16).ok())
                    .ok_or_else(|| E::custom(format!("not a 0x hex number: {v:?}")))
            }
        }
        d.deserialize_any(Hex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_hex() {
        assert_eq!(LinkAddr(0x1175).to_string(), "0x1175");
        assert_eq!(
            serde_json::to_string(&RuntimeAddr(0xffffffff81000000)).unwrap(),
            "\"0xffffffff81000000\""
        );
        let back: LinkAddr = serde_json::from_str("\"0x10\"").unwrap();
        assert_eq!(back, LinkAddr(16));
        assert!(serde_json::from_str::<LinkAddr>("\"16\"").is_err());
        assert_eq!(format!("{:?}", FileOffset(16)), "FileOffset(0x10)");
        assert_eq!(RuntimeAddr(u64::MAX).checked_add(1), None);
    }
}
