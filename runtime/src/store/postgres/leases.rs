//! The leases this node holds, in memory: which running executions it may write for, under
//! which lease number (`epoch`, bumped by every claim), and which it has lost. The database is
//! the truth (`executions.owner`, `epoch`, `lease_until`); this is what the writer fences
//! against and what the daemon is told to stop running.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

pub(super) struct Leases {
    node: String,
    ttl: Duration,
    held: Mutex<HashMap<String, i64>>,
    /// Lost and not yet reported by `renew_leases`, and lost for good (until claimed again).
    lost: Mutex<(Vec<String>, HashSet<String>)>,
}

impl Leases {
    pub(super) fn new(node: String, ttl: Duration) -> Leases {
        Leases {
            node,
            ttl,
            held: Mutex::new(HashMap::new()),
            lost: Mutex::new((Vec::new(), HashSet::new())),
        }
    }

    pub(super) fn node(&self) -> &str {
        &self.node
    }

    /// The lease's length, in seconds (as SQL takes it).
    pub(super) fn ttl_secs(&self) -> f64 {
        self.ttl.as_secs_f64()
    }

    /// The lease number this node holds for `arn`, if it holds one.
    pub(super) fn epoch(&self, arn: &str) -> Option<i64> {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).get(arn).copied()
    }

    pub(super) fn hold(&self, arn: &str, epoch: i64) {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(arn.to_string(), epoch);
        self.lost.lock().unwrap_or_else(|e| e.into_inner()).1.remove(arn);
    }

    /// Another node has the execution now (it claimed it, or stopped it).
    pub(super) fn lose(&self, arn: &str) {
        if self
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(arn)
            .is_some()
        {
            let mut lost = self.lost.lock().unwrap_or_else(|e| e.into_inner());
            lost.0.push(arn.to_string());
            lost.1.insert(arn.to_string());
        }
    }

    /// The execution ended (or was handed over) here: nothing more to hold.
    pub(super) fn forget(&self, arn: &str) {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).remove(arn);
    }

    /// Handed over: another node may claim it from now on, so nothing more is written for it
    /// from here (until this node claims it again).
    pub(super) fn release(&self, arn: &str) {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).remove(arn);
        self.lost
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .insert(arn.to_string());
    }

    /// The executions among `arns` this node holds, with their lease numbers (one lock).
    pub(super) fn epochs<'a>(&self, arns: impl Iterator<Item = &'a str>) -> HashMap<&'a str, i64> {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        arns.filter_map(|a| held.get(a).map(|e| (a, *e))).collect()
    }

    /// Keeps what `keep` says of `items`, asked only of executions this node lost (one lock; none
    /// asked while nothing is lost).
    pub(super) fn drop_lost<T>(
        &self,
        items: &mut std::collections::VecDeque<T>,
        execution: impl Fn(&T) -> Option<&str>,
    ) {
        let lost = self.lost.lock().unwrap_or_else(|e| e.into_inner());
        if !lost.1.is_empty() {
            items.retain(|i| execution(i).is_none_or(|x| !lost.1.contains(x)));
        }
    }

    pub(super) fn owns(&self, arn: &str) -> bool {
        !self.lost.lock().unwrap_or_else(|e| e.into_inner()).1.contains(arn)
    }

    /// Every lease held now, with its number.
    pub(super) fn snapshot(&self) -> Vec<(String, i64)> {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(a, e)| (a.clone(), *e))
            .collect()
    }

    /// The leases lost since the last call.
    pub(super) fn take_lost(&self) -> Vec<String> {
        std::mem::take(&mut self.lost.lock().unwrap_or_else(|e| e.into_inner()).0)
    }

    pub(super) fn count(&self) -> usize {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}
