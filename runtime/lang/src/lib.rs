//! The Amazon States Language as wasmstep reads it: definition text (JSON or YAML) -> validated,
//! compiled model (`asl`), the path languages it uses (`path`: reference paths, JSONPath,
//! payload templates, intrinsic functions, the context object) and JSONata (`jsonata`).
//!
//! A crate of its own so that the compiler enforces what the architecture says: the language
//! knows nothing of running (no async runtime, Wasm, store or HTTP), other tools can use the
//! validator as a library, and a change to the daemon does not recompile the language.

pub mod asl;
pub mod jsonata;
pub mod path;

/// Unit tests run with the counting allocator, as the `wasmstep` binary does.
#[cfg(test)]
#[global_allocator]
static ALLOCATOR: jsonata::budget::BudgetAlloc<std::alloc::System> = jsonata::budget::BudgetAlloc(std::alloc::System);
