//! The architecture's dependency rules, checked on the source: each part of `runtime/src/` may
//! name only the parts and crates below it (`../shared/docs/architecture.md`, "Dependencies
//! point down this list"). The language (`runtime/lang`) is a crate of its own, so the compiler
//! already keeps it free of everything that runs; these rules cover the parts that share the
//! `wasmstep` crate.

use std::path::{Path, PathBuf};

/// A part (a folder under `runtime/src/`) and what its code must never name.
struct Rule {
    part: &'static str,
    forbidden: &'static [&'static str],
    why: &'static str,
}

const RULES: &[Rule] = &[
    Rule {
        part: "engine",
        forbidden: &[
            "crate::daemon",
            "crate::wasm",
            "rusqlite::",
            "axum::",
            "wasmtime::",
            "notify::",
            "prometheus::",
            "ureq::",
            "clap::",
        ],
        why: "the engine knows no daemon, HTTP, SQL or Wasm: handlers come through TaskInvoker, records through the store traits",
    },
    Rule {
        part: "wasm",
        forbidden: &[
            "crate::daemon",
            "crate::store",
            "rusqlite::",
            "axum::",
            "prometheus::",
            "clap::",
        ],
        why: "the Wasm host serves the engine through TaskInvoker and knows nothing of the daemon or the store",
    },
    Rule {
        part: "store",
        forbidden: &[
            "crate::daemon",
            "crate::engine",
            "crate::wasm",
            "axum::",
            "wasmtime::",
            "clap::",
        ],
        why: "the store keeps records; it does not run executions or serve requests",
    },
    Rule {
        part: "daemon",
        forbidden: &[
            "crate::cli",
            "clap::",
            "rusqlite::",
            "tokio_postgres::",
            "deadpool_postgres::",
        ],
        why: "the daemon takes a resolved DaemonConfig and keeps its records through the store traits: it never borrows from the command line or speaks SQL",
    },
];

/// The CLI (in the binary) may start the daemon, through its configuration and entry point
/// only, sign requests to it as its clients do, and use everything public below it.
const CLI_DAEMON_DOORS: &[&str] = &[
    "wasmstep::daemon::config",
    "wasmstep::daemon::serve",
    "wasmstep::daemon::auth::sigv4",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Each line's code, without its `//` comment (doc comments may name anything).
fn code_lines(file: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(file).expect("read source");
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.split("//").next().unwrap_or("").to_string()))
        .collect()
}

#[test]
fn every_part_names_only_what_is_below_it() {
    let mut violations = Vec::new();
    for rule in RULES {
        let mut files = Vec::new();
        rust_files(&src().join(rule.part), &mut files);
        assert!(!files.is_empty(), "runtime/src/{} has no Rust files", rule.part);
        for f in &files {
            for (n, line) in code_lines(f) {
                for bad in rule.forbidden {
                    if line.contains(bad) {
                        violations.push(format!("{}:{n}: names {bad} ({})", f.display(), rule.why));
                    }
                }
            }
        }
    }
    let mut files = Vec::new();
    rust_files(&src().join("cli"), &mut files);
    for f in &files {
        for (n, line) in code_lines(f) {
            if line.contains("wasmstep::daemon") && !CLI_DAEMON_DOORS.iter().any(|d| line.contains(d)) {
                violations.push(format!(
                    "{}:{n}: the CLI reaches into the daemon beyond {CLI_DAEMON_DOORS:?}",
                    f.display()
                ));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn every_source_file_says_what_it_is_for() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    rust_files(&src().join("../lang/src"), &mut files);
    let missing: Vec<String> = files
        .iter()
        .filter(|f| !std::fs::read_to_string(f).expect("read source").starts_with("//!"))
        .map(|f| f.display().to_string())
        .collect();
    assert!(missing.is_empty(), "files without a `//!` line: {missing:?}");
}

/// "Files that fit in one head": about 600 lines; past this a file is split along its concepts.
const MOST_LINES: usize = 650;

#[test]
fn every_source_file_fits_in_one_head() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    rust_files(&src().join("../lang/src"), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).expect("read source").lines().count();
            (n > MOST_LINES).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "over {MOST_LINES} lines: {long:?}");
}
