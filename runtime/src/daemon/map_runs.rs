//! Map Runs as the API shows them: the book of runs going on in this daemon (counts of items
//! and children by status, limits UpdateMapRun changes), kept in the store as they start, every
//! second while they run and when they end; Standard children recorded as they end (for
//! ListExecutions of a Map Run and DescribeExecution of a child). DescribeMapRun, ListMapRuns,
//! UpdateMapRun.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::arns::arn_rest;
use super::error::{Result, error, unavailable};
use super::service::{Service, now_secs};
use crate::engine::map_runs::{LiveLimits, MapRunObserver, MapRunStart, MapRunStatus};
use crate::engine::writer::ChildRecord;
use crate::path::to_json_text;
use crate::store::{ChildExecution, MapRunRecord, Store};

/// Counts of items or of children, by status (`MapRunItemCounts`, `MapRunExecutionCounts`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub pending: u64,
    pub running: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub timed_out: u64,
    pub aborted: u64,
    pub total: u64,
    pub results_written: u64,
    pub failures_not_redrivable: u64,
    pub pending_redrive: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RunCounts {
    pub items: Counts,
    pub executions: Counts,
}

/// A run going on here.
struct Live {
    record: MapRunRecord,
    counts: RunCounts,
    /// Items are counted, children only as they are made (batches of a streamed dataset).
    children_known: bool,
    express: bool,
    limits: Arc<LiveLimits>,
    dirty: bool,
}

impl Live {
    fn snapshot(&self) -> MapRunRecord {
        let mut r = self.record.clone();
        r.counts = serde_json::to_string(&self.counts).unwrap_or_default();
        r.max_concurrency = self.limits.max_concurrency();
        r.tolerated_count = self.limits.tolerated_count().unwrap_or(0);
        r.tolerated_pct = self.limits.tolerated_pct().unwrap_or(0.0);
        r
    }
}

/// The runs going on in this daemon; the engine's observer of Map Runs.
pub struct MapRunBook {
    store: Arc<dyn Store>,
    live: Mutex<HashMap<String, Live>>,
}

impl MapRunBook {
    pub fn new(store: Arc<dyn Store>) -> MapRunBook {
        MapRunBook {
            store,
            live: Mutex::new(HashMap::new()),
        }
    }

    fn with<T>(&self, run: &str, f: impl FnOnce(&mut Live) -> T) -> Option<T> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.get_mut(run).map(f)
    }

    /// A run going on here, as it is now.
    fn live_record(&self, arn: &str) -> Option<MapRunRecord> {
        self.with(arn, |l| l.snapshot())
    }

    /// Writes the runs that changed since the last time (every second, from `serve`).
    pub fn persist(&self) {
        let changed: Vec<MapRunRecord> = {
            let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
            live.values_mut()
                .filter_map(|l| std::mem::take(&mut l.dirty).then(|| l.snapshot()))
                .collect()
        };
        for r in &changed {
            self.store.put_map_run(r);
        }
    }
}

fn status_of(child: &ChildRecord) -> &'static str {
    match &child.outcome {
        Ok(_) => "SUCCEEDED",
        Err(e) if e.name == crate::asl::ErrorName::Timeout => "TIMED_OUT",
        Err(_) => "FAILED",
    }
}

fn secs(t: chrono::DateTime<chrono::Utc>) -> f64 {
    t.timestamp_micros() as f64 / 1e6
}

impl MapRunObserver for MapRunBook {
    fn started(&self, run: &MapRunStart<'_>) -> Arc<LiveLimits> {
        let limits = Arc::new(LiveLimits::new(
            run.max_concurrency,
            run.tolerated_count,
            run.tolerated_pct,
        ));
        let children = run.children.unwrap_or(0);
        let counts = RunCounts {
            items: Counts {
                pending: run.items,
                total: run.items,
                ..Counts::default()
            },
            executions: Counts {
                pending: children,
                total: children,
                ..Counts::default()
            },
        };
        let now = now_secs();
        let record = MapRunRecord {
            arn: run.arn.to_string(),
            execution_arn: run.execution_arn.to_string(),
            state_machine_arn: run.state_machine_arn.to_string(),
            status: "RUNNING".into(),
            started: now,
            stopped: None,
            max_concurrency: run.max_concurrency,
            tolerated_pct: run.tolerated_pct.unwrap_or(0.0),
            tolerated_count: run.tolerated_count.unwrap_or(0),
            counts: String::new(),
            redrive_count: run.redrive_count,
            redrive_date: (run.redrive_count > 0).then_some(now),
        };
        let live = Live {
            record,
            counts,
            children_known: run.children.is_some(),
            express: run.express,
            limits: limits.clone(),
            dirty: false,
        };
        self.store.put_map_run(&live.snapshot());
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(run.arn.to_string(), live);
        limits
    }

    fn child_started(&self, run: &str, items: u64) {
        self.with(run, |l| {
            let c = &mut l.counts;
            if !l.children_known {
                c.executions.total += 1;
                c.executions.pending += 1;
            }
            c.executions.pending = c.executions.pending.saturating_sub(1);
            c.executions.running += 1;
            c.items.pending = c.items.pending.saturating_sub(items);
            c.items.running += items;
            l.dirty = true;
        });
    }

    fn child_ended(&self, run: &str, items: u64, child: &ChildRecord, written: bool) {
        let status = status_of(child);
        let keep = self.with(run, |l| {
            let c = &mut l.counts;
            c.executions.running = c.executions.running.saturating_sub(1);
            c.items.running = c.items.running.saturating_sub(items);
            for (counts, n) in [(&mut c.executions, 1), (&mut c.items, items)] {
                match status {
                    "SUCCEEDED" => counts.succeeded += n,
                    "TIMED_OUT" => counts.timed_out += n,
                    _ => counts.failed += n,
                }
                if written {
                    counts.results_written += n;
                }
            }
            l.dirty = true;
            !l.express
        });
        if keep == Some(true) {
            let (output, error, cause) = match &child.outcome {
                Ok(v) => (Some(to_json_text(v)), None, None),
                Err(e) => (None, Some(e.name.as_str().to_string()), e.cause.clone()),
            };
            self.store.put_child(&ChildExecution {
                arn: child.arn.clone(),
                map_run_arn: run.to_string(),
                state_machine_arn: child.state_machine_arn.clone(),
                name: child.name.clone(),
                status: status.to_string(),
                input: to_json_text(&child.input),
                output,
                error,
                cause,
                started: secs(child.started),
                stopped: secs(child.stopped),
            });
        }
    }

    fn ended(&self, run: &str, status: MapRunStatus) {
        let ended = {
            let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
            live.remove(run)
        };
        if let Some(mut l) = ended {
            if status == MapRunStatus::Aborted {
                // What was running is aborted; what never started stays pending.
                for c in [&mut l.counts.executions, &mut l.counts.items] {
                    c.aborted += std::mem::take(&mut c.running);
                }
            }
            l.record.status = status.as_str().into();
            l.record.stopped = Some(now_secs());
            self.store.put_map_run(&l.snapshot());
        }
    }
}

/// DescribeMapRun's answer for a run.
pub fn map_run_json(r: &MapRunRecord) -> Value {
    let counts: RunCounts = serde_json::from_str(&r.counts).unwrap_or_default();
    let mut v = json!({
        "mapRunArn": r.arn, "executionArn": r.execution_arn, "status": r.status, "startDate": r.started,
        "maxConcurrency": r.max_concurrency, "toleratedFailurePercentage": r.tolerated_pct,
        "toleratedFailureCount": r.tolerated_count,
        "itemCounts": counts.items, "executionCounts": counts.executions,
        "redriveCount": r.redrive_count,
    });
    if let Some(s) = r.stopped {
        v["stopDate"] = s.into();
    }
    if let Some(d) = r.redrive_date {
        v["redriveDate"] = d.into();
    }
    v
}

/// What UpdateMapRun changes (at least one).
pub struct MapRunUpdate {
    pub max_concurrency: Option<u64>,
    pub tolerated_pct: Option<f64>,
    pub tolerated_count: Option<u64>,
}

impl Service {
    fn map_run_arn(arn: &str) -> Result<()> {
        arn_rest(arn, "mapRun").map(|_| ())
    }

    pub async fn describe_map_run(&self, arn: &str) -> Result<MapRunRecord> {
        Self::map_run_arn(arn)?;
        if let Some(r) = self.map_runs.live_record(arn) {
            return Ok(r);
        }
        self.store
            .map_run(arn)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| error("ResourceNotFound", format!("Resource not found: '{arn}'")))
    }

    /// An execution's Map Runs, newest first.
    pub async fn list_map_runs(&self, execution_arn: &str) -> Result<Vec<MapRunRecord>> {
        self.describe_execution(execution_arn).await?;
        let mut runs = self.store.map_runs(execution_arn).await.map_err(unavailable)?;
        for r in &mut runs {
            if let Some(live) = self.map_runs.live_record(&r.arn) {
                *r = live;
            }
        }
        Ok(runs)
    }

    pub async fn update_map_run(&self, arn: &str, u: MapRunUpdate) -> Result<()> {
        let run = self.describe_map_run(arn).await?;
        if u.max_concurrency.is_none() && u.tolerated_pct.is_none() && u.tolerated_count.is_none() {
            return Err(error(
                "ValidationException",
                "UpdateMapRun needs at least one of maxConcurrency, toleratedFailurePercentage and toleratedFailureCount",
            ));
        }
        if run.status != "RUNNING" {
            return Err(error(
                "ValidationException",
                format!("Map Run '{arn}' is {} and can no longer be updated", run.status),
            ));
        }
        let changed = self.map_runs.with(arn, |l| {
            l.limits.update(u.max_concurrency, u.tolerated_count, u.tolerated_pct);
            l.dirty = true;
        });
        if changed.is_none() {
            // Running on another daemon sharing the store: its limits live there.
            return Err(error(
                "ServiceUnavailable",
                format!("Map Run '{arn}' runs on another daemon; send the update to that daemon"),
            ));
        }
        self.map_runs.persist();
        Ok(())
    }

    /// The children of a Map Run that have ended, newest first.
    pub async fn map_run_children(&self, arn: &str, status: Option<&str>) -> Result<Vec<ChildExecution>> {
        self.describe_map_run(arn).await?;
        self.store.children(arn, status).await.map_err(unavailable)
    }

    /// A child execution of a Map Run, if `arn` names one that ended.
    pub async fn child_execution(&self, arn: &str) -> Result<Option<ChildExecution>> {
        self.store.child(arn).await.map_err(unavailable)
    }
}
