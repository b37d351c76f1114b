//! Running state machines: the pure step functions, the async driver, Retry/Catch, timers and
//! history events.

pub mod ata;
mod call;
mod children;
pub mod choice;
pub mod clock;
pub mod driver;
pub mod error;
mod fanout;
pub mod formats;
pub mod history;
pub mod items;
pub mod journal;
mod map;
pub mod map_runs;
pub mod oneshot;
pub mod outside;
pub mod reader;
pub mod recovery;
mod scope;
pub mod step;
pub mod task;
mod timers;
mod wait;
pub mod writer;

pub use driver::{EngineConfig, ExecutionResult, Executor, Status};

/// Region and account used in the ARNs wasmstep makes.
pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";
