//! Map Runs as the world outside the engine sees them: a Distributed Map tells an observer
//! when its run starts, when each child starts and ends, and how the run ended; the observer
//! (the daemon: DescribeMapRun, ListMapRuns, ListExecutions of a Map Run) gives back the
//! run's live limits, which UpdateMapRun may change while it runs. `wasmstep run` has none.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::writer::ChildRecord;

/// How a Map Run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapRunStatus {
    Succeeded,
    Failed,
    Aborted,
}

impl MapRunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MapRunStatus::Succeeded => "SUCCEEDED",
            MapRunStatus::Failed => "FAILED",
            MapRunStatus::Aborted => "ABORTED",
        }
    }
}

/// A Map Run starting (again, after a restart or a redrive of its execution).
#[derive(Debug, Clone)]
pub struct MapRunStart<'a> {
    pub arn: &'a str,
    pub execution_arn: &'a str,
    /// The children's state machine (`…:stateMachine:PARENT/LABEL`).
    pub state_machine_arn: &'a str,
    /// 0: as many as allowed.
    pub max_concurrency: u64,
    pub tolerated_count: Option<u64>,
    pub tolerated_pct: Option<f64>,
    /// Items to process, and children to run when known (batches of a streamed dataset are
    /// counted as they are made).
    pub items: u64,
    pub children: Option<u64>,
    /// The execution's redrive this run belongs to (0: its first run).
    pub redrive_count: u32,
    /// Children are Express executions (not kept for ListExecutions).
    pub express: bool,
}

/// A Map Run's limits as they are now; UpdateMapRun changes them and wakes the run.
#[derive(Debug)]
pub struct LiveLimits {
    max_concurrency: AtomicU64,
    /// `u64::MAX`: none.
    tolerated_count: AtomicU64,
    /// The bits of an `f64`; NaN: none.
    tolerated_pct: AtomicU64,
    pub changed: tokio::sync::Notify,
}

impl LiveLimits {
    pub fn new(max_concurrency: u64, tolerated_count: Option<u64>, tolerated_pct: Option<f64>) -> LiveLimits {
        LiveLimits {
            max_concurrency: AtomicU64::new(max_concurrency),
            tolerated_count: AtomicU64::new(tolerated_count.unwrap_or(u64::MAX)),
            tolerated_pct: AtomicU64::new(tolerated_pct.unwrap_or(f64::NAN).to_bits()),
            changed: tokio::sync::Notify::new(),
        }
    }

    pub fn max_concurrency(&self) -> u64 {
        self.max_concurrency.load(Ordering::Relaxed)
    }

    pub fn tolerated_count(&self) -> Option<u64> {
        Some(self.tolerated_count.load(Ordering::Relaxed)).filter(|c| *c != u64::MAX)
    }

    pub fn tolerated_pct(&self) -> Option<f64> {
        Some(f64::from_bits(self.tolerated_pct.load(Ordering::Relaxed))).filter(|p| !p.is_nan())
    }

    /// Changes what is given and wakes the run.
    pub fn update(&self, max_concurrency: Option<u64>, tolerated_count: Option<u64>, tolerated_pct: Option<f64>) {
        if let Some(m) = max_concurrency {
            self.max_concurrency.store(m, Ordering::Relaxed);
        }
        if let Some(c) = tolerated_count {
            self.tolerated_count.store(c, Ordering::Relaxed);
        }
        if let Some(p) = tolerated_pct {
            self.tolerated_pct.store(p.to_bits(), Ordering::Relaxed);
        }
        self.changed.notify_waiters();
    }
}

pub trait MapRunObserver: Send + Sync {
    /// A run starts; the limits it runs under from now on.
    fn started(&self, run: &MapRunStart<'_>) -> Arc<LiveLimits>;
    /// A child of `items` items starts.
    fn child_started(&self, run: &str, items: u64);
    /// A child ended (its record, when it was kept); `written`: its result was exported.
    fn child_ended(&self, run: &str, items: u64, child: &ChildRecord, written: bool);
    /// The run ended.
    fn ended(&self, run: &str, status: MapRunStatus);
}

/// No one watches (`wasmstep run`): the limits stay as the definition says.
pub struct Unobserved;

impl MapRunObserver for Unobserved {
    fn started(&self, run: &MapRunStart<'_>) -> Arc<LiveLimits> {
        Arc::new(LiveLimits::new(
            run.max_concurrency,
            run.tolerated_count,
            run.tolerated_pct,
        ))
    }

    fn child_started(&self, _run: &str, _items: u64) {}

    fn child_ended(&self, _run: &str, _items: u64, _child: &ChildRecord, _written: bool) {}

    fn ended(&self, _run: &str, _status: MapRunStatus) {}
}
