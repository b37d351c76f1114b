//! The request shapes the daemon checks (`src/daemon/api/model/model.json` for Step Functions,
//! `scheduler.json` for EventBridge Scheduler) are botocore's, as installed by the test
//! command: regenerating them from the SDK models gives the committed files.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn the_committed_models_are_botocores() {
    let py = std::env::var_os("WASMSTEP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"));
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/daemon/api/model");
    for (service, file) in [(None, "model.json"), (Some("scheduler"), "scheduler.json")] {
        let out = Command::new(&py)
            .arg(dir.join("trim.py"))
            .args(service)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", py.display()));
        assert!(
            out.status.success(),
            "{} could not read botocore's model (the test command installs botocore into its tools venv and sets WASMSTEP_PYTHON): {}",
            py.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let committed = std::fs::read_to_string(dir.join(file)).expect(file);
        assert!(
            committed == String::from_utf8_lossy(&out.stdout),
            "src/daemon/api/model/{file} differs from botocore's model: regenerate it with `python3 {} {} > {}`",
            dir.join("trim.py").display(),
            service.unwrap_or(""),
            dir.join(file).display()
        );
    }
}
