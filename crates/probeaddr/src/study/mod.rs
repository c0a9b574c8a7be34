//! The kallsyms cost study: what it would cost the kernel to tell local
//! symbols apart by itself, scheme by scheme, measured on one vmlinux.

pub mod compress;
pub mod cost;
pub mod export;
