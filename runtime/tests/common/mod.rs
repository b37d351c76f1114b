//! The real daemon for integration tests: `wasmstep serve` on a free port, its log kept for
//! assertions, its API called over HTTP; killed (SIGKILL) when dropped.

#![allow(dead_code)] // each test crate uses a different part of it

pub mod backends;
pub mod hook;
pub mod pg;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Where `plugins/build.sh` put the handlers (the test command runs it first).
pub fn plugins_dir() -> PathBuf {
    let d = match std::env::var_os("WASMSTEP_PLUGINS_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../plugins"),
    };
    assert!(
        d.join("add.wasm").exists(),
        "no plugins in {}: build them first (bash plugins/build.sh)",
        d.display()
    );
    d
}

/// A plugins directory holding only the named handlers (`NAME.wasm`, and `NAME.toml` where
/// there is one) of those built: a daemon that serves a few loads fast.
pub fn plugins_with(dir: &Path, names: &[&str]) -> PathBuf {
    let built = plugins_dir();
    let d = dir.join("plugins");
    std::fs::create_dir_all(&d).expect("plugins dir");
    for name in names {
        for ext in ["wasm", "toml"] {
            let from = built.join(format!("{name}.{ext}"));
            if from.exists() {
                std::fs::copy(&from, d.join(format!("{name}.{ext}"))).expect("copy a handler");
            }
        }
    }
    d
}

/// A daemon serving only the named handlers, on SQLite or on `store` (a PostgreSQL URL).
pub fn serve_handlers(name: &str, handlers: &[&str], store: Option<&str>) -> Daemon {
    let data = tempdir(name);
    let plugins = plugins_with(&tempdir(&format!("{name}-plugins")), handlers);
    let mut args: Vec<&std::ffi::OsStr> = vec!["--plugins".as_ref(), plugins.as_os_str()];
    if let Some(s) = store {
        args.extend([std::ffi::OsStr::new("--store"), std::ffi::OsStr::new(s)]);
    }
    Daemon::start_with(&data, &args)
}

/// The Python with boto3 and aws-cli: `$WASMSTEP_PYTHON` (the test command installs them into
/// its tools venv), else `python3`.
pub fn python() -> PathBuf {
    let py = std::env::var_os("WASMSTEP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"));
    let ok = Command::new(&py)
        .args(["-c", "import boto3, awscli"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{} has no boto3/awscli: run the test command (bash .ci/test), which installs them",
        py.display()
    );
    py
}

pub fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wasmstep-daemon-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// A running `wasmstep serve`; killed (SIGKILL) when dropped.
pub struct Daemon {
    pub child: Child,
    pub url: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    /// With only the named built handlers, copied beside the data directory (a restart on the
    /// same data finds the same ones): a test never loads handlers it does not call.
    pub fn start_serving(data: &Path, handlers: &[&str]) -> Daemon {
        let plugins = plugins_with(&data.with_extension("plugins"), handlers);
        Daemon::start_with(data, &["--plugins".as_ref(), plugins.as_os_str()])
    }

    /// `serve --listen 127.0.0.1:0 --data-dir DATA ARGS...`
    pub fn start_with(data: &Path, args: &[&std::ffi::OsStr]) -> Daemon {
        Daemon::start_with_env(data, args, &[])
    }

    /// The same, with environment variables for the daemon.
    pub fn start_with_env(data: &Path, args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wasmstep"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wasmstep serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = log.clone();
        // Reads the log for the bound address, then keeps draining it so the daemon never blocks.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listen=").nth(1).and_then(|r| r.split_whitespace().next())
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(addr.to_string());
                }
                eprintln!("[daemon] {line}");
                lines.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(a) => a,
            Err(_) => {
                // Not left running behind a failed test.
                let _ = child.kill();
                let _ = child.wait();
                panic!("the daemon did not report its address within 120 s");
            }
        };
        Daemon {
            child,
            url: format!("http://{addr}"),
            log,
        }
    }

    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL the daemon");
        self.child.wait().expect("reap the daemon");
    }

    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{signal}");
    }

    /// One API call; the error body on a non-200 answer.
    pub fn try_call(&self, action: &str, body: Value) -> Result<Value, Value> {
        let mut resp = ureq::post(&self.url)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", format!("AWSStepFunctions.{action}"))
            .config()
            .http_status_as_error(false)
            .build()
            .send_json(&body)
            .unwrap_or_else(|e| panic!("{action}: {e}"));
        let status = resp.status();
        let v: Value = resp.body_mut().read_json().expect("a JSON response");
        if status == 200 { Ok(v) } else { Err(v) }
    }

    pub fn call(&self, action: &str, body: Value) -> Value {
        self.try_call(action, body)
            .unwrap_or_else(|e| panic!("{action} failed: {e}"))
    }

    /// CreateStateMachine (Standard): its ARN.
    pub fn create_machine(&self, name: &str, definition: &Value) -> String {
        self.call(
            "CreateStateMachine",
            json!({"name": name, "definition": definition.to_string(), "roleArn": "arn:aws:iam::123456789012:role/t"}),
        )["stateMachineArn"]
            .as_str()
            .expect("a state machine ARN")
            .to_string()
    }

    /// StartExecution: the execution's ARN.
    pub fn start_execution(&self, machine: &str, input: &Value) -> String {
        self.call(
            "StartExecution",
            json!({"stateMachineArn": machine, "input": input.to_string()}),
        )["executionArn"]
            .as_str()
            .expect("an execution ARN")
            .to_string()
    }

    /// `aws SERVICE ARGS…` (aws-cli, as a user types it) against this daemon with test
    /// credentials and no config file: its JSON answer (`Null` when it prints nothing); the
    /// test fails when the command does.
    pub fn aws(&self, service: &str, args: &[&str]) -> Value {
        let out = std::process::Command::new(python())
            .args(["-m", "awscli", service])
            .args(args)
            .args(["--endpoint-url", &self.url, "--region", "us-east-1", "--output", "json"])
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_CONFIG_FILE", std::env::temp_dir().join("wasmstep-no-aws-config"))
            // StartSyncExecution's endpoint is prefixed `sync-` by the SDKs: not for a local daemon
            // (README says so too).
            .env("AWS_DISABLE_HOST_PREFIX_INJECTION", "true")
            .output()
            .expect("run aws-cli");
        assert!(
            out.status.success(),
            "aws {service} {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if out.stdout.iter().all(u8::is_ascii_whitespace) {
            return Value::Null;
        }
        serde_json::from_slice(&out.stdout).expect("aws-cli prints JSON")
    }

    /// Runs the client script `tests/clients/NAME` with this daemon's URL (and `args`); the
    /// test fails with its output when the script does.
    pub fn run_client(&self, name: &str, args: &[&str]) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients").join(name);
        let out = Command::new(python())
            .arg(&script)
            .arg(&self.url)
            .args(args)
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "{name} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn history(&self, exec: &str) -> Vec<Value> {
        self.call("GetExecutionHistory", json!({"executionArn": exec, "maxResults": 1000}))["events"]
            .as_array()
            .expect("events")
            .clone()
    }

    pub fn metrics(&self) -> String {
        ureq::get(&format!("{}/metrics", self.url))
            .call()
            .expect("GET /metrics")
            .body_mut()
            .read_to_string()
            .expect("metrics text")
    }

    /// The value of one series (`name{labels}` exactly as exposed), 0 when absent.
    pub fn metric(&self, series: &str) -> f64 {
        self.metrics()
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// Log lines so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many log lines so far (to wait for a line after this point).
    pub fn log_len(&self) -> usize {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Waits (up to `limit`) for a log line after the first `from` containing every one of
    /// `parts`.
    pub fn wait_for_log(&self, from: usize, parts: &[&str], limit: Duration) -> String {
        let t0 = Instant::now();
        loop {
            let found = self
                .log()
                .into_iter()
                .skip(from)
                .find(|l| parts.iter().all(|p| l.contains(p)));
            if let Some(l) = found {
                return l;
            }
            assert!(t0.elapsed() < limit, "no log line with {parts:?} within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the execution is no longer RUNNING and returns DescribeExecution.
    pub fn wait_done(&self, exec: &str, limit: Duration) -> Value {
        let t0 = Instant::now();
        loop {
            let d = self.call("DescribeExecution", json!({"executionArn": exec}));
            if d["status"] != "RUNNING" {
                return d;
            }
            assert!(t0.elapsed() < limit, "{exec} still running after {limit:?}");
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
