//! Instruction boundaries. A probe must sit on the first byte of an
//! instruction: the kernel rejects a kprobe mid-instruction with `EILSEQ`, and
//! a uprobe there silently corrupts the instruction it patches. We decode from
//! the symbol's start (the only point known to be a boundary) with iced-x86.

use iced_x86::{Decoder, DecoderOptions};

/// Why an offset cannot be probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadOffset {
    /// At or past the end of the function.
    OutsideFunction {
        /// The function's size.
        size: u64,
        /// The last instruction's offset.
        last: Option<u64>,
    },
    /// Inside an instruction.
    MidInstruction {
        /// Start of the instruction holding the offset.
        before: u64,
        /// Start of the next instruction, if within the function.
        after: Option<u64>,
    },
    /// The decoder met bytes that are not a valid instruction before reaching
    /// the offset (data in text, or a decode error): refuse rather than guess.
    Undecodable {
        /// Offset of the bytes that failed to decode.
        at: u64,
    },
}

/// The offsets of every instruction start in `code` (x86 code, decoded in
/// `bits` 64- or 32-bit mode), stopping at the first undecodable instruction.
pub fn boundaries_x86(code: &[u8], ip: u64, bits: u32) -> (Vec<u64>, Option<u64>) {
    let mut decoder = Decoder::with_ip(bits, code, ip, DecoderOptions::NONE);
    let mut out = Vec::new();
    while decoder.can_decode() {
        let pos = decoder.position() as u64;
        let insn = decoder.decode();
        if insn.is_invalid() {
            return (out, Some(pos));
        }
        out.push(pos);
    }
    (out, None)
}

/// Check that `offset` is an instruction start in a function whose bytes are
/// `code` (so `code.len()` is the function size).
pub fn check_offset_x86(code: &[u8], ip: u64, offset: u64, bits: u32) -> Result<(), BadOffset> {
    let (starts, bad) = boundaries_x86(code, ip, bits);
    if offset >= code.len() as u64 {
        return Err(BadOffset::OutsideFunction {
            size: code.len() as u64,
            last: starts.last().copied(),
        });
    }
    match starts.binary_search(&offset) {
        Ok(_) => Ok(()),
        Err(i) => {
            if let Some(at) = bad {
                if starts.last().is_none_or(|&l| l < offset) {
                    return Err(BadOffset::Undecodable { at });
                }
            }
            Err(BadOffset::MidInstruction {
                before: starts[i.saturating_sub(1)],
                after: starts.get(i).copied(),
            })
        }
    }
}

/// The offset of the first instruction in `code` (before offset `limit`)
/// after which execution may not reach the next instruction: a jump,
/// conditional jump or return, and a system call or interrupt (`execve`'s
/// `syscall` does not come back on success). Calls return and do not count.
/// An undecodable instruction counts too: nothing past it is known.
pub fn first_branch_x86(code: &[u8], ip: u64, limit: u64, bits: u32) -> Option<u64> {
    use iced_x86::FlowControl;
    let mut decoder = Decoder::with_ip(bits, code, ip, DecoderOptions::NONE);
    while decoder.can_decode() {
        let pos = decoder.position() as u64;
        if pos >= limit {
            return None;
        }
        let insn = decoder.decode();
        if insn.is_invalid() {
            return Some(pos);
        }
        // iced counts a system call as a call (it returns, usually).
        if matches!(
            insn.mnemonic(),
            iced_x86::Mnemonic::Syscall | iced_x86::Mnemonic::Sysenter
        ) {
            return Some(pos);
        }
        match insn.flow_control() {
            FlowControl::Next | FlowControl::Call | FlowControl::IndirectCall => {}
            _ => return Some(pos),
        }
    }
    None
}

/// The offset just after a frame-pointer setup at the start of `code`
/// (`[endbr64] push %rbp; mov %rsp,%rbp`), or `None` when the function does
/// not set one up (frameless: optimised code). This is gdb's prologue
/// analysis for code GCC compiled (`amd64_analyze_prologue`).
pub fn frame_setup_end_x86(code: &[u8], bits: u32) -> Option<u64> {
    // endbr64 / endbr32.
    let endbr: [u8; 4] = [0xf3, 0x0f, 0x1e, if bits == 64 { 0xfa } else { 0xfb }];
    let mut at = if code.starts_with(&endbr) { 4 } else { 0 };
    if code.get(at) != Some(&0x55) {
        return None;
    }
    at += 1;
    // mov %rsp,%rbp in either encoding (48 89 e5, 48 8b ec); without the
    // REX prefix in 32-bit code (mov %esp,%ebp).
    let rex: &[u8] = if bits == 64 { &[0x48] } else { &[] };
    let rest = code.get(at..)?.strip_prefix(rex)?;
    if rest.starts_with(&[0x89, 0xe5]) || rest.starts_with(&[0x8b, 0xec]) {
        Some((at + rex.len() + 2) as u64)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // endbr64; push %rbp; mov %rsp,%rbp; mov %edi,-0x4(%rbp); ret
    const CODE: &[u8] = &[
        0xf3, 0x0f, 0x1e, 0xfa, 0x55, 0x48, 0x89, 0xe5, 0x89, 0x7d, 0xfc, 0xc3,
    ];

    #[test]
    fn boundaries() {
        assert_eq!(
            boundaries_x86(CODE, 0x1000, 64),
            (vec![0, 4, 5, 8, 11], None)
        );
        assert_eq!(check_offset_x86(CODE, 0x1000, 5, 64), Ok(()));
        assert_eq!(
            check_offset_x86(CODE, 0x1000, 6, 64),
            Err(BadOffset::MidInstruction {
                before: 5,
                after: Some(8)
            })
        );
        assert_eq!(
            check_offset_x86(CODE, 0x1000, 12, 64),
            Err(BadOffset::OutsideFunction {
                size: 12,
                last: Some(11)
            })
        );
    }

    #[test]
    fn undecodable() {
        // push %rbp; then 0x06 (invalid in 64-bit mode)
        let code = [0x55, 0x06, 0x90, 0x90];
        assert_eq!(
            check_offset_x86(&code, 0, 2, 64),
            Err(BadOffset::Undecodable { at: 1 })
        );
        assert_eq!(check_offset_x86(&code, 0, 0, 64), Ok(()));
    }

    #[test]
    fn first_branch_stops_at_jumps_returns_and_syscalls_not_calls() {
        // test %rdi,%rdi; je +0xb; jmp ...  (glibc's system)
        let system = [0x48, 0x85, 0xff, 0x74, 0x0b, 0xe9, 0x86, 0xfb, 0xff, 0xff];
        assert_eq!(first_branch_x86(&system, 0x4c490, 10, 64), Some(3));
        assert_eq!(first_branch_x86(&system, 0x4c490, 3, 64), None);
        // mov $59,%eax; syscall; ret  (execve)
        let execve = [0xb8, 0x3b, 0, 0, 0, 0x0f, 0x05, 0xc3];
        assert_eq!(first_branch_x86(&execve, 0, 8, 64), Some(5));
        // call rel32; ret: the call is not a branch.
        let call = [0xe8, 0, 0, 0, 0, 0xc3];
        assert_eq!(first_branch_x86(&call, 0, 6, 64), Some(5));
    }

    #[test]
    fn frame_setup_is_push_rbp_mov_rsp_rbp() {
        assert_eq!(
            frame_setup_end_x86(&[0x55, 0x48, 0x89, 0xe5, 0x90], 64),
            Some(4)
        );
        assert_eq!(
            frame_setup_end_x86(&[0xf3, 0x0f, 0x1e, 0xfa, 0x55, 0x48, 0x8b, 0xec], 64),
            Some(8)
        );
        assert_eq!(frame_setup_end_x86(&[0x55, 0x53], 64), None);
        // i386: push %ebp; mov %esp,%ebp.
        assert_eq!(frame_setup_end_x86(&[0x55, 0x89, 0xe5], 32), Some(3));
        assert_eq!(frame_setup_end_x86(&[0x55, 0x48, 0x89, 0xe5], 32), None);
        assert_eq!(frame_setup_end_x86(&[0x48, 0x85, 0xff], 64), None);
    }
}
