//! The catalog: state machines as the API knows them (definition text, type, role, compiled
//! form), their published versions, their aliases and their tags.

pub mod aliases;
mod machines;
pub mod tags;
pub mod versions;

use std::sync::Arc;

use super::error::{Result, error};
use crate::asl::{self, MachineType, StateMachine, Syntax};

/// A state machine as the API knows it.
#[derive(Clone)]
pub struct Machine {
    pub arn: String,
    pub name: String,
    pub machine_type: MachineType,
    pub definition: String,
    pub role_arn: String,
    pub created: f64,
    pub compiled: Arc<StateMachine>,
}

impl Machine {
    /// A state machine as the store keeps it, compiled.
    pub fn from_record(r: crate::store::MachineRecord) -> std::result::Result<Machine, String> {
        let machine_type = if r.machine_type == "EXPRESS" {
            MachineType::Express
        } else {
            MachineType::Standard
        };
        let compiled = compile(&r.definition, machine_type)
            .map_err(|e| format!("stored state machine {}: {}", r.name, e.message))?;
        Ok(Machine {
            arn: r.arn,
            name: r.name,
            machine_type,
            definition: r.definition,
            role_arn: r.role_arn,
            created: r.created,
            compiled: Arc::new(compiled),
        })
    }

    /// Changes whenever the definition or the role does (a hot reload, UpdateStateMachine): the
    /// content's SHA-256, shaped like AWS's revision ids.
    pub fn revision_id(&self) -> String {
        let h = crate::wasm::plugin::sha256_hex(format!("{}\n{}", self.role_arn, self.definition).as_bytes());
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

pub fn type_name(t: MachineType) -> &'static str {
    match t {
        MachineType::Standard => "STANDARD",
        MachineType::Express => "EXPRESS",
    }
}

/// Parses and validates a definition; InvalidDefinition lists every problem.
pub fn compile(definition: &str, t: MachineType) -> Result<StateMachine> {
    let syntax = Syntax::detect("", definition);
    asl::load(definition, syntax, t).map_err(|d| {
        let msgs: Vec<String> = d.errors().map(|x| x.to_string()).collect();
        error(
            "InvalidDefinition",
            format!("Invalid State Machine Definition: '{}'", msgs.join("; ")),
        )
    })
}
