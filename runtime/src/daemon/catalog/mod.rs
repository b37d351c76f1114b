//! The catalog: state machines, their published versions and their tags.

pub mod tags;
pub mod versions;
