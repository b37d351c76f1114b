//! This node's share of the work when several daemons share one database (and, trivially, a
//! daemon alone on SQLite): it claims the executions no live node holds (at start-up, those
//! that were running; later, those a stopped or dead node left) and resumes them by replay,
//! renews its leases and stops running those it has lost, follows state machine changes made on
//! other nodes, and at a stop hands its executions over (`handover.rs`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::catalog::{Machine, compile};
use super::reload::Reloader;
use super::service::{Service, now_secs};
use crate::asl::MachineType;
use crate::store::{ExecutionEnd, ExecutionRecord};

/// Executions claimed in one statement.
const CLAIM_BATCH: usize = 100;

/// How long a stopping daemon waits for its aborted executions to end.
const STOP_WAIT: Duration = Duration::from_secs(1);

pub struct Cluster {
    svc: Arc<Service>,
    reloader: Arc<Reloader>,
}

impl Cluster {
    pub fn new(svc: Arc<Service>, reloader: Arc<Reloader>) -> Arc<Cluster> {
        Arc::new(Cluster { svc, reloader })
    }

    /// Claims executions and resumes them, on the handler releases they started with, until
    /// none is left to claim. With `own` (start-up), also those recorded as this node's.
    /// Returns (executions resumed, handler sets brought back).
    pub async fn claim(&self, own: bool) -> Result<(usize, usize), String> {
        let mut total = (0, 0);
        loop {
            let t0 = Instant::now();
            let rows = self
                .svc
                .store
                .claim_executions(CLAIM_BATCH, own)
                .await
                .map_err(|e| e.to_string())?;
            self.svc.metrics.node.claim_seconds.observe(t0.elapsed().as_secs_f64());
            if rows.is_empty() {
                break;
            }
            let full = rows.len() >= CLAIM_BATCH;
            self.svc.metrics.node.claimed.inc_by(rows.len() as u64);
            let sets: Vec<u64> = rows.iter().filter_map(|r| r.handler_set).map(|s| s as u64).collect();
            total.1 += self.reloader.restore(&sets).await;
            total.0 += self.svc.resume(rows);
            self.reloader.forget_unused(false).await;
            if !full {
                break;
            }
        }
        self.gauges();
        Ok(total)
    }

    fn gauges(&self) {
        let node = &self.svc.metrics.node;
        node.leases_held.set(self.svc.store.leases_held() as i64);
        node.executions_owned.set(self.svc.running_count() as i64);
    }

    /// Until the daemon stops: every `every` (a third of the lease), or sooner when another
    /// node hints, renews this node's leases, stops what it lost, claims what is left, and
    /// picks up state machine changes.
    pub fn spawn(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let hints = me.svc.store.hints();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = hints.notified() => {}
                }
                if me.svc.draining() {
                    return;
                }
                match me.svc.store.renew_leases().await {
                    Ok(lost) => me.svc.lose(&lost),
                    Err(e) => tracing::warn!("cannot renew this node's leases: {e}"),
                }
                if let Err(e) = me.claim(false).await {
                    tracing::warn!("cannot claim executions: {e}");
                }
                me.svc.refresh_catalog().await;
                me.gauges();
            }
        })
    }

    /// At a stop: no execution goes on here (each stops at its next barrier), the handler calls
    /// in flight finish (for at most `limit`) and their results are recorded, then the leases
    /// are released for other nodes to resume at once. Returns how many were handed over.
    pub async fn hand_over(&self, limit: Duration) -> usize {
        self.svc.gate.close();
        if !self.svc.gate.drained(limit).await {
            tracing::warn!(
                in_flight = self.svc.gate.in_flight(),
                "handler calls still running after the drain timeout: they are made again where their executions resume"
            );
        }
        // Every execution is parked at a barrier or sleeps on a timer, its results recorded:
        // none goes on here (a timer firing now would record past the hand-over).
        let arns = self.svc.stop_all().await;
        if let Err(e) = self.svc.store.release_executions(&arns).await {
            tracing::warn!(
                "cannot release this node's executions ({e}): other nodes take them when their leases expire"
            );
            return 0;
        }
        self.svc.metrics.node.handed_over.inc_by(arns.len() as u64);
        arns.len()
    }
}

impl Service {
    /// How many executions run on this node now.
    pub(super) fn running_count(&self) -> usize {
        self.running.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Stops running every execution here (recording nothing more) and returns which.
    async fn stop_all(&self) -> Vec<String> {
        let tasks: Vec<(String, tokio::task::JoinHandle<()>)> =
            self.running.lock().unwrap_or_else(|e| e.into_inner()).drain().collect();
        let mut arns = Vec::with_capacity(tasks.len());
        let mut aborted = Vec::with_capacity(tasks.len());
        for (arn, task) in tasks {
            task.abort();
            aborted.push(task);
            self.metrics.executions_running.dec();
            arns.push(arn);
        }
        // A task aborted in the middle of a handler call ends when the call returns (Wasm runs
        // on the task's thread): not waited for past a moment, as once released nothing it
        // writes is recorded (the store drops writes of executions it no longer holds).
        let _ = tokio::time::timeout(STOP_WAIT, futures::future::join_all(aborted)).await;
        self.metrics.node.executions_owned.set(0);
        arns
    }

    /// Resumes claimed executions (by replay); returns how many.
    pub(super) fn resume(self: &Arc<Self>, rows: Vec<ExecutionRecord>) -> usize {
        let n = rows.len();
        for row in rows {
            // Its lease was lost and claimed back (this node paused too long): the old run
            // stops, the claimed one replays.
            self.lose(std::slice::from_ref(&row.arn));
            let machine_name = row.machine_arn.rsplit(':').next().unwrap_or_default().to_string();
            // A stored definition this build no longer accepts fails that one execution, not the
            // daemon.
            let compiled = match compile(&row.definition, MachineType::Standard) {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(execution = %row.arn, "cannot resume: {}", e.message);
                    self.store.end_execution(
                        &row.arn,
                        &ExecutionEnd {
                            status: "FAILED".into(),
                            output: None,
                            error: Some("States.Runtime".into()),
                            cause: Some(format!("cannot resume: {}", e.message)),
                            stopped: now_secs(),
                        },
                    );
                    continue;
                }
            };
            let input: Value = serde_json::from_str(&row.input).unwrap_or(Value::Null);
            self.metrics
                .executions_resumed
                .with_label_values(&[&machine_name])
                .inc();
            let (_, invoker) = self.pin(row.handler_set);
            self.spawn(machine_name, Arc::new(compiled), &row, input, true, invoker);
        }
        n
    }

    /// Stops running executions whose leases another node holds now, without recording
    /// anything for them (that node does).
    pub(super) fn lose(&self, arns: &[String]) {
        for arn in arns {
            let task = self.take_running(arn);
            if let Some(t) = task {
                t.abort();
                self.metrics.executions_running.dec();
                self.metrics.node.leases_lost.inc();
                tracing::warn!(execution = %arn, "another node runs this execution now");
            }
        }
    }

    /// Brings this node's cache of state machines up to date with changes made on other nodes
    /// (when the store says the catalog changed).
    pub async fn refresh_catalog(&self) {
        let Ok(version) = self.store.catalog_version().await else {
            return;
        };
        if version == self.catalog_seen.load(Ordering::Acquire) {
            return;
        }
        let rows = match self.store.machines().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("cannot read the state machines: {e}");
                return;
            }
        };
        let mut fresh = std::collections::HashMap::new();
        {
            let known = self.machines();
            for r in rows {
                let same = known
                    .get(&r.arn)
                    .filter(|m| {
                        m.definition == r.definition
                            && m.role_arn == r.role_arn
                            && super::catalog::type_name(m.machine_type) == r.machine_type
                    })
                    .cloned();
                let m = match same {
                    Some(m) => m,
                    None => match Machine::from_record(r) {
                        Ok(m) => Arc::new(m),
                        Err(e) => {
                            tracing::error!("{e}");
                            continue;
                        }
                    },
                };
                fresh.insert(m.arn.clone(), m);
            }
        }
        *self.machines() = fresh;
        // A version deleted elsewhere must not start executions here: versions are read again.
        self.versions.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.catalog_seen.store(version, Ordering::Release);
    }
}
