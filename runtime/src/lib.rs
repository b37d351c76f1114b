//! wasmstep: runs Amazon States Language state machines whose Task states call sandboxed
//! WebAssembly handlers.

// The language is its own crate (runtime/lang); its modules keep their names here.
pub use wasmstep_lang::{asl, jsonata, path};

pub mod daemon;
pub mod engine;
pub mod store;
pub mod wasm;
