//! Names and ARNs: AWS's naming rules for state machines and executions, and the ARN forms
//! wasmstep makes and accepts.

use super::error::{Result, error};
use crate::engine::{ACCOUNT, REGION};

/// Names of state machines and executions: 1 to 80 characters, none of AWS's forbidden ones.
pub fn check_name(name: &str) -> Result<()> {
    let bad = |c: char| c.is_whitespace() || c.is_control() || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c);
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(bad) {
        return Err(error("InvalidName", format!("Invalid Name: '{name}'")));
    }
    Ok(())
}

pub fn machine_arn(name: &str) -> String {
    format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}")
}

/// `arn:aws:states:REGION:ACCOUNT:KIND:REST` -> REST, or InvalidArn.
pub(super) fn arn_rest<'a>(arn: &'a str, kind: &str) -> Result<&'a str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "states", _, _, rest] => rest
            .strip_prefix(kind)
            .and_then(|r| r.strip_prefix(':'))
            .filter(|r| !r.is_empty())
            .ok_or_else(|| {
                error(
                    "InvalidArn",
                    format!("Invalid Arn: 'Resource type not valid in this context: {arn}'"),
                )
            }),
        _ => Err(error("InvalidArn", format!("Invalid Arn: '{arn}'"))),
    }
}
