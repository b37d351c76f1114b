//! wasmstep: runs Amazon States Language state machines whose Task states call sandboxed
//! WebAssembly handlers.

// The language is its own crate (runtime/lang); its modules keep their names here.
pub use wasmstep_lang::{asl, jsonata, path};

pub mod api;
pub mod config;
pub mod engine;
pub mod metrics;
pub mod releases;
pub mod reload;
pub mod service;
pub mod store;
pub mod tags;
pub mod versions;
pub mod wasm;
