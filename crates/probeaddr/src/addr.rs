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

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! addr_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_hex() {
        assert_eq!(LinkAddr(0x1175).to_string(), "0x1175");
        assert_eq!(format!("{:?}", FileOffset(16)), "FileOffset(0x10)");
        assert_eq!(RuntimeAddr(u64::MAX).checked_add(1), None);
    }
}
