//! wasmstep: runs Amazon States Language state machines whose Task states call sandboxed
//! WebAssembly handlers.

pub mod asl;
pub mod engine;
pub mod jsonata;
pub mod path;
pub mod run;
pub mod store;
pub mod wasm;
