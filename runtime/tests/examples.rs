//! Every example in `examples/` is a test: each `cases/NAME.input.json` is run through the real
//! binary (with the built plugins) and must give exactly `cases/NAME.expected.json`. Examples
//! that need the daemon (workers answering through its API) have no `cases/`; their own tests
//! run them.

mod common;

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

#[test]
fn examples_produce_their_expected_results() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let plugins = common::plugins_dir();
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("examples folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        // A folder without cases/ is an example only the daemon runs (tested with it).
        .filter(|p| p.is_dir() && p.join("cases").is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let name = dir.file_name().expect("name").to_string_lossy().to_string();
        // `NAME.express.asl.json` is an Express state machine.
        let def = ["json", "yaml", "yml"]
            .iter()
            .flat_map(|x| [format!("{name}.asl.{x}"), format!("{name}.express.asl.{x}")])
            .map(|f| dir.join(f))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{} has no {name}.asl.json or .yaml", dir.display()));
        let mut inputs: Vec<PathBuf> = std::fs::read_dir(dir.join("cases"))
            .expect("cases folder")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".input.json"))
            .collect();
        inputs.sort();
        for input in inputs {
            let expected_file = PathBuf::from(input.to_string_lossy().replace(".input.json", ".expected.json"));
            let want: Value = serde_json::from_str(&std::fs::read_to_string(&expected_file).expect("expected file"))
                .expect("expected JSON");
            let out = Command::new(env!("CARGO_BIN_EXE_wasmstep"))
                .arg("run")
                .arg(&def)
                .arg("--input-file")
                .arg(&input)
                .arg("--skip-waits")
                .arg("--plugins")
                .arg(&plugins)
                .output()
                .expect("runs");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let got: Value = stdout
                .lines()
                .last()
                .and_then(|l| serde_json::from_str(l).ok())
                .unwrap_or(Value::Null);
            if got != want {
                failures.push(format!(
                    "{}: got {got}, want {want}; stderr: {}",
                    input.display(),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} example cases found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
