//! The Serverless Framework's `serverless.yml` with the serverless-step-functions plugin's
//! `stepFunctions.stateMachines`: each machine's `name`, `type`, `definition` and `events`
//! (`schedule` as a string or an object; other event types are passed over with a warning),
//! with the file's variables resolved and its functions (`functions.KEY`) standing for the
//! handlers named KEY.

use serde_json::Value;

use super::variables::Resolver;
use super::{
    Context, Problems, ProjectMachine, ProjectSchedule, Read, ScheduleInput, function_arn, leftover_intrinsic,
    machine_type, resolve_functions,
};
use crate::asl::source::Source;

/// The name CloudFormation gives a function's resource: `create-report_run` →
/// `CreateDashreportUnderscorerunLambdaFunction`.
fn logical_id(key: &str) -> String {
    let normalized = key.replace('-', "Dash").replace('_', "Underscore");
    let mut c = normalized.chars();
    let upper = c
        .next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default();
    format!("{upper}LambdaFunction")
}

pub(super) fn read(source: &Source, ctx: &Context) -> Read {
    let root = &source.value;
    let mut problems = Problems::new(source);
    let mut warnings = Problems::new(source);
    // The stage and region variables mean: --stage, then provider.stage, then dev.
    let early = Resolver {
        root,
        ctx,
        stage: ctx.stage.clone().unwrap_or_else(|| "dev".into()),
        region: ctx.region.clone(),
    };
    let pick = |pointer: &str, default: String| match root.pointer(pointer) {
        Some(v) => early
            .value(v, 0)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or(default),
        None => default,
    };
    let stage = ctx
        .stage
        .clone()
        .unwrap_or_else(|| pick("/provider/stage", "dev".into()));
    let region = ctx
        .region_option
        .clone()
        .unwrap_or_else(|| pick("/provider/region", ctx.region.clone()));
    let resolver = Resolver {
        root,
        ctx,
        stage: stage.clone(),
        region: region.clone(),
    };
    let service = match root.get("service").map(|v| resolver.value(v, 0)) {
        Some(Ok(Value::String(s))) => s,
        Some(Ok(Value::Object(o))) => o.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
        Some(Err(e)) => {
            problems.at("/service", e);
            String::new()
        }
        _ => {
            problems.at("", "a serverless.yml names its service (`service:`)");
            String::new()
        }
    };

    // Functions: key -> the names a definition may use for it.
    let functions: Vec<(String, Option<String>)> = root
        .get("functions")
        .and_then(Value::as_object)
        .map(|f| {
            f.iter()
                .map(|(k, v)| {
                    let name = v
                        .get("name")
                        .map(|n| resolver.value(n, 0).ok().and_then(|n| n.as_str().map(str::to_string)))
                        .unwrap_or(None);
                    (k.clone(), name)
                })
                .collect()
        })
        .unwrap_or_default();
    let find = |r: &str| -> Option<String> {
        functions.iter().find_map(|(key, name)| {
            let deployed = name.clone().unwrap_or_else(|| format!("{service}-{stage}-{key}"));
            (r == key || r == logical_id(key) || r == deployed).then(|| key.clone())
        })
    };
    let arn = |key: &str| function_arn(ctx, &region, key);

    let Some(machines) = root.pointer("/stepFunctions/stateMachines").and_then(Value::as_object) else {
        problems.at(
            "",
            "this serverless.yml defines no state machines (stepFunctions.stateMachines)",
        );
        return Err(problems.list);
    };
    let mut out = Vec::new();
    for (key, m) in machines {
        let at = format!(
            "/stepFunctions/stateMachines/{}",
            key.replace('~', "~0").replace('/', "~1")
        );
        let m = match resolver.value(m, 0) {
            Ok(v) => v,
            Err(e) => {
                problems.at(&at, format!("state machine {key}: {e}"));
                continue;
            }
        };
        let name = m.get("name").and_then(Value::as_str).unwrap_or(key).to_string();
        let t = match machine_type(m.get("type").and_then(Value::as_str)) {
            Ok(t) => t,
            Err(e) => {
                problems.at(&format!("{at}/type"), format!("state machine {key}: {e}"));
                continue;
            }
        };
        let pointer = format!("{at}/definition");
        let mut definition = match m.get("definition") {
            // A definition may also be JSON text.
            Some(Value::String(s)) => match serde_json::from_str(s) {
                Ok(v) => v,
                Err(e) => {
                    problems.at(
                        &pointer,
                        format!("state machine {key}: the definition text is not JSON: {e}"),
                    );
                    continue;
                }
            },
            Some(v @ Value::Object(_)) => v.clone(),
            _ => {
                problems.at(&at, format!("state machine {key} has no definition"));
                continue;
            }
        };
        let before = problems.list.len();
        resolve_functions(&mut definition, &pointer, &find, &arn, &mut problems);
        if problems.list.len() > before {
            continue;
        }
        if let Some((p, what)) = leftover_intrinsic(&definition, &pointer) {
            problems.at(&p, format!("state machine {key}: cannot resolve {what}"));
            continue;
        }
        let schedules = schedules(key, &name, &m, &at, &mut problems, &mut warnings);
        out.push(ProjectMachine {
            name,
            machine_type: t,
            definition,
            pointer,
            schedules,
        });
    }
    if !problems.list.is_empty() {
        return Err(problems.list);
    }
    Ok((out, warnings.list))
}

/// A machine's `events`: its schedules; every other event type is a warning.
fn schedules(
    key: &str,
    name: &str,
    m: &Value,
    at: &str,
    problems: &mut Problems<'_>,
    warnings: &mut Problems<'_>,
) -> Vec<ProjectSchedule> {
    let mut out = Vec::new();
    let events = m.get("events").and_then(Value::as_array).cloned().unwrap_or_default();
    for (i, e) in events.iter().enumerate() {
        let p = format!("{at}/events/{i}");
        let Some(obj) = e.as_object() else { continue };
        for (kind, spec) in obj {
            if kind != "schedule" {
                warnings.at(
                    &p,
                    format!("state machine {key}: the {kind} event is not supported by wasmstep (only schedule is); it is passed over"),
                );
                continue;
            }
            let (rates, enabled, input, description, own_name, timezone) = match spec {
                Value::String(s) => (
                    vec![s.clone()],
                    true,
                    ScheduleInput::Event { path: None },
                    None,
                    None,
                    None,
                ),
                Value::Object(o) => {
                    let rates = match o.get("rate") {
                        Some(Value::String(s)) => vec![s.clone()],
                        Some(Value::Array(a)) => a.iter().filter_map(|r| r.as_str().map(str::to_string)).collect(),
                        _ => {
                            problems.at(
                                &format!("{p}/schedule"),
                                format!("state machine {key}: a schedule needs a rate (rate(…) or cron(…))"),
                            );
                            continue;
                        }
                    };
                    if o.contains_key("inputTransformer") {
                        problems.at(
                            &format!("{p}/schedule"),
                            format!("state machine {key}: inputTransformer is not supported; use input or inputPath"),
                        );
                        continue;
                    }
                    let input = match (o.get("input"), o.get("inputPath")) {
                        (Some(Value::String(s)), _) => {
                            ScheduleInput::Fixed(serde_json::from_str(s).unwrap_or(Value::String(s.clone())))
                        }
                        (Some(v), _) => ScheduleInput::Fixed(v.clone()),
                        (None, Some(Value::String(path))) => ScheduleInput::Event {
                            path: Some(path.clone()),
                        },
                        _ => ScheduleInput::Event { path: None },
                    };
                    (
                        rates,
                        o.get("enabled").and_then(Value::as_bool).unwrap_or(true),
                        input,
                        o.get("description").and_then(Value::as_str).map(str::to_string),
                        o.get("name").and_then(Value::as_str).map(str::to_string),
                        o.get("timezone").and_then(Value::as_str).map(str::to_string),
                    )
                }
                _ => {
                    problems.at(&p, format!("state machine {key}: a schedule is a string or an object"));
                    continue;
                }
            };
            let many = rates.len() > 1;
            for (j, expression) in rates.into_iter().enumerate() {
                let n = out.len() + 1;
                let sname = match (&own_name, many) {
                    (Some(s), false) => s.clone(),
                    (Some(s), true) => format!("{s}-{}", j + 1),
                    (None, _) => format!("{name}-schedule-{n}"),
                };
                out.push(ProjectSchedule {
                    name: sname,
                    expression,
                    timezone: timezone.clone(),
                    enabled,
                    input: input.clone(),
                    description: description.clone(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asl::MachineType;
    use crate::asl::project::{ProjectKind, load_project, test_context};
    use serde_json::json;

    const REPORT_RUNNER: &str = r#"
service: report-runner
provider:
  name: aws
  runtime: ruby3.2
  stage: ${opt:stage, 'dev'}
custom:
  bucket: ${env:REPORT_BUCKET}
functions:
  CreateReportRun:
    handler: create_report_run.handler
  CheckReportStatus:
    handler: check_report_status.handler
  DownloadReport:
    handler: download_report.handler
  UpdateSiteState:
    handler: update_site_state.handler
stepFunctions:
  validate: true
  stateMachines:
    reportRunner:
      name: ReportRunner
      events:
        - schedule: cron(0/1 * ? * * *)
        - http:
            path: run
            method: POST
      definition:
        StartAt: CreateReportRun
        States:
          CreateReportRun:
            Type: Task
            Resource:
              Fn::GetAtt: [CreateReportRun, Arn]
            Parameters:
              bucket: ${self:custom.bucket}
            Next: CheckReportStatus
          CheckReportStatus:
            Type: Task
            Resource: arn:aws:lambda:${aws:region}:${aws:accountId}:function:${self:service}-${sls:stage}-CheckReportStatus
            Next: DownloadReport
          DownloadReport:
            Type: Task
            Resource: !GetAtt DownloadReport.Arn
            Next: UpdateSiteState
          UpdateSiteState:
            Type: Task
            Resource:
              Ref: UpdateSiteStateLambdaFunction
            End: true
    fast:
      type: EXPRESS
      events:
        - schedule:
            rate: [rate(5 minutes), rate(1 hour)]
            enabled: false
            input:
              key: value
      definition:
        StartAt: P
        States:
          P: {Type: Pass, End: true}
"#;

    #[test]
    fn the_report_runner_resolves_to_handlers_named_after_its_functions() {
        let p = load_project(
            ProjectKind::Serverless,
            REPORT_RUNNER,
            "serverless.yml",
            std::path::Path::new("."),
            &test_context(&[("REPORT_BUCKET", "reports-bucket")]),
        )
        .unwrap();
        assert_eq!(p.machines.len(), 2);
        let r = &p.machines[0];
        assert_eq!(
            (r.name.as_str(), r.machine_type),
            ("ReportRunner", MachineType::Standard)
        );
        let arn = |f: &str| json!(format!("arn:aws:lambda:us-east-1:123456789012:function:{f}"));
        let s = &r.definition["States"];
        assert_eq!(s["CreateReportRun"]["Resource"], arn("CreateReportRun"));
        assert_eq!(s["CreateReportRun"]["Parameters"]["bucket"], "reports-bucket");
        assert_eq!(s["CheckReportStatus"]["Resource"], arn("CheckReportStatus"));
        assert_eq!(s["DownloadReport"]["Resource"], arn("DownloadReport"));
        assert_eq!(s["UpdateSiteState"]["Resource"], arn("UpdateSiteState"));
        assert_eq!(r.schedules.len(), 1);
        assert_eq!(r.schedules[0].expression, "cron(0/1 * ? * * *)");
        assert_eq!(r.schedules[0].input, ScheduleInput::Event { path: None });
        assert!(r.schedules[0].enabled);
        // The http event is passed over, said where.
        assert_eq!(p.warnings.len(), 1);
        assert!(p.warnings[0].message.contains("http event"), "{:?}", p.warnings);
        let f = &p.machines[1];
        assert_eq!((f.name.as_str(), f.machine_type), ("fast", MachineType::Express));
        assert_eq!(f.schedules.len(), 2);
        assert!(!f.schedules[1].enabled);
        assert_eq!(f.schedules[1].input, ScheduleInput::Fixed(json!({"key": "value"})));
        // A diagnostic inside a definition has its line in the file.
        assert_eq!(p.position(r, "/States/DownloadReport/Resource").map(|x| x.0), Some(44));
    }

    #[test]
    fn what_cannot_be_resolved_is_an_error_at_its_line() {
        let bad = REPORT_RUNNER.replace(
            "Fn::GetAtt: [CreateReportRun, Arn]",
            "Fn::GetAtt: [CreateReprtRun, Arn]",
        );
        let e = load_project(
            ProjectKind::Serverless,
            &bad,
            "serverless.yml",
            std::path::Path::new("."),
            &test_context(&[("REPORT_BUCKET", "reports-bucket")]),
        )
        .unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].message.contains("CreateReprtRun") && e[0].line == 33, "{e:?}");
        let bad = REPORT_RUNNER.replace("${env:REPORT_BUCKET}", "${env:NO_SUCH_VARIABLE}");
        let e = load_project(
            ProjectKind::Serverless,
            &bad,
            "serverless.yml",
            std::path::Path::new("."),
            &test_context(&[("REPORT_BUCKET", "reports-bucket")]),
        )
        .unwrap_err();
        assert!(e.iter().any(|d| d.message.contains("${env:NO_SUCH_VARIABLE}")), "{e:?}");
    }
}
