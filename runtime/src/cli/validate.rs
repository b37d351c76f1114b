//! `wasmstep validate`: every problem in every definition file (and in every state machine of
//! a `serverless.yml` or SAM / CloudFormation template), as text or JSON.

use serde_json::{Value, json};

use super::args::{FormatArg, ValidateArgs};
use super::machines::{diagnostics_json, machines};
use super::{USAGE, machine_type, print_line};

pub fn validate(args: ValidateArgs) -> u8 {
    let mt = machine_type(args.machine_type);
    let text = args.format == FormatArg::Text;
    let mut all = Vec::new();
    let mut failed = false;
    for file in &args.files {
        let shown = file.display().to_string();
        let found = match machines(file, mt) {
            Ok(m) => m,
            Err(lines) => {
                failed = true;
                if text {
                    for l in &lines {
                        eprintln!("{l}");
                    }
                    eprintln!("error: {shown} cannot be loaded ({} problem(s))", lines.len());
                }
                let diagnostics: Vec<Value> = lines
                    .iter()
                    .map(|m| json!({"severity": "ERROR", "code": "INVALID_FILE", "message": m, "location": ""}))
                    .collect();
                all.push(json!({"file": shown, "result": "FAIL", "diagnostics": diagnostics}));
                continue;
            }
        };
        let project = wasmstep::asl::project::project_kind(file).is_some();
        for m in found {
            let label = if project {
                format!("{shown} ({})", m.name)
            } else {
                shown.clone()
            };
            let mut entry = json!({"file": shown});
            if project {
                entry["stateMachine"] = json!(m.name);
            }
            match &m.result {
                Ok(sm) => {
                    if text {
                        println!("{label}: OK");
                        for w in &sm.warnings {
                            eprintln!("{shown}:{w}");
                        }
                    }
                    entry["result"] = json!("OK");
                    entry["diagnostics"] = json!(diagnostics_json(&sm.warnings));
                }
                Err(d) => {
                    failed = true;
                    if text {
                        for x in d {
                            eprintln!("{shown}:{x}");
                        }
                        let n = d
                            .iter()
                            .filter(|x| x.severity == wasmstep::asl::Severity::Error)
                            .count();
                        eprintln!("error: {label} is not a valid state machine ({n} problem(s))");
                    }
                    entry["result"] = json!("FAIL");
                    entry["diagnostics"] = json!(diagnostics_json(d));
                }
            }
            all.push(entry);
        }
    }
    if !text {
        print_line(&json!({"result": if failed { "FAIL" } else { "OK" }, "files": all}));
    }
    if failed { USAGE } else { 0 }
}
