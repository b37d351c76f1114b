//! The daemon's store: everything it persists goes through this trait (no SQL outside
//! `store/`). Writes are queued and become durable together at the next `flush` (group commit,
//! ordered with the executions' events and journal); reads answer what is committed.

use std::collections::HashMap;

use futures::future::BoxFuture;

use super::records::{ExecutionEnd, ExecutionRecord, ExecutionsOf, MachineRecord, VersionRecord};
use super::{ExecutionStore, StoreError};

pub type Read<'a, T> = BoxFuture<'a, Result<T, StoreError>>;

pub trait Store: ExecutionStore {
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

    // Handler sets (what executions are pinned to across restarts; `daemon/releases.rs`).
    fn put_handler_set(&self, id: u64, handlers: &str);
    /// Deletes every set that is not in `keep` and that no running execution holds.
    fn delete_handler_sets_except(&self, keep: &[u64]);
    /// Every recorded set, by id.
    fn handler_sets(&self) -> Read<'_, HashMap<u64, String>>;
    /// The sets running executions hold.
    fn running_handler_sets(&self) -> Read<'_, HashMap<u64, String>>;

    // Upkeep.
    /// Gives the space freed by deletions back (after the next commit).
    fn reclaim(&self);
    /// Whether the store answers reads.
    fn ping(&self) -> Read<'_, ()>;
}
