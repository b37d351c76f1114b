//! The daemon (`wasmstep serve`): its configuration, the catalog of state machines, durable
//! executions and their resumption, handler releases and hot reload, metrics, and the HTTP API
//! over them. It may use every part below it; nothing below imports it.

pub mod api;
pub mod arns;
pub mod auth;
pub mod catalog;
pub mod cluster;
pub mod config;
pub mod error;
pub mod executions;
pub mod express;
pub mod handover;
pub mod listen;
pub mod map_runs;
pub mod metrics;
pub mod redrive;
pub mod releases;
pub mod reload;
pub mod retention;
pub mod serve;
pub mod service;
pub mod triggers;
pub mod waits;
