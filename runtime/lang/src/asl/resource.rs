//! A Task's `Resource`: which strings name something callable, and what each names.
//!
//! AWS accepts an ARN of the shapes below and rejects anything else ("not a valid resource
//! ARN"). wasmstep adds `wasm:NAME` and one deliberate leniency: a Lambda ARN whose region or
//! account is a placeholder word (`arn:aws:lambda:REGION:ACCOUNT:function:processOrder`, as
//! documentation writes them) runs its handler, with a warning, so an example copied as it is
//! works. Resources AWS would run but wasmstep cannot (service integrations other than Lambda
//! and Step Functions) load with a warning that names them; a Task using one fails at run time.

use super::model::{Pattern, Resource};

/// What a Resource string is, as validation sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Checked {
    /// Valid and callable.
    Callable(Resource),
    /// Valid and callable, but worth a warning (a placeholder region or account).
    Placeholder(Resource, String),
    /// Valid on AWS, not callable here: the warning says what wasmstep cannot do.
    Unsupported(Resource, String),
    /// A `${Name}` placeholder a deployment tool substitutes: not callable until it is.
    Unsubstituted(Resource, String),
    /// Not a resource at all: the error message.
    Invalid(String),
}

/// The forms a Task's Resource may take, for error messages.
const EXPECTED: &str = "expected wasm:NAME, arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER], \
arn:aws:states:::SERVICE:ACTION (a service integration) or arn:aws:states:REGION:ACCOUNT:activity:NAME";

/// Checks and classifies a Task's `Resource`.
pub fn check(uri: &str) -> Checked {
    if let Some(name) = uri.strip_prefix("wasm:") {
        let (name, wait) = match name.strip_suffix(Pattern::WaitForTaskToken.suffix()) {
            Some(n) => (n, true),
            None => (name, false),
        };
        return if is_handler_name(name) {
            Checked::Callable(Resource::Wasm {
                name: name.to_string(),
                wait,
            })
        } else {
            Checked::Invalid(format!(
                "'{uri}' is not a valid resource: wasm:NAME needs the name of a handler (a .wasm file stem, no spaces, ':' or '/')"
            ))
        };
    }
    if uri.contains("${") {
        return if substitutions_well_formed(uri) {
            Checked::Unsubstituted(
                Resource::Other { uri: uri.to_string() },
                format!(
                    "'{uri}' holds a definition substitution ('${{...}}': SAM DefinitionSubstitutions, CloudFormation Fn::Sub, Terraform templatefile) that was never substituted; a Task using it fails at run time"
                ),
            )
        } else {
            Checked::Invalid(format!(
                "'{uri}' is not a valid resource ARN: it holds a broken template variable (a '${{' without its '}}'); {EXPECTED}"
            ))
        };
    }
    let parts: Vec<&str> = uri.splitn(6, ':').collect();
    let [arn, partition, service, region, account, rest] = parts.as_slice() else {
        return Checked::Invalid(not_an_arn(uri));
    };
    if *arn != "arn" || !is_partition(partition) || service.is_empty() {
        return Checked::Invalid(not_an_arn(uri));
    }
    match *service {
        "lambda" => lambda(uri, region, account, rest),
        "states" => states(uri, region, account, rest),
        _ => Checked::Invalid(format!(
            "'{uri}' is not a resource a Task can call: a {service} ARN is not a Lambda function, a service integration or an activity; {EXPECTED}"
        )),
    }
}

fn not_an_arn(uri: &str) -> String {
    format!("'{uri}' is not a valid resource ARN; {EXPECTED}")
}

/// `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`
fn lambda(uri: &str, region: &str, account: &str, rest: &str) -> Checked {
    let shape = || {
        format!(
            "'{uri}' is not a valid Lambda function ARN: expected arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER] (REGION like us-east-1, ACCOUNT 12 digits, NAME of letters, digits, '-' and '_')"
        )
    };
    let mut fields = rest.split(':');
    let (Some("function"), Some(name), qualifier, None) = (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Checked::Invalid(shape());
    };
    let name_ok = (1..=64).contains(&name.len()) && name.bytes().all(is_name_byte);
    let qualifier_ok =
        qualifier.is_none_or(|q| q == "$LATEST" || ((1..=128).contains(&q.len()) && q.bytes().all(is_name_byte)));
    if !name_ok || !qualifier_ok {
        return Checked::Invalid(shape());
    }
    let resource = Resource::LambdaFunction {
        arn: uri.to_string(),
        name: name.to_string(),
    };
    match (region_kind(region), account_kind(account)) {
        (Part::Real, Part::Real) => Checked::Callable(resource),
        (Part::Bad, _) | (_, Part::Bad) => Checked::Invalid(shape()),
        _ => Checked::Placeholder(
            resource,
            format!(
                "'{uri}' has a placeholder region or account; wasmstep calls the handler '{name}' all the same, AWS would reject it"
            ),
        ),
    }
}

/// `arn:aws:states:::SERVICE:ACTION[.sync|.sync:2|.waitForTaskToken]` or an activity.
fn states(uri: &str, region: &str, account: &str, rest: &str) -> Checked {
    if region.is_empty() && account.is_empty() {
        let mut fields = rest.splitn(2, ':');
        let (Some(svc), Some(action)) = (fields.next(), fields.next()) else {
            return Checked::Invalid(not_an_arn(uri));
        };
        let valid = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
        if !valid(svc) || !valid(action) {
            return Checked::Invalid(not_an_arn(uri));
        }
        let (call, pattern) = match action.split_once('.') {
            Some((call, pattern)) => (call, Some(pattern)),
            None => (action, None),
        };
        if !matches!(pattern, None | Some("sync" | "sync:2" | "waitForTaskToken")) {
            return Checked::Invalid(format!(
                "'{uri}' is not a valid service integration: the pattern after '.' must be sync, sync:2 or waitForTaskToken"
            ));
        }
        let other = Resource::Other { uri: uri.to_string() };
        let pattern = match pattern {
            None => Pattern::Call,
            Some("sync") => Pattern::Sync,
            Some("sync:2") => Pattern::Sync2,
            _ => Pattern::WaitForTaskToken,
        };
        return match (svc, call, pattern) {
            ("lambda", "invoke", Pattern::Call) => Checked::Callable(Resource::LambdaInvoke { wait: false }),
            ("lambda", "invoke", Pattern::WaitForTaskToken) => Checked::Callable(Resource::LambdaInvoke { wait: true }),
            ("states", "startExecution", pattern) => Checked::Callable(Resource::StartExecution { pattern }),
            _ => Checked::Unsupported(
                other,
                format!(
                    "'{uri}': wasmstep cannot call the {svc}:{call} integration (it calls Wasm handlers through wasm:NAME, Lambda function ARNs and lambda:invoke, and starts nested executions with states:startExecution); a Task using it fails at run time"
                ),
            ),
        };
    }
    if let Some(name) = rest.strip_prefix("activity:")
        && !region.is_empty()
        && !account.is_empty()
        && !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Checked::Callable(Resource::Activity { arn: uri.to_string() });
    }
    Checked::Invalid(not_an_arn(uri))
}

/// Every `${` opens a substitution closed by `}`, with a name in it (`${LambdaArn}`,
/// `${AWS::Region}`, `${Fn.Arn}`).
fn substitutions_well_formed(uri: &str) -> bool {
    let mut rest = uri;
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        let Some(end) = after.find('}') else { return false };
        let name = &after[..end];
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b)) {
            return false;
        }
        rest = &after[end + 1..];
    }
    true
}

fn is_handler_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.chars().any(|c| c.is_whitespace() || c == ':' || c == '/')
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn is_partition(p: &str) -> bool {
    p == "aws" || (p.starts_with("aws-") && p[4..].bytes().all(|b| b.is_ascii_lowercase() || b == b'-'))
}

/// A region or account field: real, a placeholder word, or neither.
#[derive(PartialEq)]
enum Part {
    Real,
    Placeholder,
    Bad,
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`: letters, dashes, a final number.
fn region_kind(r: &str) -> Part {
    let mut pieces = r.split('-').collect::<Vec<_>>();
    let last = pieces.pop();
    let real = pieces.len() >= 2
        && pieces
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && last.is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if real { Part::Real } else { placeholder(r) }
}

fn account_kind(a: &str) -> Part {
    if a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()) {
        Part::Real
    } else {
        placeholder(a)
    }
}

/// A word a person wrote in place of the real value (`REGION`, `ACCOUNT_ID`, `<region>`).
fn placeholder(s: &str) -> Part {
    let word = s.strip_prefix('<').and_then(|w| w.strip_suffix('>')).unwrap_or(s);
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Part::Placeholder
    } else {
        Part::Bad
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(uri: &str) -> &'static str {
        match check(uri) {
            Checked::Callable(_) => "callable",
            Checked::Placeholder(..) => "placeholder",
            Checked::Unsupported(..) => "unsupported",
            Checked::Unsubstituted(..) => "unsubstituted",
            Checked::Invalid(_) => "invalid",
        }
    }

    #[test]
    fn resources_are_classified_as_aws_and_wasmstep_see_them() {
        let cases = [
            ("wasm:add", "callable"),
            ("wasm:", "invalid"),
            ("wasm:a b", "invalid"),
            ("arn:aws:lambda:us-east-1:123456789012:function:add", "callable"),
            ("arn:aws:lambda:us-east-1:123456789012:function:add:$LATEST", "callable"),
            ("arn:aws:lambda:us-east-1:123456789012:function:add:prod", "callable"),
            ("arn:aws:lambda:us-east-1:123456789012:function:add:", "invalid"),
            ("arn:aws:lambda:REGION:ACCOUNT:function:processOrder", "placeholder"),
            (
                "arn:aws:lambda:us-east-1:ACCOUNT_ID:function:processOrder",
                "placeholder",
            ),
            (
                "arn:aws:lambda:<region>:<account-id>:function:processOrder",
                "placeholder",
            ),
            ("arn:aws:lambda:us-east-1:<account:function:processOrder", "invalid"),
            ("arn:aws:lambda:function:initiate", "invalid"),
            ("arn:aws:lambda:us-east-1:123456789012:initiate", "invalid"),
            ("arn:aws:lambda:::function:x", "invalid"),
            ("arn:aws-cn:lambda:cn-north-1:123456789012:function:x", "callable"),
            ("arn:aws:states:::lambda:invoke", "callable"),
            ("arn:aws:states:::lambda:invoke.waitForTaskToken", "callable"),
            ("wasm:approve.waitForTaskToken", "callable"),
            ("arn:aws:states:::dynamodb:putItem", "unsupported"),
            ("arn:aws:states:::aws-sdk:s3:getObject", "unsupported"),
            ("arn:aws:states:::states:startExecution.sync:2", "callable"),
            ("arn:aws:states:::states:startExecution", "callable"),
            ("arn:aws:states:::states:startExecution.sync", "callable"),
            ("arn:aws:states:::states:startExecution.waitForTaskToken", "callable"),
            ("arn:aws:states:::lambda:invoke.sync", "unsupported"),
            ("arn:aws:states:::sqs:sendMessage.later", "invalid"),
            ("arn:aws:states:us-east-1:123456789012:activity:approve", "callable"),
            ("arn:aws:states:us-east-1:123456789012:stateMachine:x", "invalid"),
            ("arn:aws:sns:us-east-1:123456789012:topic", "invalid"),
            ("", "invalid"),
            ("Lambda", "invalid"),
            ("not an arn", "invalid"),
            ("${lambdaArn", "invalid"),
            ("${}", "invalid"),
            ("${ProcessOrderFunctionArn}", "unsubstituted"),
            (
                "arn:aws:lambda:${AWS::Region}:${AWS::AccountId}:function:x",
                "unsubstituted",
            ),
        ];
        for (uri, want) in cases {
            assert_eq!(kind(uri), want, "{uri}");
        }
    }
}
