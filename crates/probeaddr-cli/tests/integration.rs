//! End-to-end tests of the `probeaddr` binary against C fixtures compiled
//! with gcc at test time, cross-checked with oracles nobody here wrote:
//! readelf, objdump, gdb and perf probe.

mod suite;
