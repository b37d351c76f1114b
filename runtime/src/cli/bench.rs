//! The `bench` command: many executions of one definition in one process, with throughput
//! and latency percentiles, checking every output against the workload's expectations.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use wasmstep::asl;
use wasmstep::asl::MachineType;
use wasmstep::engine::oneshot::{self, RunOptions};
use wasmstep::engine::{EngineConfig, Executor, Status};
use wasmstep::store::{self, ExecutionStore, Location, Node};

use super::args::BenchArgs;
use super::plugins::load_plugins;
use super::{USAGE, async_runtime, print_line, report_load_error};

/// What every execution must produce (from `NAME.meta.json`).
struct Expect {
    transitions: Option<u64>,
    pointers: Vec<(String, Value)>,
}

fn sibling(def: &Path, suffix: &str) -> Option<PathBuf> {
    let name = def.file_name()?.to_string_lossy().to_string();
    let stem = name.strip_suffix(".asl.json").or_else(|| name.strip_suffix(".json"))?;
    let p = def.with_file_name(format!("{stem}{suffix}"));
    p.exists().then_some(p)
}

fn load_expect(path: &Path) -> Result<Expect, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{} is not valid JSON: {e}", path.display()))?;
    Ok(Expect {
        transitions: v.get("transitions_per_execution").and_then(Value::as_u64),
        pointers: v
            .get("expect")
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
    })
}

fn check(expect: &Expect, status: Status, output: Option<&Value>, transitions: u64) -> Result<(), String> {
    if status != Status::Succeeded {
        return Err(format!("an execution ended {}", status.as_str()));
    }
    if let Some(t) = expect.transitions
        && t != transitions
    {
        return Err(format!("an execution made {transitions} transitions, expected {t}"));
    }
    for (ptr, want) in &expect.pointers {
        let got = output.and_then(|o| o.pointer(ptr));
        if got != Some(want) {
            return Err(format!("output at {ptr} is {got:?}, expected {want}"));
        }
    }
    Ok(())
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn bench(args: BenchArgs) -> u8 {
    let invoker = match load_plugins(&args.plugins) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return USAGE;
        }
    };
    if args.executions == 0 || args.concurrency == 0 {
        eprintln!("error: --executions and --concurrency must be at least 1");
        return USAGE;
    }
    let machine = match asl::load_file(&args.file, MachineType::Standard) {
        Ok(m) => Arc::new(m),
        Err(e) => {
            report_load_error(&args.file, &e);
            return USAGE;
        }
    };
    let input_file = args.input_file.clone().or_else(|| sibling(&args.file, ".input.json"));
    let input: Value = match &input_file {
        None => json!({}),
        Some(f) => match std::fs::read_to_string(f)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(v) => v,
            Err(e) => {
                eprintln!("error: input file {}: {e}", f.display());
                return USAGE;
            }
        },
    };
    let meta = args.meta.clone().or_else(|| sibling(&args.file, ".meta.json"));
    let expect = match meta.as_deref().map(load_expect).transpose() {
        Ok(e) => Arc::new(e.unwrap_or(Expect {
            transitions: None,
            pointers: Vec::new(),
        })),
        Err(e) => {
            eprintln!("error: {e}");
            return USAGE;
        }
    };
    let opts = RunOptions {
        buckets: None,
        skip_waits: true,
        machine_type: MachineType::Standard,
        engine: EngineConfig {
            keep_history: false,
            ..EngineConfig::default()
        },
    };
    let exec = Arc::new(oneshot::executor(machine, invoker, &opts));
    let name = Arc::new(asl::machine_name(&args.file));
    let input = Arc::new(input);
    let rt = match async_runtime(true) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let store: Option<Arc<dyn ExecutionStore>> = match &args.store {
        None => None,
        Some(place) => {
            let node = Node {
                id: "bench".into(),
                lease: std::time::Duration::from_secs(10),
            };
            match rt.block_on(store::open(&Location::parse(place), &node)) {
                Ok(s) => Some(s),
                Err(e) => {
                    eprintln!("error: {e}");
                    return USAGE;
                }
            }
        }
    };
    let warmup = (args.executions / 10).clamp(1, 100);
    let result = rt.block_on(async {
        measure(&exec, &name, &input, &expect, warmup, args.concurrency, &store).await?;
        let start = Instant::now();
        let (lat, transitions) =
            measure(&exec, &name, &input, &expect, args.executions, args.concurrency, &store).await?;
        Ok::<_, String>((lat, transitions, start.elapsed()))
    });
    let (mut lat, transitions, elapsed) = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    lat.sort_unstable();
    let secs = elapsed.as_secs_f64().max(1e-9);
    print_line(&json!({
        "executions": args.executions,
        "concurrency": args.concurrency,
        "executions_per_sec": (args.executions as f64 / secs).round(),
        "transitions_per_sec": (transitions as f64 / secs).round(),
        "p50_us": percentile(&lat, 0.50),
        "p99_us": percentile(&lat, 0.99),
    }));
    0
}

/// Runs `n` executions on `concurrency` workers; returns per-execution latencies (µs) and the
/// total number of transitions.
async fn measure(
    exec: &Arc<Executor>,
    name: &Arc<String>,
    input: &Arc<Value>,
    expect: &Arc<Expect>,
    n: u64,
    concurrency: usize,
    store: &Option<Arc<dyn ExecutionStore>>,
) -> Result<(Vec<u64>, u64), String> {
    let workers = concurrency.min(n as usize).max(1);
    let mut handles = Vec::new();
    for w in 0..workers {
        let count = n / workers as u64 + u64::from((w as u64) < n % workers as u64);
        let (exec, name, input, expect, store) =
            (exec.clone(), name.clone(), input.clone(), expect.clone(), store.clone());
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(count as usize);
            let mut transitions = 0;
            for _ in 0..count {
                let t0 = Instant::now();
                let r = match &store {
                    None => oneshot::run_once(&exec, &name, (*input).clone(), MachineType::Standard).await,
                    Some(s) => oneshot::run_durable(&exec, &name, (*input).clone(), s.clone())
                        .await
                        .map_err(|e| e.to_string())?,
                };
                lat.push(t0.elapsed().as_micros() as u64);
                check(&expect, r.status, r.output.as_ref(), r.transitions)
                    .map_err(|e| format!("{e} (error: {:?}, cause: {:?})", r.error, r.cause))?;
                transitions += r.transitions;
            }
            Ok::<_, String>((lat, transitions))
        }));
    }
    let mut all = Vec::new();
    let mut transitions = 0;
    for h in handles {
        let (lat, t) = h.await.map_err(|e| format!("a benchmark worker stopped: {e}"))??;
        all.extend(lat);
        transitions += t;
    }
    Ok((all, transitions))
}
