//! Task tokens and activities: the records of Tasks that wait for an answer from outside (a
//! callback sent with `SendTask*`, an activity worker, a nested execution), kept apart from
//! the execution's own journal because anyone may answer them, on any node. Each change is
//! conditional and made at once (not queued): the first answer wins, a second is refused.

use super::catalog::Read;

/// One task token: a Task waiting for its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRecord {
    pub token: String,
    /// The execution whose Task waits.
    pub execution: String,
    /// An activity task: the activity's ARN, and the input its worker gets (JSON text).
    pub activity: Option<String>,
    pub input: Option<String>,
    /// `.sync`: the nested execution it waits for.
    pub child: Option<String>,
    /// Seconds since the epoch; activity tasks are handed out in this order.
    pub created: f64,
    /// An activity task handed to a worker: its name (`""` when it gave none) and when.
    pub worker: Option<String>,
    pub started: Option<f64>,
    /// The last `SendTaskHeartbeat`.
    pub heartbeat: Option<f64>,
    /// The answer (JSON text: `{"output": ...}` or `{"error": ..., "cause": ...}`).
    pub answer: Option<String>,
    /// No answer is taken any more (the Task timed out, or its execution ended).
    pub closed: bool,
}

/// A change to a token.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenChange {
    /// The answer (JSON text), unless it has one or is closed.
    Answer(String),
    /// A heartbeat at this time, unless it is answered or closed.
    Heartbeat(f64),
    /// Closes it unless it is answered (an answer that got there first is kept and returned).
    Close,
}

/// Why a change was not made.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenRefusal {
    /// No such token.
    Unknown,
    /// It was answered or closed before.
    Settled,
}

/// An activity, as `CreateActivity` made it.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityRecord {
    pub arn: String,
    pub name: String,
    pub created: f64,
}

pub trait Tokens {
    /// Whether other daemons may change tokens too (a shared database): a wait cannot count on
    /// being woken by this one.
    fn shared(&self) -> bool {
        false
    }
    /// Records a token (durable by the next flush); one recorded before is kept as it is (a
    /// resumed execution records its wait again).
    fn put_token(&self, t: &TokenRecord);
    fn token<'a>(&'a self, token: &'a str) -> Read<'a, Option<TokenRecord>>;
    /// Changes a token if it may be changed, durably before it answers; the token as it is then.
    fn change_token<'a>(&'a self, token: &'a str, change: TokenChange) -> Read<'a, Result<TokenRecord, TokenRefusal>>;
    /// Hands the oldest waiting task of an activity to `worker`, durably; `None` when none waits.
    fn take_activity_task<'a>(&'a self, activity: &'a str, worker: &'a str, now: f64) -> Read<'a, Option<TokenRecord>>;
    /// The tokens of an execution that are neither answered nor closed.
    fn open_tokens<'a>(&'a self, execution: &'a str) -> Read<'a, Vec<TokenRecord>>;
    /// The open tokens waiting for a nested execution to end.
    fn tokens_waiting_on<'a>(&'a self, child: &'a str) -> Read<'a, Vec<TokenRecord>>;

    fn put_activity(&self, a: &ActivityRecord);
    /// Deletes an activity (its waiting tasks stay until their Tasks time out, as on AWS).
    fn delete_activity(&self, arn: &str);
    /// Every activity, oldest first.
    fn activities(&self) -> Read<'_, Vec<ActivityRecord>>;
}
