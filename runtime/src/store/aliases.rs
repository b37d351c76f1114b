//! State machine aliases: a name for one or two versions of a state machine and how starts
//! through it are split between them. Written by CreateStateMachineAlias and
//! UpdateStateMachineAlias, removed with DeleteStateMachineAlias or with the state machine.

use super::catalog::Read;
use super::records::AliasRecord;

pub trait Aliases {
    /// Records an alias, or replaces the one of that name (durable by the next flush).
    fn put_alias(&self, a: &AliasRecord);
    fn delete_alias(&self, machine_arn: &str, name: &str);
    /// A state machine's aliases, by name.
    fn aliases<'a>(&'a self, machine_arn: &'a str) -> Read<'a, Vec<AliasRecord>>;
}
