//! AWS SAM and CloudFormation templates: `AWS::Serverless::StateMachine` (`Definition`,
//! `DefinitionUri` to a local file, `DefinitionSubstitutions`, `Type`, `Name`, `Events` of type
//! `Schedule` / `ScheduleV2`) and `AWS::StepFunctions::StateMachine` (`Definition`,
//! `DefinitionString`, `DefinitionSubstitutions`, `StateMachineName`, `StateMachineType`), with
//! the intrinsic functions a template can resolve by itself (`Ref`, `Fn::GetAtt`, `Fn::Sub`,
//! `Fn::Join`) and functions (`AWS::Serverless::Function`, `AWS::Lambda::Function`) standing
//! for the handlers named after their logical ids.

use std::path::Path;

use serde_json::{Map, Value};

use super::{
    Context, Problems, ProjectMachine, ProjectSchedule, Read, ScheduleInput, function_arn, leftover_intrinsic,
    machine_type, resolve_functions,
};
use crate::asl::source::{Source, Syntax};

const FUNCTION_TYPES: [&str; 2] = ["AWS::Serverless::Function", "AWS::Lambda::Function"];
const MACHINE_TYPES: [&str; 2] = ["AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"];

struct Template<'a> {
    resources: &'a Map<String, Value>,
    parameters: Option<&'a Map<String, Value>>,
    ctx: &'a Context,
    /// The file's stem (`AWS::StackName`).
    stack: String,
}

fn escape(k: &str) -> String {
    k.replace('~', "~0").replace('/', "~1")
}

impl Template<'_> {
    fn resource_type(&self, id: &str) -> Option<&str> {
        self.resources.get(id)?.get("Type")?.as_str()
    }

    fn is_function(&self, id: &str) -> bool {
        self.resource_type(id).is_some_and(|t| FUNCTION_TYPES.contains(&t))
    }

    /// A state machine's name: its `Name` / `StateMachineName`, else its logical id.
    fn machine_name(&self, id: &str) -> String {
        let props = self.resources.get(id).and_then(|r| r.get("Properties"));
        props
            .and_then(|p| p.get("Name").or_else(|| p.get("StateMachineName")))
            .and_then(Value::as_str)
            .unwrap_or(id)
            .to_string()
    }

    /// What `Ref: name` stands for.
    fn reference(&self, name: &str) -> Result<Value, String> {
        Ok(Value::String(match name {
            "AWS::Region" => self.ctx.region.clone(),
            "AWS::AccountId" => self.ctx.account.clone(),
            "AWS::Partition" => "aws".into(),
            "AWS::URLSuffix" => "amazonaws.com".into(),
            "AWS::StackName" => self.stack.clone(),
            n if self.is_function(n) => function_arn(self.ctx, &self.ctx.region, n),
            n if self.resource_type(n).is_some_and(|t| MACHINE_TYPES.contains(&t)) => format!(
                "arn:aws:states:{}:{}:stateMachine:{}",
                self.ctx.region,
                self.ctx.account,
                self.machine_name(n)
            ),
            n => match self.parameters.and_then(|p| p.get(n)) {
                Some(p) => {
                    return p
                        .get("Default")
                        .cloned()
                        .ok_or_else(|| format!("the parameter {n} has no Default"));
                }
                None => return Err(format!("Ref {n}: no parameter, function or state machine of that name")),
            },
        }))
    }

    /// What `Fn::GetAtt: [id, attr]` stands for.
    fn attribute(&self, id: &str, attr: &str) -> Result<Value, String> {
        match attr {
            "Arn" if self.is_function(id) || self.resource_type(id).is_some_and(|t| MACHINE_TYPES.contains(&t)) => {
                self.reference(id)
            }
            "Name" if self.resource_type(id).is_some_and(|t| MACHINE_TYPES.contains(&t)) => {
                Ok(Value::String(self.machine_name(id)))
            }
            _ => Err(format!("Fn::GetAtt {id}.{attr} cannot be resolved from the template")),
        }
    }

    /// Resolves the intrinsic functions in `v`.
    fn eval(&self, v: &Value) -> Result<Value, String> {
        match v {
            Value::Object(m) if m.len() == 1 => {
                let (k, arg) = m.iter().next().map(|(k, a)| (k.as_str(), a)).unwrap_or_default();
                match k {
                    "Ref" => self.reference(arg.as_str().ok_or("Ref takes a name")?),
                    "Fn::GetAtt" => {
                        let (id, attr) = match arg {
                            Value::Array(a) if a.len() == 2 => (a[0].as_str(), a[1].as_str()),
                            Value::String(s) => match s.split_once('.') {
                                Some((i, a)) => (Some(i), Some(a)),
                                None => (None, None),
                            },
                            _ => (None, None),
                        };
                        match (id, attr) {
                            (Some(i), Some(a)) => self.attribute(i, a),
                            _ => Err(format!("Fn::GetAtt takes [LogicalId, Attribute], not {arg}")),
                        }
                    }
                    "Fn::Sub" => self.sub(arg),
                    "Fn::Join" => {
                        let (Some(delim), Some(Value::Array(parts))) = (arg.get(0).and_then(Value::as_str), arg.get(1))
                        else {
                            return Err("Fn::Join takes [delimiter, [values]]".into());
                        };
                        let parts: Vec<String> = parts
                            .iter()
                            .map(|p| self.eval(p).map(|v| text(&v)))
                            .collect::<Result<_, _>>()?;
                        Ok(Value::String(parts.join(delim)))
                    }
                    other if other.starts_with("Fn::") => Err(format!("{other} cannot be resolved from the template")),
                    _ => Ok(Value::Object(
                        m.iter()
                            .map(|(k, v)| Ok((k.clone(), self.eval(v)?)))
                            .collect::<Result<_, String>>()?,
                    )),
                }
            }
            Value::Object(m) => Ok(Value::Object(
                m.iter()
                    .map(|(k, v)| Ok((k.clone(), self.eval(v)?)))
                    .collect::<Result<_, String>>()?,
            )),
            Value::Array(items) => Ok(Value::Array(
                items.iter().map(|i| self.eval(i)).collect::<Result<_, _>>()?,
            )),
            other => Ok(other.clone()),
        }
    }

    /// `Fn::Sub`: `${Name}`, `${Id.Attr}`, `${AWS::Region}` and the given variables; `${!x}`
    /// stays `${x}`.
    fn sub(&self, arg: &Value) -> Result<Value, String> {
        let (template, vars) = match arg {
            Value::String(s) => (s.as_str(), Map::new()),
            Value::Array(a) if a.len() == 2 => (
                a[0].as_str().ok_or("Fn::Sub takes a string")?,
                a[1].as_object().cloned().unwrap_or_default(),
            ),
            _ => return Err("Fn::Sub takes a string or [string, {variables}]".into()),
        };
        let mut out = String::new();
        let mut rest = template;
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("Fn::Sub: unclosed ${{ in '{template}'"))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str(&format!("${{{literal}}}"));
            } else if let Some(v) = vars.get(name) {
                out.push_str(&text(&self.eval(v)?));
            } else if let Some((id, attr)) = name.split_once('.').filter(|_| !name.starts_with("AWS::")) {
                out.push_str(&text(&self.attribute(id, attr)?));
            } else {
                out.push_str(&text(&self.reference(name)?));
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(Value::String(out))
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Replaces `${key}` in every string of a definition with its substitution.
fn substitute(v: &mut Value, subs: &Map<String, Value>) {
    match v {
        Value::String(s) => {
            for (k, val) in subs {
                let pattern = format!("${{{k}}}");
                if s.contains(&pattern) {
                    *s = s.replace(&pattern, &text(val));
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| substitute(i, subs)),
        Value::Object(m) => m.values_mut().for_each(|i| substitute(i, subs)),
        _ => {}
    }
}

pub(super) fn read(source: &Source, dir: &Path, ctx: &Context) -> Read {
    let root = &source.value;
    let mut problems = Problems::new(source);
    let mut warnings = Problems::new(source);
    let Some(resources) = root.get("Resources").and_then(Value::as_object) else {
        problems.at("", "a template has Resources");
        return Err(problems.list);
    };
    let t = Template {
        resources,
        parameters: root.get("Parameters").and_then(Value::as_object),
        ctx,
        stack: "wasmstep".into(),
    };
    let mut out = Vec::new();
    for (id, r) in resources {
        let kind = r.get("Type").and_then(Value::as_str).unwrap_or_default();
        if !MACHINE_TYPES.contains(&kind) {
            continue;
        }
        let at = format!("/Resources/{}", escape(id));
        let props = r.get("Properties").cloned().unwrap_or(Value::Object(Map::new()));
        let sam = kind == "AWS::Serverless::StateMachine";
        let type_key = if sam { "Type" } else { "StateMachineType" };
        let mt = match machine_type(props.get(type_key).and_then(Value::as_str)) {
            Ok(m) => m,
            Err(e) => {
                problems.at(&format!("{at}/Properties/{type_key}"), format!("{id}: {e}"));
                continue;
            }
        };
        let (pointer, definition) = match definition(&t, &props, dir, id) {
            Ok((key, d)) => (format!("{at}/Properties/{key}"), d),
            Err((key, e)) => {
                problems.at(&format!("{at}/Properties{key}"), format!("{id}: {e}"));
                continue;
            }
        };
        let mut definition = definition;
        if let Some(subs) = props.get("DefinitionSubstitutions") {
            match t.eval(subs) {
                Ok(Value::Object(subs)) => substitute(&mut definition, &subs),
                Ok(_) => {
                    problems.at(
                        &format!("{at}/Properties/DefinitionSubstitutions"),
                        format!("{id}: DefinitionSubstitutions is a map"),
                    );
                    continue;
                }
                Err(e) => {
                    problems.at(
                        &format!("{at}/Properties/DefinitionSubstitutions"),
                        format!("{id}: {e}"),
                    );
                    continue;
                }
            }
        }
        let find = |r: &str| t.is_function(r).then(|| r.to_string());
        let arn = |key: &str| function_arn(ctx, &ctx.region, key);
        let before = problems.list.len();
        resolve_functions(&mut definition, &pointer, &find, &arn, &mut problems);
        if problems.list.len() > before {
            continue;
        }
        if let Some((p, what)) = leftover_intrinsic(&definition, &pointer) {
            problems.at(&p, format!("{id}: cannot resolve {what}"));
            continue;
        }
        let name = t.machine_name(id);
        let schedules = events(id, &name, &props, &at, &t, &mut problems, &mut warnings);
        out.push(ProjectMachine {
            name,
            machine_type: mt,
            definition,
            pointer,
            schedules,
        });
    }
    if out.is_empty() && problems.list.is_empty() {
        problems.at("/Resources", "this template defines no state machine (AWS::Serverless::StateMachine or AWS::StepFunctions::StateMachine)");
    }
    if !problems.list.is_empty() {
        return Err(problems.list);
    }
    Ok((out, warnings.list))
}

/// A machine's definition and the property it came from; on failure, the property's pointer
/// suffix and why.
fn definition(
    t: &Template<'_>,
    props: &Value,
    dir: &Path,
    id: &str,
) -> Result<(&'static str, Value), (String, String)> {
    if let Some(d) = props.get("Definition") {
        return t
            .eval(d)
            .map(|v| ("Definition", v))
            .map_err(|e| ("/Definition".into(), e));
    }
    if let Some(d) = props.get("DefinitionString") {
        let text = t.eval(d).map_err(|e| ("/DefinitionString".to_string(), e))?;
        let text = text
            .as_str()
            .ok_or(("/DefinitionString".to_string(), "DefinitionString is text".to_string()))?;
        return serde_json::from_str(text)
            .map(|v| ("DefinitionString", v))
            .map_err(|e| ("/DefinitionString".into(), format!("DefinitionString is not JSON: {e}")));
    }
    if let Some(uri) = props.get("DefinitionUri") {
        let Some(file) = uri.as_str() else {
            return Err((
                "/DefinitionUri".into(),
                "DefinitionUri in S3 cannot be read: give the path of a local file".into(),
            ));
        };
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            (
                "/DefinitionUri".to_string(),
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        let src = Source::parse(&text, Syntax::detect(file, &text)).map_err(|e| {
            (
                "/DefinitionUri".to_string(),
                format!("{}:{}:{}: {}", path.display(), e.line, e.column, e.message),
            )
        })?;
        return Ok(("DefinitionUri", src.value));
    }
    Err((
        String::new(),
        format!("{id} has no Definition, DefinitionString or DefinitionUri"),
    ))
}

/// A SAM state machine's `Events`: its schedules; other event types are warnings.
fn events(
    id: &str,
    name: &str,
    props: &Value,
    at: &str,
    t: &Template<'_>,
    problems: &mut Problems<'_>,
    warnings: &mut Problems<'_>,
) -> Vec<ProjectSchedule> {
    let mut out = Vec::new();
    let Some(events) = props.get("Events").and_then(Value::as_object) else {
        return out;
    };
    for (ev, spec) in events {
        let p = format!("{at}/Properties/Events/{}", escape(ev));
        let kind = spec.get("Type").and_then(Value::as_str).unwrap_or_default();
        let v2 = kind == "ScheduleV2";
        if kind != "Schedule" && !v2 {
            warnings.at(&p, format!("{id}: the {kind} event {ev} is not supported by wasmstep (only Schedule and ScheduleV2 are); it is passed over"));
            continue;
        }
        let sp = match t.eval(spec.get("Properties").unwrap_or(&Value::Null)) {
            Ok(v) => v,
            Err(e) => {
                problems.at(&p, format!("{id}: {e}"));
                continue;
            }
        };
        let expression = sp
            .get(if v2 { "ScheduleExpression" } else { "Schedule" })
            .and_then(Value::as_str);
        let Some(expression) = expression else {
            problems.at(
                &p,
                format!(
                    "{id}: the event {ev} has no {}",
                    if v2 { "ScheduleExpression" } else { "Schedule" }
                ),
            );
            continue;
        };
        let enabled = match (
            sp.get("State").and_then(Value::as_str),
            sp.get("Enabled").and_then(Value::as_bool),
        ) {
            (Some(s), _) => s != "DISABLED",
            (None, Some(e)) => e,
            _ => true,
        };
        let input = match sp.get("Input").and_then(Value::as_str) {
            Some(s) => ScheduleInput::Fixed(serde_json::from_str(s).unwrap_or(Value::String(s.into()))),
            // A rule sends its Scheduled Event; Scheduler, nothing but `{}`.
            None if v2 => ScheduleInput::Fixed(Value::Object(Map::new())),
            None => ScheduleInput::Event { path: None },
        };
        out.push(ProjectSchedule {
            name: sp
                .get("Name")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| format!("{name}-{ev}")),
            expression: expression.to_string(),
            timezone: sp
                .get("ScheduleExpressionTimezone")
                .and_then(Value::as_str)
                .map(str::to_string),
            enabled,
            input,
            description: sp.get("Description").and_then(Value::as_str).map(str::to_string),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asl::MachineType;
    use crate::asl::project::{ProjectKind, load_project, test_context};
    use serde_json::json;

    const SAM: &str = r#"
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Threshold:
    Type: Number
    Default: 10
Resources:
  CheckStock:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
  Ship:
    Type: AWS::Lambda::Function
  StockMachine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Type: EXPRESS
      Definition:
        StartAt: Check
        States:
          Check:
            Type: Task
            Resource: !GetAtt CheckStock.Arn
            Parameters:
              threshold: !Ref Threshold
            Next: Ship
          Ship:
            Type: Task
            Resource: ${ShipArn}
            End: true
      DefinitionSubstitutions:
        ShipArn: !GetAtt Ship.Arn
      Events:
        Nightly:
          Type: Schedule
          Properties:
            Schedule: cron(0 2 * * ? *)
            Input: '{"full": true}'
        Hourly:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: rate(1 hour)
            ScheduleExpressionTimezone: Europe/Paris
            State: DISABLED
        Api:
          Type: Api
          Properties:
            Path: /x
            Method: post
  Classic:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      StateMachineName: classic-machine
      DefinitionString: !Sub |
        {"StartAt": "Go", "States": {"Go": {"Type": "Task", "Resource": "${CheckStock.Arn}", "End": true}}}
  Joined:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      StateMachineType: EXPRESS
      DefinitionString:
        Fn::Join:
          - ""
          - - '{"StartAt": "Go", "States": {"Go": {"Type": "Task", "Resource": "'
            - !GetAtt Ship.Arn
            - '", "End": true}}}'
"#;

    #[test]
    fn sam_and_cloudformation_state_machines_resolve_to_handlers_by_logical_id() {
        let p = load_project(
            ProjectKind::CloudFormation,
            SAM,
            "template.yaml",
            Path::new("."),
            &test_context(&[]),
        )
        .unwrap();
        let arn = |f: &str| json!(format!("arn:aws:lambda:us-east-1:123456789012:function:{f}"));
        let by_name = |n: &str| p.machines.iter().find(|m| m.name == n).unwrap();
        let s = by_name("StockMachine");
        assert_eq!(s.machine_type, MachineType::Express);
        assert_eq!(s.definition["States"]["Check"]["Resource"], arn("CheckStock"));
        assert_eq!(s.definition["States"]["Check"]["Parameters"]["threshold"], json!(10));
        assert_eq!(s.definition["States"]["Ship"]["Resource"], arn("Ship"));
        assert_eq!(s.schedules.len(), 2);
        let hourly = s.schedules.iter().find(|x| x.name == "StockMachine-Hourly").unwrap();
        assert_eq!(
            (hourly.enabled, hourly.timezone.as_deref()),
            (false, Some("Europe/Paris"))
        );
        let nightly = s.schedules.iter().find(|x| x.name == "StockMachine-Nightly").unwrap();
        assert_eq!(nightly.input, ScheduleInput::Fixed(json!({"full": true})));
        assert!(p.warnings[0].message.contains("Api event"), "{:?}", p.warnings);
        let c = by_name("classic-machine");
        assert_eq!(c.machine_type, MachineType::Standard);
        assert_eq!(c.definition["States"]["Go"]["Resource"], arn("CheckStock"));
        let j = by_name("Joined");
        assert_eq!(j.machine_type, MachineType::Express);
        assert_eq!(j.definition["States"]["Go"]["Resource"], arn("Ship"));
    }

    #[test]
    fn definition_uri_reads_a_local_file_and_unknown_references_are_errors() {
        let dir = std::env::temp_dir().join(format!("wasmstep-sam-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("machine.asl.json"),
            r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#,
        )
        .unwrap();
        let t = "Resources:\n  M:\n    Type: AWS::Serverless::StateMachine\n    Properties:\n      DefinitionUri: machine.asl.json\n";
        let p = load_project(
            ProjectKind::CloudFormation,
            t,
            "template.yaml",
            &dir,
            &test_context(&[]),
        )
        .unwrap();
        assert_eq!(p.machines[0].definition["StartAt"], "P");
        let bad = SAM.replace("!GetAtt CheckStock.Arn", "!GetAtt Nope.Arn");
        let e = load_project(
            ProjectKind::CloudFormation,
            &bad,
            "template.yaml",
            &dir,
            &test_context(&[]),
        )
        .unwrap_err();
        assert!(e[0].message.contains("Nope.Arn"), "{e:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
