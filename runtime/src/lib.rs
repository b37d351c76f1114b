//! wasmstep: runs Amazon States Language state machines whose Task states call sandboxed
//! WebAssembly handlers.

pub mod api;
pub mod asl;
pub mod config;
pub mod engine;
pub mod jsonata;
pub mod metrics;
pub mod path;
pub mod releases;
pub mod reload;
pub mod run;
pub mod service;
pub mod store;
pub mod tags;
pub mod versions;
pub mod wasm;
