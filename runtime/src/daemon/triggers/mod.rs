//! What starts and observes executions besides the API: schedules (EventBridge Scheduler's
//! expressions and API) and execution status events (EventBridge's "Step Functions Execution
//! Status Change", delivered from an outbox).

pub mod events;
pub mod expression;
pub mod files;
pub mod metrics;
pub mod notify;
pub mod scheduler;
pub mod schedules;
