//! Hot reload against the real daemon: handlers and definitions replaced under running
//! executions (running ones finish on the version they started with, new ones get the new one,
//! nothing fails), every kind of broken file (the previous version keeps serving, the error is
//! logged and counted, fixing the file loads it), SIGHUP and `wasmstep reload`, and a stress run
//! of hundreds of executions through a reload loop.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Daemon, plugins_dir, tempdir};
use serde_json::{Value, json};
use sha2::Digest;

const MINUTE: Duration = Duration::from_secs(60);

/// Release `v` (1 or 2) of the `greeting` handler, built by plugins/build.sh.
fn greeting(v: u8) -> Vec<u8> {
    let f = plugins_dir().join(format!("versions/greeting_v{v}.wasm"));
    std::fs::read(&f).unwrap_or_else(|e| panic!("{}: {e} (run bash plugins/build.sh)", f.display()))
}

fn sha256(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Deploys as copy tools do: a temporary file beside the target, then rename over it.
fn deploy_by_rename(path: &Path, bytes: &[u8]) {
    let name = path.file_name().and_then(|n| n.to_str()).expect("file name");
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).expect("write temporary file");
    std::fs::rename(&tmp, path).expect("rename over the target");
}

/// Deploys as an editor saving in place does: truncate and write the same file.
fn deploy_in_place(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write in place");
}

struct Dirs {
    root: PathBuf,
    data: PathBuf,
    plugins: PathBuf,
    defs: PathBuf,
}

fn dirs(name: &str) -> Dirs {
    let root = tempdir(name);
    let d = Dirs {
        data: root.join("data"),
        plugins: root.join("plugins"),
        defs: root.join("defs"),
        root,
    };
    for p in [&d.data, &d.plugins, &d.defs] {
        std::fs::create_dir_all(p).expect("mkdir");
    }
    d
}

impl Dirs {
    /// Greeting v1 as the handler `greeting`, and `greet_twice` calling it; the module's path.
    fn with_greeting(&self) -> PathBuf {
        let module = self.plugins.join("greeting.wasm");
        std::fs::write(&module, greeting(1)).expect("v1");
        std::fs::write(self.defs.join("greet_twice.asl.json"), GREET_TWICE).expect("definition");
        module
    }

    fn start(&self, extra: &[&str]) -> Daemon {
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "--plugins".as_ref(),
            self.plugins.as_os_str(),
            "--definitions".as_ref(),
            self.defs.as_os_str(),
        ];
        args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
        Daemon::start_with(&self.data, &args)
    }
}

impl Drop for Dirs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn machine(name: &str) -> String {
    format!("arn:aws:states:us-east-1:123456789012:stateMachine:{name}")
}

/// Greets twice with a Wait between: the second call happens after a reload that lands during
/// the Wait. `sleep_ms` keeps the first call in flight.
const GREET_TWICE: &str = r#"{
  "StartAt": "First",
  "States": {
    "First": {"Type": "Task", "Resource": "wasm:greeting",
      "Parameters": {"name.$": "$.name", "sleep_ms.$": "$.sleep_ms"},
      "ResultSelector": {"v.$": "$.version"}, "ResultPath": "$.first", "Next": "Hold"},
    "Hold": {"Type": "Wait", "SecondsPath": "$.hold", "Next": "Second"},
    "Second": {"Type": "Task", "Resource": "wasm:greeting", "Parameters": {"name.$": "$.name"},
      "ResultSelector": {"v.$": "$.version"}, "ResultPath": "$.second", "End": true}
  }
}"#;

/// A definition marked `k` at its start and its end, with a Wait between.
fn marked(k: u64) -> String {
    json!({
        "StartAt": "Mark",
        "States": {
            "Mark": {"Type": "Pass", "Result": k, "ResultPath": "$.start", "Next": "Hold"},
            "Hold": {"Type": "Wait", "SecondsPath": "$.hold", "Next": "Again"},
            "Again": {"Type": "Pass", "Result": k, "ResultPath": "$.end", "End": true}
        }
    })
    .to_string()
}

fn start(d: &Daemon, name: &str, input: Value) -> String {
    d.call(
        "StartExecution",
        json!({"stateMachineArn": machine(name), "input": input.to_string()}),
    )["executionArn"]
        .as_str()
        .expect("executionArn")
        .to_string()
}

/// Runs to the end; the output of a SUCCEEDED execution.
fn output(d: &Daemon, exec: &str) -> Value {
    let done = d.wait_done(exec, MINUTE);
    assert_eq!(done["status"], "SUCCEEDED", "{exec}: {done}");
    serde_json::from_str(done["output"].as_str().expect("output")).expect("output JSON")
}

/// Waits until the execution's history has an event of `kind` (it got that far).
fn wait_event(d: &Daemon, exec: &str, kind: &str) {
    let t0 = Instant::now();
    while !d.history(exec).iter().any(|e| e["type"] == kind) {
        assert!(t0.elapsed() < MINUTE, "{exec} never reached {kind}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !ok() {
        assert!(t0.elapsed() < MINUTE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
    t0.elapsed()
}

fn handler_series(sha: &str) -> String {
    format!("wasmstep_handler_version{{handler=\"greeting\",sha256=\"{sha}\"}}")
}

fn reloads(d: &Daemon, kind: &str, outcome: &str) -> f64 {
    d.metric(&format!(
        "wasmstep_reloads_total{{kind=\"{kind}\",outcome=\"{outcome}\"}}"
    ))
}

/// Starts `greet_twice` for `name`: the first call takes `sleep_ms`, the Wait `hold` seconds.
fn greet(d: &Daemon, name: impl std::fmt::Display, sleep_ms: u64, hold: u64) -> String {
    start(
        d,
        "greet_twice",
        json!({"name": name.to_string(), "sleep_ms": sleep_ms, "hold": hold}),
    )
}

/// A `greet_twice` execution ran to success with release `v` for both of its calls.
fn assert_called_release(d: &Daemon, exec: &str, v: u64) {
    let out = output(d, exec);
    assert_eq!(
        (&out["first"]["v"], &out["second"]["v"]),
        (&json!(v), &json!(v)),
        "{exec}: {out}"
    );
}

/// Which greeting release a fresh execution of `greet_twice` gets.
fn serving(d: &Daemon) -> u64 {
    let out = output(d, &greet(d, "probe", 0, 0));
    out["first"]["v"].as_u64().expect("version")
}

#[test]
fn a_handler_replaced_under_running_executions() {
    let dirs = dirs("reload-handler");
    let module = dirs.with_greeting();
    let d = dirs.start(&[]);
    assert_eq!(serving(&d), 1);

    // Running: four past their first call (waiting), one with its first call in flight.
    let waiting: Vec<String> = (0..4).map(|i| greet(&d, format!("w{i}"), 0, 3)).collect();
    let in_flight = greet(&d, "f", 1500, 0);
    for e in &waiting {
        wait_event(&d, e, "WaitStateEntered");
    }
    wait_event(&d, &in_flight, "TaskStarted");

    let from = d.log_len();
    let changed = Instant::now();
    deploy_by_rename(&module, &greeting(2));
    wait_until("v2 to serve", || serving(&d) == 2);
    let change_to_use = changed.elapsed();
    let line = d.wait_for_log(from, &["loaded", "greeting.wasm", "latency_ms"], MINUTE);
    eprintln!("RELOAD handler: change -> new executions use it: {change_to_use:?} (daemon: {line})");

    let new: Vec<String> = (0..3).map(|i| greet(&d, format!("n{i}"), 0, 0)).collect();
    for e in waiting.iter().chain([&in_flight]) {
        assert_called_release(&d, e, 1);
    }
    for e in &new {
        assert_called_release(&d, e, 2);
    }

    // An in-place write works too (and the gauge says which module serves).
    deploy_in_place(&module, &greeting(1));
    wait_until("v1 to serve again", || {
        d.metric(&handler_series(&sha256(&greeting(1)))) > 0.0
    });
    assert_eq!(serving(&d), 1);
    assert_eq!(d.metric(&handler_series(&sha256(&greeting(2)))), 0.0);
    assert_eq!(reloads(&d, "plugin", "loaded"), 3.0);
    assert_eq!(reloads(&d, "plugin", "rejected"), 0.0);
    assert_eq!(
        d.metric("wasmstep_executions_failed_total{state_machine=\"greet_twice\"}"),
        0.0
    );

    // Every release served is archived for the executions using it (to resume on it after a
    // restart); once none does, the next reload drops it. A new manifest is such a reload.
    let archived = |v: u8| archived(&dirs.data, &sha256(&greeting(v)));
    assert!(archived(1));
    std::fs::write(dirs.plugins.join("greeting.toml"), "memory_mb = 128\n").expect("manifest");
    wait_until("v2 to leave the archive", || !archived(2));
    assert!(archived(1));

    // Deleting the module: new calls find no handler; a call already running finishes.
    let running = greet(&d, "last", 1000, 0);
    wait_event(&d, &running, "TaskStarted");
    let from = d.log_len();
    std::fs::remove_file(&module).expect("rm");
    d.wait_for_log(from, &["file removed", "greeting"], MINUTE);
    assert_eq!(output(&d, &running)["second"]["v"], 1);
    let gone = d.wait_done(&greet(&d, "x", 0, 0), MINUTE);
    assert_eq!(gone["status"], "FAILED", "{gone}");
    assert_eq!(reloads(&d, "plugin", "removed"), 1.0);
}

#[test]
fn a_restart_resumes_executions_on_the_handler_release_they_started_with() {
    let dirs = dirs("reload-restart");
    let module = dirs.with_greeting();
    let d = dirs.start(&[]);
    let running: Vec<String> = (0..3).map(|i| greet(&d, format!("r{i}"), 0, 4)).collect();
    for e in &running {
        wait_event(&d, e, "WaitStateEntered");
    }
    d.kill();
    // Deployed while the daemon was down: new executions get it, the resumed ones do not.
    deploy_by_rename(&module, &greeting(2));
    let d = dirs.start(&[]);
    d.wait_for_log(0, &["restored_handler_sets=1"], MINUTE);
    assert_eq!(serving(&d), 2);
    for e in &running {
        assert_called_release(&d, e, 1);
    }
    // The archive keeps the releases running executions need; with none left running, the
    // next start removes what nothing needs.
    let archived = |v: u8| archived(&dirs.data, &sha256(&greeting(v)));
    assert!(archived(1) && archived(2));
    d.kill();
    let d = dirs.start(&[]);
    assert_eq!(serving(&d), 2);
    assert!(!archived(1) && archived(2));
}

#[test]
fn a_definition_edited_under_running_executions() {
    let dirs = dirs("reload-definition");
    let file = dirs.defs.join("flow.asl.json");
    std::fs::write(&file, marked(1)).expect("v1");
    let d = dirs.start(&[]);
    let arn = machine("flow");

    let revision =
        |d: &Daemon| d.call("DescribeStateMachine", json!({"stateMachineArn": machine("flow")}))["revisionId"].clone();
    let first_revision = revision(&d);
    let running: Vec<String> = (0..3).map(|_| start(&d, "flow", json!({"hold": 2}))).collect();
    for e in &running {
        wait_event(&d, e, "WaitStateEntered");
    }
    let changed = Instant::now();
    deploy_in_place(&file, marked(2).as_bytes());
    wait_until("version 2", || {
        d.call("ListStateMachineVersions", json!({"stateMachineArn": arn}))["stateMachineVersions"]
            .as_array()
            .is_some_and(|v| v.len() == 2)
    });
    eprintln!("RELOAD definition: change -> published: {:?}", changed.elapsed());

    let described = d.call("DescribeStateMachine", json!({"stateMachineArn": arn}));
    assert_eq!(described["definition"], marked(2));
    assert_ne!(described["revisionId"], first_revision, "a new revision");
    assert!(
        first_revision.as_str().is_some_and(|r| r.len() == 36),
        "{first_revision}"
    );
    let v1 = d.call("DescribeStateMachine", json!({"stateMachineArn": format!("{arn}:1")}));
    assert_eq!(v1["definition"], marked(1));
    assert_eq!(d.metric("wasmstep_state_machine_version{state_machine=\"flow\"}"), 2.0);

    let new: Vec<String> = (0..2).map(|_| start(&d, "flow", json!({"hold": 0}))).collect();
    for e in &running {
        let out = output(&d, e);
        assert_eq!(
            (out["start"].clone(), out["end"].clone()),
            (json!(1), json!(1)),
            "{e}: {out}"
        );
    }
    for e in &new {
        let out = output(&d, e);
        assert_eq!(
            (out["start"].clone(), out["end"].clone()),
            (json!(2), json!(2)),
            "{e}: {out}"
        );
    }

    // Deleting the file: no new executions, the running one finishes.
    let last = start(&d, "flow", json!({"hold": 2}));
    wait_event(&d, &last, "WaitStateEntered");
    std::fs::remove_file(&file).expect("rm");
    wait_until("the state machine to go", || {
        d.try_call("DescribeStateMachine", json!({"stateMachineArn": arn}))
            .is_err()
    });
    let refused = d
        .try_call("StartExecution", json!({"stateMachineArn": arn, "input": "{}"}))
        .expect_err("no new executions");
    assert_eq!(refused["__type"], "StateMachineDoesNotExist", "{refused}");
    assert_eq!(output(&d, &last)["end"], 2);
    assert_eq!(reloads(&d, "definition", "removed"), 1.0);

    // Back again, deployed by rename: a new state machine.
    deploy_by_rename(&file, marked(3).as_bytes());
    wait_until("the state machine to return", || {
        d.try_call("DescribeStateMachine", json!({"stateMachineArn": arn}))
            .is_ok()
    });
    assert_eq!(output(&d, &start(&d, "flow", json!({"hold": 0})))["end"], 3);

    // Renamed to YAML (JSON is YAML): the same state machine, now from the new file; it is not
    // deleted with the old name, and an edit of the new file loads.
    let yaml = dirs.defs.join("flow.asl.yaml");
    std::fs::rename(&file, &yaml).expect("rename");
    std::fs::write(&yaml, marked(4)).expect("edit the YAML file");
    wait_until("the edit of the renamed file", || {
        d.call("DescribeStateMachine", json!({"stateMachineArn": arn}))["definition"] == marked(4)
    });
    assert_eq!(reloads(&d, "definition", "removed"), 1.0, "only the deletion above");
    assert_eq!(output(&d, &start(&d, "flow", json!({"hold": 0})))["end"], 4);
    assert_eq!(
        d.metric("wasmstep_executions_failed_total{state_machine=\"flow\"}"),
        0.0
    );
}

#[test]
fn a_definition_file_removed_while_stopped_goes_at_the_next_start() {
    let dirs = dirs("reload-offline");
    let file = dirs.defs.join("flow.asl.json");
    std::fs::write(&file, marked(1)).expect("flow");
    let d = dirs.start(&[]);
    let tags = d.call("ListTagsForResource", json!({"resourceArn": machine("flow")}));
    assert_eq!(tags["tags"][0]["key"], "wasmstep:definition-file", "{tags}");
    // A state machine made through the API is not the directory's to remove.
    d.call(
        "CreateStateMachine",
        json!({"name": "api_made", "definition": marked(5), "roleArn": "arn:aws:iam::123456789012:role/x"}),
    );
    d.kill();
    std::fs::remove_file(&file).expect("rm");
    let d = dirs.start(&[]);
    let gone = d
        .try_call("DescribeStateMachine", json!({"stateMachineArn": machine("flow")}))
        .expect_err("removed with its file");
    assert_eq!(gone["__type"], "StateMachineDoesNotExist");
    d.call("DescribeStateMachine", json!({"stateMachineArn": machine("api_made")}));
    assert_eq!(reloads(&d, "definition", "removed"), 1.0);
}

#[test]
fn broken_files_never_replace_what_serves() {
    let dirs = dirs("reload-broken");
    let module = dirs.with_greeting();
    let manifest = dirs.plugins.join("greeting.toml");
    let file = dirs.defs.join("flow.asl.json");
    std::fs::write(&file, marked(1)).expect("flow");
    // Broken from the start: the daemon still starts, and says so.
    let broken_at_start = dirs.defs.join("broken.asl.json");
    std::fs::write(
        &broken_at_start,
        r#"{"StartAt": "Nowhere", "States": {"A": {"Type": "Succeed"}}}"#,
    )
    .expect("broken");
    let d = dirs.start(&[]);
    let line = d.wait_for_log(0, &["reload rejected", "broken.asl.json", "Nowhere"], MINUTE);
    assert!(
        line.contains("there is no previous version"),
        "a new file says nothing serves: {line}"
    );
    assert_eq!(reloads(&d, "definition", "rejected"), 1.0);
    assert_eq!(serving(&d), 1);

    let v2 = greeting(2);
    let plugin_cases: [(&str, &Path, Vec<u8>, &str, bool); 5] = [
        (
            "bad manifest",
            &manifest,
            b"memory_mb = 64\ncolour = \"blue\"\n".to_vec(),
            "colour",
            true,
        ),
        (
            "garbage",
            &module,
            b"these are not the bytes you are looking for".to_vec(),
            "not a WebAssembly module",
            true,
        ),
        (
            "half-written module",
            &module,
            v2[..v2.len() / 2].to_vec(),
            "invalid component",
            false,
        ),
        // A valid module with nothing in it: neither a WASI command nor a handler component.
        (
            "no contract",
            &module,
            b"\0asm\x01\0\0\0".to_vec(),
            "not a WASI command",
            true,
        ),
        ("empty file", &module, Vec::new(), "0 bytes", false),
    ];
    for (n, (what, path, bytes, reason, by_rename)) in plugin_cases.into_iter().enumerate() {
        let from = d.log_len();
        if by_rename {
            deploy_by_rename(path, &bytes);
        } else {
            deploy_in_place(path, &bytes);
        }
        let name = path.file_name().and_then(|f| f.to_str()).expect("name");
        let line = d.wait_for_log(from, &["reload rejected", name, reason], MINUTE);
        assert!(line.contains("ERROR"), "{what}: {line}");
        assert!(line.contains("the previous version keeps serving"), "{what}: {line}");
        wait_until(what, || reloads(&d, "plugin", "rejected") >= (n + 1) as f64);
        assert_eq!(serving(&d), 1, "{what}: the previous version must keep serving");
        if path == manifest {
            // Back to no manifest: the module serving is the same, nothing to load.
            std::fs::remove_file(&manifest).expect("rm manifest");
        }
    }
    // Fixing it loads it.
    deploy_by_rename(&module, &v2);
    wait_until("the fixed module", || d.metric(&handler_series(&sha256(&v2))) > 0.0);
    assert_eq!(serving(&d), 2);

    let text = marked(2);
    let definition_cases: [(&str, String, &str); 3] = [
        (
            "invalid definition",
            text.replace("\"Next\":\"Again\"", "\"Next\":\"Elsewhere\""),
            "Elsewhere",
        ),
        (
            "half-written definition",
            text[..text.len() / 2].to_string(),
            "INVALID_JSON",
        ),
        (
            "not a state machine",
            "[1, 2, 3]".to_string(),
            "Invalid State Machine Definition",
        ),
    ];
    for (n, (what, content, reason)) in definition_cases.into_iter().enumerate() {
        let from = d.log_len();
        deploy_in_place(&file, content.as_bytes());
        d.wait_for_log(from, &["reload rejected", "flow.asl.json", reason], MINUTE);
        wait_until(what, || reloads(&d, "definition", "rejected") >= (n + 2) as f64);
        let described = d.call("DescribeStateMachine", json!({"stateMachineArn": machine("flow")}));
        assert_eq!(described["definition"], marked(1), "{what}");
        assert_eq!(output(&d, &start(&d, "flow", json!({"hold": 0})))["end"], 1, "{what}");
    }
    deploy_by_rename(&file, text.as_bytes());
    wait_until("the fixed definition", || {
        d.call("DescribeStateMachine", json!({"stateMachineArn": machine("flow")}))["definition"] == text
    });
    assert_eq!(output(&d, &start(&d, "flow", json!({"hold": 0})))["end"], 2);
    deploy_in_place(&broken_at_start, marked(7).as_bytes());
    wait_until("the fixed start-up file", || {
        d.try_call("DescribeStateMachine", json!({"stateMachineArn": machine("broken")}))
            .is_ok()
    });
    assert_eq!(output(&d, &start(&d, "broken", json!({"hold": 0})))["end"], 7);
    assert_eq!(
        d.metric("wasmstep_executions_failed_total{state_machine=\"flow\"}"),
        0.0
    );
    assert_eq!(
        d.metric("wasmstep_executions_failed_total{state_machine=\"greet_twice\"}"),
        0.0
    );
}

fn wasmstep_reload(d: &Daemon) -> (Option<i32>, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_wasmstep"))
        .args(["reload", "--endpoint", &d.url])
        .output()
        .expect("run wasmstep reload");
    let report =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code(), report)
}

#[test]
fn sighup_and_wasmstep_reload_rescan() {
    let dirs = dirs("reload-rescan");
    let module = dirs.with_greeting();
    let file = dirs.defs.join("flow.asl.json");
    std::fs::write(&file, marked(1)).expect("flow");
    // No watcher: only a rescan sees changes.
    let d = dirs.start(&["--no-watch"]);
    deploy_by_rename(&module, &greeting(2));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(serving(&d), 1, "nothing watches: nothing changes by itself");

    let from = d.log_len();
    d.signal("HUP");
    d.wait_for_log(from, &["SIGHUP: rescanned", "loaded=1"], MINUTE);
    assert_eq!(serving(&d), 2);

    deploy_in_place(&file, marked(2).as_bytes());
    let (code, report) = wasmstep_reload(&d);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["loaded"][0]["name"], "flow", "{report}");
    assert_eq!(
        report["loaded"][0]["version"],
        format!("{}:2", machine("flow")),
        "{report}"
    );
    assert_eq!(output(&d, &start(&d, "flow", json!({"hold": 0})))["end"], 2);

    deploy_in_place(&module, b"garbage");
    let (code, report) = wasmstep_reload(&d);
    assert_eq!(code, Some(1), "{report}");
    assert!(
        report["rejected"][0]["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("greeting.wasm")),
        "{report}"
    );
    assert!(
        report["rejected"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("not a WebAssembly"))
    );
    assert_eq!(serving(&d), 2);

    let nobody = Command::new(env!("CARGO_BIN_EXE_wasmstep"))
        .args(["reload", "--endpoint", "http://127.0.0.1:9"])
        .output()
        .expect("run wasmstep reload");
    assert_eq!(nobody.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("cannot reach the daemon"));
}

/// Hundreds of executions while handlers and definitions are replaced in a loop (with a broken
/// file now and then): none fails, none is lost, none switches version half-way.
#[test]
fn hundreds_of_executions_through_a_reload_loop() {
    const EXECUTIONS: usize = 300;
    let dirs = dirs("reload-stress");
    let module = dirs.with_greeting();
    let file = dirs.defs.join("flow.asl.json");
    std::fs::write(&file, marked(0)).expect("flow");
    let d = dirs.start(&[]);

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reloader = {
        let (stop, module, file) = (stop.clone(), module.clone(), file.clone());
        let releases = [greeting(1), greeting(2)];
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                deploy_by_rename(&module, &releases[(i % 2) as usize]);
                if i.is_multiple_of(5) {
                    deploy_in_place(&file, b"{\"StartAt\": ");
                    std::thread::sleep(Duration::from_millis(150));
                }
                deploy_in_place(&file, marked(i).as_bytes());
                std::thread::sleep(Duration::from_millis(150));
            }
            i
        })
    };
    let mut greets = Vec::new();
    let mut flows = Vec::new();
    // Waits of 5 to 7 s: (nearly) all of them are running at once, and reloads go on under them.
    for i in 0..EXECUTIONS {
        let hold = 5 + (i % 3) as u64;
        if i % 2 == 0 {
            greets.push(greet(&d, "s", 0, hold));
        } else {
            flows.push(start(&d, "flow", json!({"hold": hold})));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let running = d.metric("wasmstep_executions_running");
    assert!(running >= 150.0, "hundreds running at once: {running}");

    let mut versions = std::collections::BTreeSet::new();
    for e in &greets {
        let out = output(&d, e);
        assert_eq!(
            out["first"]["v"], out["second"]["v"],
            "{e} switched handler half-way: {out}"
        );
        versions.insert(out["first"]["v"].to_string());
    }
    let mut marks = std::collections::BTreeSet::new();
    for e in &flows {
        let out = output(&d, e);
        assert_eq!(out["start"], out["end"], "{e} switched definition half-way: {out}");
        marks.insert(out["start"].to_string());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let rounds = reloader.join().expect("reload loop");
    assert_eq!(versions.len(), 2, "both releases served: {versions:?}");
    assert!(marks.len() > 3, "several definitions served: {marks:?}");
    // None lost: every execution started is listed, and every one succeeded.
    let listed = |name: &str| {
        d.call(
            "ListExecutions",
            json!({"stateMachineArn": machine(name), "statusFilter": "SUCCEEDED", "maxResults": 1000}),
        )["executions"]
            .as_array()
            .map_or(0, Vec::len)
    };
    assert_eq!(listed("greet_twice") + listed("flow"), EXECUTIONS);
    assert_eq!(d.metric("wasmstep_executions_running"), 0.0);
    let loaded = reloads(&d, "plugin", "loaded") + reloads(&d, "definition", "loaded");
    eprintln!(
        "RELOAD stress: {EXECUTIONS} executions, {running} running at once, {rounds} reload rounds, {loaded} loads, {} rejected",
        reloads(&d, "definition", "rejected")
    );
    // Changes that land within one debounce window load once, so not one load per change.
    assert!(
        loaded > rounds as f64,
        "{loaded} loads for {rounds} rounds of two changes"
    );
}

/// Whether the store under `data` keeps the module with this SHA-256 (the release archive).
fn archived(data: &std::path::Path, sha256: &str) -> bool {
    let db = rusqlite::Connection::open(data.join("wasmstep.db")).expect("open the store");
    db.query_row("SELECT count(*) FROM modules WHERE sha256 = ?1", [sha256], |r| {
        r.get::<_, i64>(0)
    })
    .expect("query the module archive")
        > 0
}
