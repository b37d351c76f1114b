//! `wasmstep validate`: every problem in every definition file, as text or JSON.

use serde_json::Value;
use wasmstep::asl::{self, LoadError};

use super::args::{FormatArg, ValidateArgs};
use super::{USAGE, machine_type, print_line, report_load_error, report_warnings};

pub fn validate(args: ValidateArgs) -> u8 {
    let mt = machine_type(args.machine_type);
    let mut all = Vec::new();
    let mut failed = false;
    for file in &args.files {
        match asl::load_file(file, mt) {
            Ok(m) => {
                if args.format == FormatArg::Text {
                    println!("{}: OK", file.display());
                    report_warnings(file, &m);
                }
                let diagnostics: Vec<Value> = m.warnings.iter().map(|x| x.to_json(None)).collect();
                all.push(
                    serde_json::json!({"file": file.display().to_string(), "result": "OK", "diagnostics": diagnostics}),
                );
            }
            Err(e) => {
                failed = true;
                let diagnostics: Vec<Value> = match &e {
                    LoadError::Io(m) => {
                        vec![serde_json::json!({"severity": "ERROR", "code": "IO_ERROR", "message": m, "location": ""})]
                    }
                    LoadError::Invalid(d) => d.diagnostics.iter().map(|x| x.to_json(None)).collect(),
                };
                if args.format == FormatArg::Text {
                    report_load_error(file, &e);
                }
                all.push(serde_json::json!({"file": file.display().to_string(), "result": "FAIL", "diagnostics": diagnostics}));
            }
        }
    }
    if args.format == FormatArg::Json {
        print_line(&serde_json::json!({"result": if failed { "FAIL" } else { "OK" }, "files": all}));
    }
    if failed { USAGE } else { 0 }
}
