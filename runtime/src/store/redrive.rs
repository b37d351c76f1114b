//! RedriveExecution's one write: a stopped execution goes back to RUNNING, counts the redrive,
//! and keeps of its journal only the states that finished (so exactly the unsuccessful ones run
//! again; handler results, timers and tokens of the run before are forgotten).

use super::catalog::Read;

/// A redrive of `arn`, asked while it was `status` with `count` redrives.
#[derive(Debug, Clone, PartialEq)]
pub struct Redrive {
    pub arn: String,
    /// What the row said when the redrive was allowed (FAILED, TIMED_OUT or ABORTED).
    pub status: String,
    pub count: u32,
    pub date: f64,
    /// The handlers the redriven run uses (those serving now: a fixed handler is the point).
    pub handler_set: Option<i64>,
    /// The request's `clientToken`, kept so that the same request again answers the same.
    pub token: Option<String>,
}

pub trait Redrives {
    /// Makes the redrive, durably, if the row is still as `r` saw it (another redrive or
    /// node may have got there first): RUNNING again, owned by this node, `redrive_count`
    /// raised by one, `redrive_date` set, the end cleared. Whether it was made.
    fn redrive<'a>(&'a self, r: &'a Redrive) -> Read<'a, bool>;
}
