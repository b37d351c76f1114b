//! The daemon's store: everything it persists goes through this trait (no SQL outside
//! `store/`). Writes are queued and become durable together at the next `flush` (group commit,
//! ordered with the executions' events and journal); reads answer what is committed.

use std::collections::HashMap;

use futures::future::BoxFuture;

use super::aliases::Aliases;
use super::map_runs::MapRuns;
use super::records::{ExecutionEnd, ExecutionRecord, ExecutionsOf, MachineRecord, VersionRecord};
use super::redrive::Redrives;
use super::tokens::Tokens;
use super::triggers::Triggers;
use super::{ExecutionStore, StoreError};

pub type Read<'a, T> = BoxFuture<'a, Result<T, StoreError>>;

pub trait Store: ExecutionStore + Tokens + Triggers + Aliases + Redrives + MapRuns {
    // State machines, versions, tags.
    /// Creates (or replaces) a state machine.
    fn put_machine(&self, m: &MachineRecord);
    fn update_machine(&self, arn: &str, definition: &str, role_arn: &str, updated: f64);
    /// Deletes a state machine with its versions and tags (its executions go with retention).
    fn delete_machine(&self, arn: &str);
    fn machines(&self) -> Read<'_, Vec<MachineRecord>>;
    fn put_version(&self, v: &VersionRecord);
    fn delete_version(&self, machine_arn: &str, version: u64);
    fn version<'a>(&'a self, machine_arn: &'a str, version: u64) -> Read<'a, Option<VersionRecord>>;
    /// A state machine's versions, newest first.
    fn versions<'a>(&'a self, machine_arn: &'a str) -> Read<'a, Vec<VersionRecord>>;
    fn put_tag(&self, resource: &str, key: &str, value: &str);
    fn delete_tag(&self, resource: &str, key: &str);
    /// A resource's tags, by key.
    fn tags<'a>(&'a self, resource: &'a str) -> Read<'a, Vec<(String, String)>>;

    // Execution rows.
    fn insert_execution(&self, e: &ExecutionRecord);
    fn end_execution(&self, arn: &str, end: &ExecutionEnd);
    /// Deletes an execution with its history and journal.
    fn delete_execution(&self, arn: &str);
    fn execution<'a>(&'a self, arn: &'a str) -> Read<'a, Option<ExecutionRecord>>;
    /// Executions of a state machine or version, newest first, optionally of one status.
    fn executions<'a>(&'a self, of: &'a ExecutionsOf, status: Option<&'a str>) -> Read<'a, Vec<ExecutionRecord>>;
    fn running_executions(&self) -> Read<'_, Vec<ExecutionRecord>>;
    /// Up to `limit` finished executions that stopped before `before`.
    fn expired_executions(&self, before: f64, limit: usize) -> Read<'_, Vec<String>>;
    /// Up to `limit` finished executions, stopped before `before`, whose state machine is gone.
    fn orphaned_executions(&self, before: f64, limit: usize) -> Read<'_, Vec<String>>;

    // Handler sets and module releases (what executions are pinned to across restarts and
    // nodes; `daemon/releases.rs`).
    /// A number for a new handler set, never given before (by any node).
    fn next_handler_set(&self) -> Read<'_, u64>;
    /// Records a set of this node's.
    fn put_handler_set(&self, id: u64, handlers: &str);
    /// Deletes this node's sets that are not in `keep` and that no running execution holds.
    fn delete_handler_sets_except(&self, keep: &[u64]);
    /// Every recorded set (of every node), by id.
    fn handler_sets(&self) -> Read<'_, HashMap<u64, String>>;
    /// Sets by id, where recorded.
    fn handler_sets_of<'a>(&'a self, ids: &'a [u64]) -> Read<'a, HashMap<u64, String>>;
    /// The sets running executions hold.
    fn running_handler_sets(&self) -> Read<'_, HashMap<u64, String>>;
    /// Keeps a module's bytes under its SHA-256 (once), durably by the next flush.
    fn put_module(&self, sha256: &str, bytes: &[u8]);
    fn module<'a>(&'a self, sha256: &'a str) -> Read<'a, Option<Vec<u8>>>;
    /// Deletes the modules not in `needed`. A store shared by several nodes keeps recent ones
    /// a while: another node may have just archived one for a set it is about to record.
    fn delete_modules_except(&self, needed: &[String]);
    /// The SHA-256 of every archived module.
    fn modules(&self) -> Read<'_, Vec<String>>;

    // Leases: which node runs which execution. Several daemons share a PostgreSQL database; a
    // daemon on SQLite is alone and runs every execution.
    /// This node's id (`--node-id`).
    fn node(&self) -> &str;
    /// Claims for this node up to `limit` running executions no live node holds: released at a
    /// hand-over, or whose holder stopped renewing its lease. With `own`, also those recorded
    /// as this node's (at start-up: a node restarting under its id takes them back at once).
    fn claim_executions(&self, limit: usize, own: bool) -> Read<'_, Vec<ExecutionRecord>>;
    /// Renews this node's leases; returns the executions it has lost (another node claimed one
    /// after this node paused for longer than a lease, or stopped it).
    fn renew_leases(&self) -> Read<'_, Vec<String>>;
    /// Hands executions over: their leases are released (after everything queued for them is
    /// committed) for any node to claim at once.
    fn release_executions<'a>(&'a self, arns: &'a [String]) -> Read<'a, ()>;
    /// Takes a running execution from the node that holds it (StopExecution on another node),
    /// fencing that node's writes for it; false when it is not running or this node holds it.
    fn take_over<'a>(&'a self, arn: &'a str) -> Read<'a, bool>;
    /// How many executions this node holds a lease on.
    fn leases_held(&self) -> usize;
    /// A number that changes whenever any node creates, updates or deletes a state machine.
    fn catalog_version(&self) -> Read<'_, i64>;
    /// Woken when another node may have left work to claim or changed the catalog: a hint only
    /// (LISTEN/NOTIFY); the periodic claim and catalog check are the truth.
    fn hints(&self) -> std::sync::Arc<tokio::sync::Notify>;

    // Upkeep.
    /// Gives the space freed by deletions back (after the next commit).
    fn reclaim(&self);
    /// Whether the store answers reads.
    fn ping(&self) -> Read<'_, ()>;
}
