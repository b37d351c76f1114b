//! Triggers' records: schedules and their groups (EventBridge Scheduler), and the outbox of
//! execution status changes. The outbox is filled by the database itself, in the transaction
//! that changes an execution's status (a trigger on the executions table), so no status change
//! can be on record without its event; each delivery target reads it from a cursor of its own.

use super::catalog::Read;

/// One schedule, as CreateSchedule/UpdateSchedule made it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRecord {
    pub group: String,
    pub name: String,
    /// Everything GetSchedule answers that the store does not keep in columns (JSON text).
    pub body: String,
    pub enabled: bool,
    /// Seconds since the epoch.
    pub created: f64,
    pub modified: f64,
    /// The next time it is due that has not been handled yet; `None`: it fires no more.
    pub due: Option<f64>,
}

/// A schedule group (`default` always exists and is not recorded).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRecord {
    pub name: String,
    pub created: f64,
}

/// Where an event stands in the outbox: events are read in this order, and a cursor is the
/// position of the last one a target has had. (`tx` orders events by the transaction that
/// wrote them where several writers commit at once; it is 0 on a store with one writer.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub tx: i64,
    pub seq: i64,
}

/// An execution's status changed (RUNNING when it started, then how it ended).
#[derive(Debug, Clone, PartialEq)]
pub struct StatusEvent {
    pub position: Position,
    pub execution: String,
    pub status: String,
    /// When (seconds since the epoch).
    pub at: f64,
}

pub trait Triggers {
    /// Records a new schedule, unless one of that name is in its group (durable by the next
    /// flush; read it back to know which one is on record).
    fn put_schedule(&self, s: &ScheduleRecord);
    /// Replaces a schedule's definition, state and next due time.
    fn replace_schedule(&self, s: &ScheduleRecord);
    fn delete_schedule(&self, group: &str, name: &str);
    fn schedule<'a>(&'a self, group: &'a str, name: &'a str) -> Read<'a, Option<ScheduleRecord>>;
    /// The schedules of a group (of every group: `None`), by group and name.
    fn schedules<'a>(&'a self, group: Option<&'a str>) -> Read<'a, Vec<ScheduleRecord>>;
    /// Enabled schedules due at `now` or before, most overdue first, at most `limit`.
    fn due_schedules(&self, now: f64, limit: usize) -> Read<'_, Vec<ScheduleRecord>>;
    /// Moves a schedule on from the due time `from` to `to`, unless another node (or an
    /// update) moved it first.
    fn advance_schedule(&self, group: &str, name: &str, from: f64, to: Option<f64>);

    fn put_group(&self, g: &GroupRecord);
    /// Deletes a group with its schedules.
    fn delete_group(&self, name: &str);
    fn groups(&self) -> Read<'_, Vec<GroupRecord>>;

    /// Up to `limit` status events after `after`, in order; only events no transaction still
    /// in progress can come before.
    fn status_events(&self, after: Position, limit: usize) -> Read<'_, Vec<StatusEvent>>;
    /// The position of the newest event (where a new target starts).
    fn last_position(&self) -> Read<'_, Position>;
    /// A delivery target's cursor, if it has one.
    fn cursor<'a>(&'a self, target: &'a str) -> Read<'a, Option<Position>>;
    /// Sets a target's cursor (durable by the next flush).
    fn set_cursor(&self, target: &str, at: Position);
    /// Deletes events older than `before` (the retention period: a target down for longer
    /// misses them).
    fn prune_status_events(&self, before: f64);
    /// Makes this node the one that delivers to `target` for a lease's length (or renews it):
    /// false while another live node does. Alone on a store, a node always does.
    fn hold_target<'a>(&'a self, _target: &'a str) -> Read<'a, bool> {
        Box::pin(std::future::ready(Ok(true)))
    }
}
