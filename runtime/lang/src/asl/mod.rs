//! The Amazon States Language: definition text -> validated, compiled [`StateMachine`].

mod ata;
pub mod build;
mod choice;
pub mod diagnostic;
mod distributed;
mod error_name;
pub mod fields;
pub mod file;
pub mod glob;
mod hints;
mod map;
pub mod model;
pub mod project;
mod recovery;
pub mod resource;
pub mod source;
pub mod states;

pub use build::{MachineType, build};
pub use diagnostic::{Diagnostic, InvalidDefinition, Severity};
pub use error_name::ErrorName;
pub use file::{LoadError, declared_type, load_file, machine_name};
pub use model::StateMachine;
pub use source::{Source, Syntax};

use diagnostic::Code;

/// Parses and validates definition text in one go; syntax errors become diagnostics too.
pub fn load(text: &str, syntax: Syntax, machine_type: MachineType) -> Result<StateMachine, InvalidDefinition> {
    let src = Source::parse(text, syntax).map_err(|e| InvalidDefinition {
        diagnostics: vec![Diagnostic {
            severity: Severity::Error,
            code: Code::InvalidJsonDescription,
            message: e.message,
            pointer: String::new(),
            position: Some((e.line, e.column)),
        }],
    })?;
    build(&src, machine_type)
}
