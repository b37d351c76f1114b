//! Bad input of every kind gives an error, never a panic or a hang: mutated definitions (JSON
//! and YAML), pathological nesting, random path and intrinsic text, and runaway executions.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmstep::asl::glob::Glob;
use wasmstep::asl::{self, MachineType, Source, Syntax};
use wasmstep::engine::EngineConfig;
use wasmstep::engine::oneshot::{self, RunOptions};
use wasmstep::path::Path;
use wasmstep::path::intrinsic::Call;

/// A small deterministic generator (no dependency needed for this).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const ALPHABET: &[u8] = b"{}[]\"$.,:\\*'()?@ !=<>&|~0a1-_\n#%";

fn mutate(text: &str, rng: &mut Lcg) -> String {
    let mut bytes = text.as_bytes().to_vec();
    match rng.below(3) {
        0 => bytes.truncate(rng.below(bytes.len())),
        1 => {
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(bytes.len());
                bytes[i] = ALPHABET[rng.below(ALPHABET.len())];
            }
        }
        _ => {
            let i = rng.below(bytes.len());
            let j = (i + 1 + rng.below(40)).min(bytes.len());
            bytes.drain(i..j);
        }
    }
    String::from_utf8_lossy(&bytes).to_string()
}

fn definitions() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/cases");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("conformance cases")
        .filter_map(|e| e.ok())
        .map(|e| {
            let case: Value =
                serde_json::from_str(&std::fs::read_to_string(e.path()).expect("readable")).expect("JSON");
            serde_json::to_string_pretty(&case["definition"]).expect("serializable")
        })
        .collect();
    v.sort();
    v
}

#[test]
fn mutated_definitions_never_panic() {
    let defs = definitions();
    let mut rng = Lcg(0x5eed);
    let mut built = Vec::new();
    let mut rejected = 0;
    for def in &defs {
        for _ in 0..12 {
            let text = mutate(def, &mut rng);
            for syntax in [Syntax::Json, Syntax::Yaml] {
                match asl::load(&text, syntax, MachineType::Standard) {
                    Ok(m) => built.push(m),
                    Err(e) => {
                        assert!(!e.diagnostics.is_empty());
                        rejected += 1;
                    }
                }
            }
        }
    }
    assert!(rejected > 1000, "the mutations should mostly be rejected ({rejected})");
    // Whatever still builds must run to an end (or be stopped) without panicking.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let opts = RunOptions {
        buckets: None,
        skip_waits: true,
        machine_type: MachineType::Standard,
        engine: EngineConfig {
            keep_history: true,
            ..EngineConfig::default()
        },
    };
    for m in built.into_iter().take(400) {
        let exec = oneshot::executor(Arc::new(m), None, &opts);
        let fut = oneshot::run_once(
            &exec,
            "Mutant",
            json!({"a": 1, "items": [1, 2], "s": "x"}),
            MachineType::Standard,
        );
        let _ = rt.block_on(async { tokio::time::timeout(Duration::from_millis(200), fut).await });
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    for syntax in [Syntax::Json, Syntax::Yaml] {
        assert!(asl::load(&deep, syntax, MachineType::Standard).is_err());
    }
    let deep_filter = format!("$.a[?({}@.x{})]", "(".repeat(10_000), ")".repeat(10_000));
    assert!(Path::parse(&deep_filter).is_err());
    let deep_not = format!("$.a[?({}@.x)]", "!".repeat(10_000));
    assert!(Path::parse(&deep_not).is_err());
    let deep_list = format!("$.a[?(@.x in {}1{})]", "[".repeat(10_000), "]".repeat(10_000));
    assert!(Path::parse(&deep_list).is_err());
}

#[test]
fn random_path_intrinsic_and_glob_text_never_panics() {
    let seeds = [
        "$.a.b[0]",
        "$..x[?(@.p > 1 && @.q =~ /a.*/i)]",
        "$['a','b'][1:3:2]",
        "$$.Execution.Input",
        "$var.x[-1]",
        "States.Format('{} {}', $.a, States.Array(1, 'x', null, true))",
        "States.MathAdd(1, -2)",
        "a\\*b*\\\\c",
    ];
    let mut rng = Lcg(7);
    for seed in seeds {
        for _ in 0..2000 {
            let text = mutate(seed, &mut rng);
            let _ = Path::parse(&text);
            let _ = Call::parse(&text);
            let _ = Glob::parse(&text);
            let _ = wasmstep::path::reference::ResultTarget::parse(&text);
        }
    }
}

#[test]
fn an_endless_loop_is_stopped_by_the_execution_timeout() {
    let def = json!({"TimeoutSeconds": 1, "StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B"},
        // A way out that the input never takes: AWS requires a terminal state.
        "B": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": true, "Next": "Done"}], "Default": "A"},
        "Done": {"Type": "Succeed"}}});
    let machine = asl::build(&Source::from_value(def), MachineType::Standard).expect("valid");
    let exec = oneshot::executor(
        Arc::new(machine),
        None,
        &RunOptions {
            buckets: None,
            engine: EngineConfig {
                keep_history: false,
                // This loop would reach the 25,000-event cap long before its second: the
                // timeout is what is tested here.
                history_limit: None,
                ..EngineConfig::default()
            },
            ..RunOptions::default()
        },
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let t0 = Instant::now();
    let r = rt.block_on(oneshot::run_once(&exec, "Loop", json!({}), MachineType::Standard));
    assert_eq!(r.status.as_str(), "TIMED_OUT");
    assert!(t0.elapsed() < Duration::from_secs(10));
    assert!(r.transitions > 1000);
}

#[test]
fn deep_jsonata_recursion_on_a_small_worker_stack_is_an_error() {
    // Daemon executions run on tokio workers (2 MiB stacks); recursion must end in an error there too.
    let handle = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(|| {
            let e = wasmstep::jsonata::Expr::parse("($f := function($n){ $n = 0 ? 0 : 1 + $f($n - 1) }; $f(100000))")
                .expect("parses");
            e.evaluate(None, &mut |_| None, wasmstep::jsonata::Limits::default())
                .map(|_| ())
        })
        .expect("thread");
    let r = handle.join().expect("no stack overflow");
    assert_eq!(r.unwrap_err().code, "U1001");
}
