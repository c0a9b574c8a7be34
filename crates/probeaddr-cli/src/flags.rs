//! Command-line flags (clap). Validation only; no I/O: `setup.rs` turns
//! them into a resolver and a linker.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// What `probeaddr --help` and the man page show after the commands.
const AFTER_HELP: &str = "\
Probe points (perf probe syntax; SystemTap's process(\"P\").function(\"F@FILE\")
and kernel.function(...) / module(\"M\").function(...) mean the same):
  FUNC                  every function of that name, each with its file
  FUNC@FILE             in that source file (matched on whole path components)
  FUNC+OFF              OFF bytes into it (checked on an instruction boundary)
  FUNC:LINE  FILE:LINE  a source line (DWARF line tables)
  FUNC%return           its return
  FUNC ARG...           with fetch arguments (name, name->field, $argN, :string)

Examples:
  probeaddr resolve -x ./prog 'helper@b.c' --format uprobe
  probeaddr resolve -k /usr/lib/debug/boot/vmlinux-$(uname -r) 'init_once@fs/proc/inode.c' --format kprobe
  probeaddr resolve 'init_once@fs/proc/inode.c' --no-inlines   # the running kernel, debug info by build-id
  probeaddr trace -x ./prog 'helper@b.c' -- ./prog
  probeaddr dups -k VMLINUX
  probeaddr completions bash > /etc/bash_completion.d/probeaddr

Probe definitions (--format uprobe|kprobe|bpftrace) are all or nothing: when a
point fails none is printed, unless --keep-going.

Exit status: 0 on success (and when standard output is closed early);
2 on any error, a probe point that matches nothing included; trace -- CMD
exits with CMD's status.";

/// Turn symbolic probe points into exact, verified probe addresses.
#[derive(Debug, Parser)]
#[command(name = "probeaddr", version, about, long_about = None, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Resolve probe points to every location they name.
    ///
    /// Probe points use perf-probe syntax (`helper@b.c`, `helper+0x4`,
    /// `helper%return`, `b.c:12`) or SystemTap syntax
    /// (`process("./prog").function("helper@b.c").return`).
    Resolve(ResolveCmd),
    /// Resolve probe points into a plan (JSON) to link on another machine.
    Plan(ResolveArgs),
    /// Link a plan on this machine: check build-ids, fetch anchors, print definitions.
    Link(LinkArgs),
    /// Register probes, run a command or watch a process, print each hit, clean up.
    Trace(TraceArgs),
    /// Remove probe groups left by probeaddr runs that were killed.
    Cleanup(CleanupArgs),
    /// List every ambiguous kernel name: its instances, files, and how to pin each.
    Dups(DupsArgs),
    /// What it would cost kallsyms to tell local symbols apart, scheme by scheme.
    #[command(name = "kallsyms-cost")]
    KallsymsCost(CostArgs),
    /// Write a kallsyms listing with files (the 2008 proposal) or probeaddr's side table.
    #[command(name = "kallsyms-export")]
    KallsymsExport(ExportArgs),
    /// List every instance of a function: file:line, entry, size, inlined sites.
    List(ListArgs),
    /// Show the source lines of a function that can be probed (like perf probe -L).
    Lines(ListArgs),
    /// List the variables at each location of a probe point: type, and the
    /// fetch argument that reads it there or why none can (like perf probe -V).
    Vars(VarsCmd),
    /// Turn kernel addresses into symbol+offset [file] (module).
    ///
    /// Addresses come from the arguments, or one per line from standard input.
    Symbolize(SymbolizeArgs),
    /// Where the debug file of a binary, a build-id, the running kernel
    /// (`kernel`) or a loaded module (`module:NAME`) comes from: the file
    /// itself, a .build-id directory, .gnu_debuglink, a distribution's
    /// path, or a debuginfod server (fetched, like debuginfod-find).
    Debuginfo(DebuginfoArgs),
    /// Print a shell completion script (`probeaddr completions bash >
    /// /etc/bash_completion.d/probeaddr`).
    Completions(CompletionsArgs),
    /// Print the man page probeaddr(1), or write it and one page per
    /// command (probeaddr-resolve(1), ...) into a directory.
    Man(ManArgs),
}

/// `probeaddr completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `probeaddr man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write probeaddr.1 and probeaddr-COMMAND.1 here instead of printing
    /// probeaddr.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `probeaddr debuginfo`.
#[derive(Debug, Args)]
pub struct DebuginfoArgs {
    /// A file, a hex build-id, `kernel`, or `module:NAME`.
    #[arg(value_name = "PATH|BUILD-ID|kernel|module:NAME")]
    pub what: String,

    /// Look for separate debug files here too (before /usr/lib/debug).
    #[arg(long = "debug-dir", value_name = "DIR")]
    pub debug_dirs: Vec<PathBuf>,

    /// Ask this debuginfod server (default: $DEBUGINFOD_URLS, else
    /// /etc/debuginfod/*.urls).
    #[arg(long = "debuginfod", value_name = "URL")]
    pub debuginfod: Vec<String>,

    /// A sysfs tree standing in for /sys (for `kernel` and `module:NAME`).
    #[arg(long, value_name = "DIR")]
    pub sysfs: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

/// Where kernel symbols and runtime bases come from. By default the running
/// system (/proc/kallsyms, /sys); files stand in for them with --kallsyms and
/// --sysfs, and --offline reads neither.
#[derive(Debug, Args, Clone, Default)]
pub struct KernelFlags {
    /// The kernel image (ELF with .symtab; DWARF optional).
    #[arg(short = 'k', long = "vmlinux", value_name = "VMLINUX")]
    pub vmlinux: Option<PathBuf>,

    /// A kernel module file (.ko); may be repeated.
    #[arg(short = 'm', long = "module", value_name = "KO")]
    pub modules: Vec<PathBuf>,

    /// Find module("NAME") as NAME.ko under this directory.
    #[arg(long, value_name = "DIR")]
    pub module_dir: Option<PathBuf>,

    /// kallsyms listing to use instead of /proc/kallsyms.
    #[arg(long, value_name = "FILE")]
    pub kallsyms: Option<PathBuf>,

    /// System.map of the kernel (link-time addresses), when there is no vmlinux.
    #[arg(long, value_name = "FILE")]
    pub system_map: Option<PathBuf>,

    /// A symbol listing with files, made by `probeaddr kallsyms-export`
    /// (bottomley or sidetable): resolves FUNC@FILE without a vmlinux.
    #[arg(long, value_name = "FILE", conflicts_with = "system_map")]
    pub symbols: Option<PathBuf>,

    /// A directory standing in for /sys (module/M/sections, kernel/notes).
    #[arg(long, value_name = "DIR")]
    pub sysfs: Option<PathBuf>,

    /// The kernel's BTF, for fetch arguments without a vmlinux's DWARF: a
    /// directory like /sys/kernel/btf (vmlinux plus a file per module), or
    /// one file (raw BTF, or a vmlinux with .BTF). Default: the running
    /// kernel's, when its kallsyms is used.
    #[arg(long, value_name = "PATH")]
    pub btf: Option<PathBuf>,

    /// Do not read the running system (/proc/kallsyms, /sys).
    #[arg(long)]
    pub offline: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormArg {
    /// `_text+0xOFF`, else `MOD:SYM+0xOFF`, else the runtime address.
    Safest,
    /// `_text+0xOFF`.
    Text,
    /// `SYM+0xOFF` (or the nearest unique symbol; `MOD:SYM+0xOFF` for modules).
    Symbol,
    /// The absolute runtime address.
    Address,
}

#[derive(Debug, Args)]
pub struct DupsArgs {
    #[command(flatten)]
    pub kernel: KernelFlags,

    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,

    /// Only names of text (function) symbols.
    #[arg(long)]
    pub functions: bool,

    /// Accept a vmlinux whose build-id differs from the running kernel's.
    #[arg(long)]
    pub no_build_id_check: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// A table for people.
    Table,
    /// JSON.
    Json,
}

#[derive(Debug, Args)]
pub struct SymbolizeArgs {
    /// Addresses (hex, with or without 0x); none: read standard input.
    #[arg(value_name = "ADDR")]
    pub addrs: Vec<String>,

    #[command(flatten)]
    pub kernel: KernelFlags,

    /// Accept a vmlinux whose build-id differs from the running kernel's.
    #[arg(long)]
    pub no_build_id_check: bool,

    /// Also print each vmlinux address's source line (`at FILE:LINE`, from
    /// DWARF's line table; the inlined function's line in inlined code).
    #[arg(short = 'l', long)]
    pub lines: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for people.
    Table,
    /// `uprobe_events` lines, ready for tracefs.
    Uprobe,
    /// A JSON array of locations.
    Json,
    /// `kprobe_events` lines, ready for tracefs.
    Kprobe,
    /// A plan for `probeaddr link` / `probeaddr trace --plan`.
    Plan,
    /// bpftrace probe specs (`uprobe:PATH:0xVADDR`, `kprobe:FN+0xOFF`).
    Bpftrace,
}

#[derive(Debug, Args, Clone)]
pub struct ResolveArgs {
    /// Probe points.
    #[arg(value_name = "POINT")]
    pub points: Vec<String>,

    /// The user-space ELF file (executable or shared library) for perf-syntax
    /// probe points; without it, perf-syntax points are kernel probe points.
    #[arg(short = 'x', long = "exec", value_name = "PATH")]
    pub exec: Option<PathBuf>,

    /// Also give runtime addresses in this process (from /proc/PID/maps).
    #[arg(long, value_name = "PID", conflicts_with = "maps")]
    pub pid: Option<u32>,

    /// Like --pid, from a saved copy of a /proc/PID/maps file.
    #[arg(long, value_name = "FILE")]
    pub maps: Option<PathBuf>,

    /// Make more than one match an error that lists every candidate.
    #[arg(long)]
    pub unique: bool,

    /// Look for separate debug files here too (before /usr/lib/debug).
    #[arg(long = "debug-dir", value_name = "DIR")]
    pub debug_dirs: Vec<PathBuf>,

    /// Fetch missing debug files from this debuginfod server (http or
    /// https; repeat for several, asked at once); default: $DEBUGINFOD_URLS,
    /// else /etc/debuginfod/*.urls. Cached where elfutils caches
    /// ($DEBUGINFOD_CACHE_PATH, else ~/.cache/debuginfod_client).
    #[arg(long = "debuginfod", value_name = "URL")]
    pub debuginfod: Vec<String>,

    /// Accept debug info or a vmlinux whose build-id differs from the
    /// object's or the running kernel's.
    #[arg(long)]
    pub no_build_id_check: bool,

    /// Probe function entries after their prologue, where gdb's `break FUNC`
    /// stops: after the frame setup of unoptimised code, at the entry of
    /// optimised code (its arguments are valid there), never past a branch.
    #[arg(long)]
    pub skip_prologue: bool,

    /// Leave out inlined copies of functions (SystemTap's .call).
    #[arg(long)]
    pub no_inlines: bool,

    #[command(flatten)]
    pub kernel: KernelFlags,

    /// A fetch argument for every probe (`x=%di:s32`, `$retval`); repeatable.
    #[arg(long = "arg", value_name = "FETCHARG")]
    pub args: Vec<String>,
}

/// `probeaddr resolve`: the points, and how to print them.
#[derive(Debug, Args)]
pub struct ResolveCmd {
    #[command(flatten)]
    pub points: ResolveArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Event group for probe definitions.
    #[arg(long, default_value = "probeaddr", value_name = "NAME")]
    pub group: String,

    /// Which form --format kprobe writes.
    #[arg(long, value_enum, default_value_t = FormArg::Safest)]
    pub form: FormArg,

    /// With --format uprobe, kprobe or bpftrace, print the definitions of
    /// the points that resolved even when others did not (the exit status
    /// is still 2). Without it a batch is all or nothing.
    #[arg(long)]
    pub keep_going: bool,
}

/// `probeaddr vars`: the points, and how to list their variables.
#[derive(Debug, Args)]
pub struct VarsCmd {
    #[command(flatten)]
    pub points: ResolveArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,

    /// Also list the unit's globals and statics (perf's --externs).
    #[arg(long)]
    pub externs: bool,
}

#[derive(Debug, Args)]
pub struct LinkArgs {
    /// The plan file.
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,

    /// Output format (table, json, kprobe/uprobe: the definitions).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Which form the definitions use.
    #[arg(long, value_enum, default_value_t = FormArg::Safest)]
    pub form: FormArg,

    /// Accept a target whose build-ids differ from the plan's.
    #[arg(long)]
    pub no_build_id_check: bool,

    /// Event group.
    #[arg(long, default_value = "probeaddr", value_name = "NAME")]
    pub group: String,

    #[command(flatten)]
    pub kernel: KernelFlags,
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    #[command(flatten)]
    pub resolve: ResolveArgs,

    /// Which kprobe form is registered.
    #[arg(long, value_enum, default_value_t = FormArg::Safest)]
    pub form: FormArg,

    /// Attach the probes of this plan instead of resolving probe points.
    #[arg(long, value_name = "PLAN")]
    pub plan: Option<PathBuf>,

    /// Stop after this long (`10s`, `2m`, `500ms`).
    #[arg(long, value_name = "TIME")]
    pub duration: Option<String>,

    /// Print each hit as a JSON object.
    #[arg(long)]
    pub json: bool,

    /// The tracefs directory (default: /sys/kernel/tracing, mounted if needed).
    #[arg(long, value_name = "DIR")]
    pub tracefs: Option<PathBuf>,

    /// The command to run while tracing (after `--`).
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// The tracefs directory (default: /sys/kernel/tracing).
    #[arg(long, value_name = "DIR")]
    pub tracefs: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// A function probe point (`helper@b.c`, `kernel.function("init_once")`);
    /// with --usdt, a marker pattern (`python:*`; default: every marker).
    #[arg(value_name = "POINT", required_unless_present = "usdt")]
    pub point: Option<String>,

    /// List the USDT (SDT) markers of -x FILE: provider, name, address,
    /// file offset, semaphore and arguments.
    #[arg(long, requires = "exec")]
    pub usdt: bool,

    /// A user-space ELF file.
    #[arg(short = 'x', long = "exec", value_name = "PATH")]
    pub exec: Option<PathBuf>,

    /// The kernel image.
    #[arg(short = 'k', long = "vmlinux", value_name = "VMLINUX")]
    pub vmlinux: Option<PathBuf>,

    /// A kernel module file (`.ko`, with its DWARF: the debug package's).
    #[arg(short = 'm', long = "module", value_name = "MODULE.ko")]
    pub modules: Vec<PathBuf>,

    /// Find the modules a `module("M")` point names in this directory tree.
    #[arg(long = "module-dir", value_name = "DIR")]
    pub module_dir: Option<PathBuf>,

    /// Look for separate debug files here too (before /usr/lib/debug).
    #[arg(long = "debug-dir", value_name = "DIR")]
    pub debug_dirs: Vec<PathBuf>,

    /// Fetch missing debug files from this debuginfod server (http or
    /// https; repeat for several, asked at once); default: $DEBUGINFOD_URLS,
    /// else /etc/debuginfod/*.urls. Cached where elfutils caches
    /// ($DEBUGINFOD_CACHE_PATH, else ~/.cache/debuginfod_client).
    #[arg(long = "debuginfod", value_name = "URL")]
    pub debuginfod: Vec<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

#[derive(Debug, Args)]
pub struct CostArgs {
    /// The kernel image (with .symtab; DWARF gives source paths).
    #[arg(short = 'k', long = "vmlinux", value_name = "VMLINUX", required = true)]
    pub vmlinux: PathBuf,

    /// Every symbol, as with CONFIG_KALLSYMS_ALL (the default).
    #[arg(long, conflicts_with = "text_only")]
    pub kallsyms_all: bool,

    /// Text symbols only, as without CONFIG_KALLSYMS_ALL.
    #[arg(long)]
    pub text_only: bool,

    /// Output format.
    #[arg(long, value_enum, default_value_t = CostFormat::Table)]
    pub format: CostFormat,

    /// Also draw the bytes each scheme adds as an SVG bar chart.
    #[arg(long, value_name = "FILE")]
    pub chart: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CostFormat {
    /// A table for people.
    Table,
    /// JSON.
    Json,
    /// CSV, one row per scheme.
    Csv,
    /// A Markdown report.
    Markdown,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The kernel image.
    #[arg(short = 'k', long = "vmlinux", value_name = "VMLINUX", required = true)]
    pub vmlinux: PathBuf,

    /// What to write.
    #[arg(long, value_enum, default_value_t = ExportScheme::Bottomley)]
    pub scheme: ExportScheme,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportScheme {
    /// A kallsyms listing whose local names carry `path|` prefixes.
    Bottomley,
    /// probeaddr's side table: file names once, one record per run of symbols.
    Sidetable,
}
