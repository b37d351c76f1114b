//! Project files that hold state machines among other things: the Serverless Framework's
//! `serverless.yml` (`serverless.rs`) and AWS SAM / CloudFormation templates
//! (`cloudformation.rs`). Each is read into a [`Project`]: its state machines with their
//! definitions (functions referenced by `Fn::GetAtt`, `Ref` or ARN resolved to the handler named
//! after the function), their types and their schedules. What a file cannot resolve by itself
//! is an error at its line and column, naming the text.

mod cloudformation;
mod serverless;
mod variables;

use std::path::Path;

use serde_json::Value;

use super::MachineType;
use super::source::{Source, Syntax};

/// Looks up an environment variable (`${env:NAME}`).
pub type Env = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What a project's variables may read beyond the file.
pub struct Context {
    pub account: String,
    /// The region ARNs are made in.
    pub region: String,
    /// `--region` given to the command (`${opt:region}`).
    pub region_option: Option<String>,
    /// `--stage` given to the command (`${opt:stage}`).
    pub stage: Option<String>,
    /// `${env:NAME}`.
    pub env: Env,
}

impl Context {
    /// The process environment, wasmstep's account and region.
    pub fn with_env(account: &str, region: &str) -> Context {
        Context {
            account: account.into(),
            region: region.into(),
            region_option: None,
            stage: None,
            env: Box::new(|k| std::env::var(k).ok()),
        }
    }
}

/// One state machine a project defines.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectMachine {
    pub name: String,
    pub machine_type: MachineType,
    /// The definition, every reference resolved.
    pub definition: Value,
    /// Where the definition sits in the file (a JSON Pointer), for diagnostics.
    pub pointer: String,
    pub schedules: Vec<ProjectSchedule>,
}

/// A schedule a project gives a state machine.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectSchedule {
    /// A name for it (the file's, or the state machine's with a number).
    pub name: String,
    /// `cron(…)`, `rate(…)` or `at(…)`.
    pub expression: String,
    pub timezone: Option<String>,
    pub enabled: bool,
    pub input: ScheduleInput,
    pub description: Option<String>,
}

/// What a scheduled execution gets as input.
#[derive(Debug, Clone, PartialEq)]
pub enum ScheduleInput {
    /// This value.
    Fixed(Value),
    /// EventBridge's "Scheduled Event" itself (what a rule sends when it is given no input),
    /// or the part of it a JSONPath (`inputPath`) selects.
    Event { path: Option<String> },
}

/// A problem in a project file, where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectDiagnostic {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for ProjectDiagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// A project read: its state machines, and what it holds that wasmstep passes over (an
/// `http` event, say), as warnings.
#[derive(Debug, Clone)]
pub struct Project {
    pub machines: Vec<ProjectMachine>,
    pub warnings: Vec<ProjectDiagnostic>,
    /// The parsed file (for the positions of diagnostics in its definitions).
    pub source: Source,
}

impl Project {
    /// `line:column` in the file of a pointer into one of its machines' definitions.
    pub fn position(&self, m: &ProjectMachine, pointer: &str) -> Option<(usize, usize)> {
        self.source.position(&format!("{}{pointer}", m.pointer))
    }
}

/// Which kind of project a file is, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectKind {
    Serverless,
    CloudFormation,
}

/// `serverless.yml` / `serverless.yaml`, and SAM's `template.yaml` / `template.yml` /
/// `template.json` (and `*.template.yaml`, `*.template.json`).
pub fn project_kind(path: &Path) -> Option<ProjectKind> {
    let name = path.file_name()?.to_str()?;
    if name.starts_with('.') {
        return None;
    }
    match name {
        "serverless.yml" | "serverless.yaml" => Some(ProjectKind::Serverless),
        "template.yaml" | "template.yml" | "template.json" => Some(ProjectKind::CloudFormation),
        n if [".template.yaml", ".template.yml", ".template.json"]
            .iter()
            .any(|x| n.ends_with(x)) =>
        {
            Some(ProjectKind::CloudFormation)
        }
        _ => None,
    }
}

/// Reads a project file's text. `dir` is where files it names (`DefinitionUri`) are.
pub fn load_project(
    kind: ProjectKind,
    text: &str,
    file_name: &str,
    dir: &Path,
    ctx: &Context,
) -> Result<Project, Vec<ProjectDiagnostic>> {
    let source = Source::parse(text, Syntax::detect(file_name, text)).map_err(|e| {
        vec![ProjectDiagnostic {
            line: e.line,
            column: e.column,
            message: e.message,
        }]
    })?;
    let (machines, warnings) = match kind {
        ProjectKind::Serverless => serverless::read(&source, ctx)?,
        ProjectKind::CloudFormation => cloudformation::read(&source, dir, ctx)?,
    };
    Ok(Project {
        machines,
        warnings,
        source,
    })
}

/// What a reader finds in a file: its state machines and its warnings; or its problems.
pub(crate) type Read = Result<(Vec<ProjectMachine>, Vec<ProjectDiagnostic>), Vec<ProjectDiagnostic>>;

/// Collects diagnostics at their places in a file.
pub(crate) struct Problems<'a> {
    pub source: &'a Source,
    pub list: Vec<ProjectDiagnostic>,
}

impl<'a> Problems<'a> {
    pub fn new(source: &'a Source) -> Problems<'a> {
        Problems {
            source,
            list: Vec::new(),
        }
    }

    pub fn at(&mut self, pointer: &str, message: impl Into<String>) {
        let (line, column) = self.source.position(pointer).unwrap_or((1, 1));
        self.list.push(ProjectDiagnostic {
            line,
            column,
            message: message.into(),
        });
    }
}

/// The context tests read projects in: wasmstep's account and region, and `env`.
#[cfg(test)]
pub(crate) fn test_context(env: &'static [(&'static str, &'static str)]) -> Context {
    Context {
        account: "123456789012".into(),
        region: "us-east-1".into(),
        region_option: None,
        stage: None,
        env: Box::new(move |k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())),
    }
}

/// A Lambda function ARN for the handler a function stands for: wasmstep calls the handler
/// named after the function's key (its logical id in a template).
pub fn function_arn(ctx: &Context, region: &str, key: &str) -> String {
    format!("arn:aws:lambda:{region}:{}:function:{key}", ctx.account)
}

/// Replaces, throughout a definition, each `{"Fn::GetAtt": [F, "Arn"]}` and `{"Ref": F}`
/// naming a function by the function's ARN, and each Lambda ARN whose function name is a
/// function's deployed name by the ARN of the handler it stands for. `find` maps a reference
/// (a key, a logical id or a deployed name) to the function's key. An intrinsic it cannot
/// resolve is a problem at its place.
pub(crate) fn resolve_functions(
    v: &mut Value,
    pointer: &str,
    find: &dyn Fn(&str) -> Option<String>,
    arn: &dyn Fn(&str) -> String,
    problems: &mut Problems<'_>,
) {
    match v {
        Value::Object(m) if m.len() == 1 && (m.contains_key("Fn::GetAtt") || m.contains_key("Ref")) => {
            let (target, attr) = match (m.get("Fn::GetAtt"), m.get("Ref")) {
                (Some(Value::Array(a)), _) if a.len() == 2 => (a[0].as_str(), a[1].as_str()),
                (Some(Value::String(s)), _) => match s.split_once('.') {
                    Some((t, a)) => (Some(t), Some(a)),
                    None => (Some(s.as_str()), None),
                },
                (_, Some(Value::String(s))) => (Some(s.as_str()), Some("Arn")),
                _ => (None, None),
            };
            let shown = Value::Object(m.clone()).to_string();
            match (target.and_then(find), attr) {
                (Some(key), Some("Arn")) => *v = Value::String(arn(&key)),
                (Some(_), other) => problems.at(
                    pointer,
                    format!(
                        "{shown}: only a function's Arn can be resolved, not {}",
                        other.unwrap_or("nothing")
                    ),
                ),
                (None, _) => problems.at(
                    pointer,
                    format!(
                        "{shown} names {}, which is not a function in this file",
                        target.unwrap_or("nothing")
                    ),
                ),
            }
        }
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                let p = format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1"));
                resolve_functions(child, &p, find, arn, problems);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                resolve_functions(child, &format!("{pointer}/{i}"), find, arn, problems);
            }
        }
        Value::String(s) => {
            // arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
            let parts: Vec<&str> = s.splitn(8, ':').collect();
            if parts.len() >= 7
                && parts[2] == "lambda"
                && parts[5] == "function"
                && let Some(key) = find(parts[6])
                && key != parts[6]
            {
                *s = arn(&key);
            }
        }
        _ => {}
    }
}

/// Finds an intrinsic function left in a resolved definition: the first is a problem.
pub(crate) fn leftover_intrinsic(v: &Value, pointer: &str) -> Option<(String, String)> {
    match v {
        Value::Object(m) => {
            if let Some(k) = m.keys().find(|k| k.starts_with("Fn::") || *k == "Ref") {
                return Some((pointer.to_string(), format!("{k}: {}", Value::Object(m.clone()))));
            }
            m.iter().find_map(|(k, c)| {
                leftover_intrinsic(c, &format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1")))
            })
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, c)| leftover_intrinsic(c, &format!("{pointer}/{i}"))),
        _ => None,
    }
}

/// STANDARD or EXPRESS (any case), as a file gives a state machine's type.
pub(crate) fn machine_type(text: Option<&str>) -> Result<MachineType, String> {
    match text.map(str::to_ascii_uppercase).as_deref() {
        None | Some("STANDARD") => Ok(MachineType::Standard),
        Some("EXPRESS") => Ok(MachineType::Express),
        Some(other) => Err(format!("type {other} is not STANDARD or EXPRESS")),
    }
}
