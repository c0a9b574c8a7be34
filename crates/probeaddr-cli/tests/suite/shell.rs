//! `probeaddr completions` and `probeaddr man`, checked by the programs
//! that use them: bash completing a command line, and man (groff)
//! rendering every page without a warning.

use std::process::Command;

use super::debuginfod::tmpdir;
use super::fixtures::probeaddr;

/// What bash's completion function offers for `words` (the last one being
/// completed), with the script `probeaddr completions bash` prints.
fn bash_completes(script: &str, words: &[&str]) -> Vec<String> {
    let dir = tmpdir("completion");
    let path = dir.join("probeaddr.bash");
    std::fs::write(&path, script).unwrap();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let prog = format!(
        "source '{}' && COMP_WORDS=({}) && COMP_CWORD={} && _probeaddr probeaddr '{}' '{}' && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display(),
        quoted.join(" "),
        words.len() - 1,
        words[words.len() - 1],
        words[words.len() - 2],
    );
    let o = Command::new("bash").args(["-c", &prog]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_commands_and_their_flags() {
    let run = probeaddr(["completions", "bash"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        bash_completes(&run.stdout, &["probeaddr", "res"]),
        ["resolve"]
    );
    assert_eq!(
        bash_completes(&run.stdout, &["probeaddr", "resolve", "--no-i"]),
        ["--no-inlines"]
    );
    assert_eq!(
        bash_completes(&run.stdout, &["probeaddr", "completions", "fi"]),
        ["fish"]
    );
    let bad = probeaddr(["completions", "tcsh"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("invalid value 'tcsh'"),
        "{}",
        bad.stderr
    );
}

#[test]
fn man_pages_for_every_command_render_without_warnings() {
    let dir = tmpdir("man");
    let run = probeaddr(["man", "--dir", dir.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // One page per command `probeaddr --help` lists, and the main one.
    let help = probeaddr(["--help"]).stdout;
    let commands: Vec<&str> = help
        .split("Commands:\n")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 15, "{commands:?}");
    let mut want: Vec<String> = commands
        .iter()
        .map(|c| format!("probeaddr-{c}.1"))
        .collect();
    want.push("probeaddr.1".into());
    want.sort();
    let mut got: Vec<String> = std::fs::read_dir(&*dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    got.sort();
    assert_eq!(got, want);
    for page in &got {
        let o = Command::new("man")
            .args(["--warnings", "-l", "-P", "cat"])
            .arg(dir.join(page))
            .env("MANWIDTH", "100")
            .output()
            .unwrap();
        assert!(o.status.success(), "{page}");
        assert_eq!(String::from_utf8_lossy(&o.stderr), "", "{page}");
        // man fills paragraphs: compare with the lines joined.
        let text = String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if page == "probeaddr-resolve.1" {
            assert!(text.contains("--no-inlines"), "{text}");
        }
        if page == "probeaddr.1" {
            assert!(text.contains("Exit status: 0 on success"), "{text}");
            assert!(text.contains("probeaddr-debuginfo(1)"), "{text}");
        }
    }
    // Without --dir: probeaddr(1) itself.
    let one = probeaddr(["man"]);
    assert!(one.stdout.starts_with(".ie"), "{}", one.stdout);
    assert!(one.stdout.contains(".TH probeaddr 1"), "{}", one.stdout);
}
