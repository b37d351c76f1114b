//! Builds each state type from its JSON object: allowed fields, exclusive pairs, paths and
//! templates compiled, transition targets resolved.

use serde_json::{Map, Value};

use super::build::{Builder, MachineType, escape};
use super::diagnostic::Code;
use super::error_name::ErrorName;
use super::fields;
use super::model::*;
use super::resource::{self, Checked};
use crate::path::functions::Func;
use crate::path::intrinsic::{Call, looks_like_call};
use crate::path::reference::ResultTarget;
use crate::path::template::Template;
use crate::path::{Path, is_variable_name};

/// The intrinsic functions AWS allows in a Fail state's ErrorPath and CausePath.
const FAIL_TEXT_FUNCTIONS: [Func; 7] = [
    Func::Format,
    Func::JsonToString,
    Func::ArrayGetItem,
    Func::Base64Encode,
    Func::Base64Decode,
    Func::Hash,
    Func::Uuid,
];

pub(super) const MAX_SECONDS: u64 = 99_999_999;

impl Builder<'_> {
    pub(super) fn build_state(&mut self, id: StateId) -> Option<StateNode> {
        let src = self.src;
        let (name, at) = {
            let slot = &self.slots[id.0 as usize];
            (slot.name.clone(), slot.pointer.clone())
        };
        let Some(obj) = pointer_object(&src.value, &at) else {
            self.schema(&at, format!("State '{name}' must be a JSON object"));
            return None;
        };
        let language = match obj.get("QueryLanguage") {
            None => self.top_language,
            Some(Value::String(s)) if s == "JSONPath" => {
                if self.top_language == QueryLanguage::JsonAta {
                    self.schema(
                        &format!("{at}/QueryLanguage"),
                        "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine",
                    );
                }
                QueryLanguage::JsonPath
            }
            Some(Value::String(s)) if s == "JSONata" => QueryLanguage::JsonAta,
            Some(_) => {
                self.schema(
                    &format!("{at}/QueryLanguage"),
                    "QueryLanguage must be \"JSONPath\" or \"JSONata\"",
                );
                self.top_language
            }
        };
        let type_name = match obj.get("Type") {
            Some(Value::String(t)) => t.clone(),
            Some(_) => {
                self.schema(&format!("{at}/Type"), "Type must be a string");
                return None;
            }
            None => {
                self.schema(&at, format!("State '{name}' has no 'Type'"));
                return None;
            }
        };
        let Some(allowed) = fields::allowed(&type_name, language) else {
            self.schema(
                &format!("{at}/Type"),
                format!(
                    "'{type_name}' is not a state type; use Pass, Task, Choice, Wait, Succeed, Fail, Parallel or Map"
                ),
            );
            return None;
        };
        let what = match language {
            QueryLanguage::JsonPath => format!("by state type '{type_name}'"),
            QueryLanguage::JsonAta => format!("by state type '{type_name}' in a JSONata state"),
        };
        self.check_fields(obj, &at, allowed, &what);
        if obj.get("Comment").is_some_and(|c| !c.is_string()) {
            self.schema(&format!("{at}/Comment"), "Comment must be a string");
        }
        let jp = language == QueryLanguage::JsonPath;
        if jp {
            self.hint_no_path(obj, &at);
            if type_name == "Pass"
                && let Some(r) = obj.get("Result")
            {
                self.hint_static_result(r, &format!("{at}/Result"));
            }
        }
        let kind = match type_name.as_str() {
            "Pass" => State::Pass(Pass {
                io: self.state_io(obj, &at, jp, false),
                result: obj.get("Result").cloned(),
                next: self.next_of(id, obj, &at),
            }),
            "Task" => State::Task(self.task(id, obj, &at, jp)),
            "Choice" => State::Choice(self.choice(id, obj, &at, jp)),
            "Wait" => State::Wait(self.wait(id, obj, &at, jp)),
            "Succeed" => State::Succeed(Succeed {
                io: self.state_io(obj, &at, jp, false),
            }),
            "Fail" => State::Fail(Fail {
                error: self.fail_text(obj, &at, "Error", "ErrorPath", jp),
                cause: self.fail_text(obj, &at, "Cause", "CausePath", jp),
            }),
            "Parallel" => State::Parallel(self.parallel(id, obj, &at, jp)),
            "Map" => State::Map(self.map(id, obj, &at, jp)),
            _ => unreachable!("fields::allowed accepted only known state types"),
        };
        Some(StateNode {
            name,
            pointer: at,
            language,
            kind,
        })
    }

    fn next_of(&mut self, id: StateId, obj: &Map<String, Value>, at: &str) -> Transition {
        self.transition(id, obj, at).unwrap_or(Transition::End)
    }

    /// The pipeline fields of a state in its query language; `result` says whether the state
    /// produces a result that JSONata `Output`/`Assign` may read as `$states.result`.
    pub(super) fn state_io(&mut self, obj: &Map<String, Value>, at: &str, jp: bool, result: bool) -> Io {
        if jp {
            self.io(obj, at)
        } else {
            self.ata_io(obj, at, result)
        }
    }

    /// The JSONPath pipeline fields that are present on this state.
    fn io(&mut self, obj: &Map<String, Value>, at: &str) -> Io {
        Io {
            language: QueryLanguage::JsonPath,
            input_path: self.select(obj, at, "InputPath"),
            parameters: self.template(obj, at, "Parameters"),
            result_selector: self.template(obj, at, "ResultSelector"),
            result_path: self.result_path(obj, at, "ResultPath"),
            output_path: self.select(obj, at, "OutputPath"),
            assign: self.assign(obj, at),
            arguments: None,
            output: None,
        }
    }

    pub(super) fn select(&mut self, obj: &Map<String, Value>, at: &str, field: &str) -> Select {
        let p = format!("{at}/{field}");
        match obj.get(field) {
            None => Select::Whole,
            Some(Value::Null) => Select::Empty,
            Some(Value::String(s)) if s == "$" => Select::Whole,
            Some(Value::String(s)) => match Path::parse(s) {
                Ok(path) => Select::Path(path),
                Err(e) => {
                    self.schema(&p, format!("{field}: {e}"));
                    Select::Whole
                }
            },
            Some(_) => {
                self.schema(&p, format!("{field} must be a path string or null"));
                Select::Whole
            }
        }
    }

    pub(super) fn result_path(&mut self, obj: &Map<String, Value>, at: &str, field: &str) -> ResultPath {
        match obj.get(field) {
            None => ResultPath::Replace,
            Some(Value::Null) => ResultPath::Discard,
            Some(Value::String(s)) if s == "$" => ResultPath::Replace,
            Some(Value::String(s)) => match ResultTarget::parse(s) {
                Ok(t) => ResultPath::At(t),
                Err(e) => {
                    self.schema(&format!("{at}/{field}"), format!("ResultPath: {e}"));
                    ResultPath::Replace
                }
            },
            Some(_) => {
                self.schema(&format!("{at}/{field}"), "ResultPath must be a path string or null");
                ResultPath::Replace
            }
        }
    }

    pub(super) fn template(&mut self, obj: &Map<String, Value>, at: &str, field: &str) -> Option<Template> {
        let v = obj.get(field)?;
        self.hint_no_dollar(v, &format!("{at}/{}", escape(field)));
        match Template::compile(v) {
            Ok(t) => Some(t),
            Err(errors) => {
                for (p, msg) in errors {
                    self.schema(&format!("{at}/{field}{p}"), msg);
                }
                None
            }
        }
    }

    /// JSONPath `Assign`: an object whose keys (without `.$`) are variable names.
    pub(super) fn assign(&mut self, obj: &Map<String, Value>, at: &str) -> Option<Assign> {
        let v = obj.get("Assign")?;
        let p = format!("{at}/Assign");
        let Some(fields) = v.as_object() else {
            self.schema(&p, "Assign must be an object of variable names to values");
            return None;
        };
        for key in fields.keys() {
            let name = key.strip_suffix(".$").unwrap_or(key);
            if !is_variable_name(name) || name.chars().count() > 80 {
                self.schema(
                    &format!("{p}/{}", escape(key)),
                    format!("'{name}' is not a valid variable name"),
                );
            } else if name == "states" {
                self.schema(&format!("{p}/{}", escape(key)), "'states' is a reserved variable name");
            }
        }
        self.template(obj, at, "Assign").map(Assign::Path)
    }

    /// A Reference Path field (ItemsPath, SecondsPath, ...).
    pub(super) fn reference(&mut self, obj: &Map<String, Value>, at: &str, field: &str) -> Option<Path> {
        let v = obj.get(field)?;
        let p = format!("{at}/{field}");
        let Some(s) = v.as_str() else {
            self.schema(&p, format!("{field} must be a Reference Path string"));
            return None;
        };
        match Path::parse(s) {
            Ok(path) if path.is_reference() => Some(path),
            Ok(_) => {
                self.schema(
                    &p,
                    format!("{field} '{s}' must be a Reference Path (only .name, ['name'] and [n])"),
                );
                None
            }
            Err(e) => {
                self.schema(&p, format!("{field}: {e}"));
                None
            }
        }
    }

    /// Non-negative integer field with an upper bound.
    pub(super) fn uint(&mut self, obj: &Map<String, Value>, at: &str, field: &str, min: u64, max: u64) -> Option<u64> {
        let v = obj.get(field)?;
        match v.as_u64() {
            Some(n) if n >= min && n <= max => Some(n),
            _ => {
                self.schema(
                    &format!("{at}/{field}"),
                    format!("{field} must be an integer from {min} to {max}"),
                );
                None
            }
        }
    }

    /// Reports when both fields of an exclusive pair are present.
    pub(super) fn exclusive(&mut self, obj: &Map<String, Value>, at: &str, a: &str, b: &str) {
        if obj.contains_key(a) && obj.contains_key(b) {
            self.schema(&format!("{at}/{b}"), format!("'{a}' and '{b}' cannot both be given"));
        }
    }

    fn seconds(
        &mut self,
        obj: &Map<String, Value>,
        at: &str,
        field: &str,
        path_field: &str,
        jp: bool,
    ) -> Option<Seconds> {
        self.exclusive(obj, at, field, path_field);
        if !jp {
            return self.ata_seconds(obj, at, field, 1);
        }
        if let Some(p) = self.reference(obj, at, path_field) {
            return Some(Seconds::Path(p));
        }
        self.uint(obj, at, field, 1, MAX_SECONDS).map(Seconds::Fixed)
    }

    fn task(&mut self, id: StateId, obj: &Map<String, Value>, at: &str, jp: bool) -> Task {
        let (resource_uri, resource) = match obj.get("Resource") {
            Some(Value::String(uri)) => {
                let p = format!("{at}/Resource");
                let resource = match resource::check(uri) {
                    Checked::Callable(r) => r,
                    Checked::Placeholder(r, why) => {
                        self.warn(Code::PlaceholderArn, &p, why);
                        r
                    }
                    Checked::Unsupported(r, why) => {
                        self.warn(Code::UnsupportedResource, &p, why);
                        r
                    }
                    Checked::Unsubstituted(r, why) => {
                        self.warn(Code::UnsubstitutedVariable, &p, why);
                        r
                    }
                    Checked::Invalid(why) => {
                        self.error(Code::InvalidResource, &p, why);
                        Resource::Other { uri: uri.clone() }
                    }
                };
                (uri.clone(), resource)
            }
            Some(_) => {
                self.schema(&format!("{at}/Resource"), "Resource must be a URI string");
                (String::new(), Resource::Other { uri: String::new() })
            }
            None => {
                self.schema(at, "A Task state needs a 'Resource'");
                (String::new(), Resource::Other { uri: String::new() })
            }
        };
        if self.machine_type == MachineType::Express
            && (resource_uri.ends_with(".sync")
                || resource_uri.contains(".sync:")
                || resource_uri.ends_with(".waitForTaskToken")
                || resource_uri.contains(":activity:"))
        {
            self.schema(
                &format!("{at}/Resource"),
                format!("Express state machine does not support '{resource_uri}' (.sync, .waitForTaskToken and activities need a Standard state machine)"),
            );
        }
        let timeout = self.seconds(obj, at, "TimeoutSeconds", "TimeoutSecondsPath", jp);
        let heartbeat = self.seconds(obj, at, "HeartbeatSeconds", "HeartbeatSecondsPath", jp);
        if let (Some(Seconds::Fixed(t)), Some(Seconds::Fixed(h))) = (&timeout, &heartbeat)
            && h >= t
        {
            self.schema(
                &format!("{at}/HeartbeatSeconds"),
                "HeartbeatSeconds must be smaller than TimeoutSeconds",
            );
        }
        self.credentials(obj, at, jp);
        Task {
            io: self.state_io(obj, at, jp, true),
            resource_uri,
            resource,
            timeout,
            heartbeat,
            retry: self.retriers(obj, at),
            catch: self.catchers(id, obj, at, jp),
            next: self.next_of(id, obj, at),
        }
    }

    /// `Credentials`: exactly a role to assume, `{"RoleArn": ...}` (or `RoleArn.$` with a
    /// JSONPath path or intrinsic; a `{% %}` string in JSONata).
    fn credentials(&mut self, obj: &Map<String, Value>, at: &str, jp: bool) {
        let Some(c) = obj.get("Credentials") else { return };
        let p = format!("{at}/Credentials");
        let Some(c) = c.as_object() else {
            self.schema(&p, "Credentials must be an object with a RoleArn");
            return;
        };
        let allowed: &[&str] = if jp { &["RoleArn", "RoleArn.$"] } else { &["RoleArn"] };
        self.check_fields(c, &p, allowed, "in Credentials (only RoleArn)");
        self.exclusive(c, &p, "RoleArn", "RoleArn.$");
        if !c.contains_key("RoleArn") && !c.contains_key("RoleArn.$") {
            self.schema(&p, "Credentials needs a RoleArn");
        }
        for key in ["RoleArn", "RoleArn.$"] {
            if c.get(key).is_some_and(|v| !v.is_string()) {
                self.schema(&format!("{p}/{key}"), format!("{key} must be a string"));
            }
        }
        if jp && let Some(Value::String(s)) = c.get("RoleArn.$") {
            let ok = if looks_like_call(s) {
                Call::parse(s).map(|_| ())
            } else {
                Path::parse(s).map(|_| ())
            };
            if let Err(e) = ok {
                self.schema(&format!("{p}/RoleArn.$"), e);
            }
        }
    }

    fn wait(&mut self, id: StateId, obj: &Map<String, Value>, at: &str, jp: bool) -> Wait {
        let present: Vec<&str> = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
            .into_iter()
            .filter(|f| obj.contains_key(*f))
            .collect();
        if present.len() != 1 {
            self.schema(
                at,
                "A Wait state needs exactly one of Seconds, SecondsPath, Timestamp or TimestampPath",
            );
        }
        let wait = if !jp {
            self.ata_wait(obj, at)
        } else if let Some(p) = self.reference(obj, at, "SecondsPath") {
            WaitFor::SecondsPath(p)
        } else if let Some(p) = self.reference(obj, at, "TimestampPath") {
            WaitFor::TimestampPath(p)
        } else if let Some(v) = obj.get("Timestamp") {
            self.fixed_timestamp(v, at)
        } else {
            WaitFor::Seconds(self.uint(obj, at, "Seconds", 0, MAX_SECONDS).unwrap_or(0))
        };
        Wait {
            io: self.state_io(obj, at, jp, false),
            wait,
            next: self.next_of(id, obj, at),
        }
    }

    /// A literal Wait `Timestamp` (both query languages): RFC 3339, or a schema error.
    pub(super) fn fixed_timestamp(&mut self, v: &Value, at: &str) -> WaitFor {
        match v.as_str().and_then(parse_timestamp) {
            Some(t) => WaitFor::Timestamp(t),
            None => {
                self.schema(
                    &format!("{at}/Timestamp"),
                    "Timestamp must be an RFC 3339 timestamp such as 2026-01-01T12:00:00Z",
                );
                WaitFor::Seconds(0)
            }
        }
    }

    fn fail_text(
        &mut self,
        obj: &Map<String, Value>,
        at: &str,
        field: &str,
        path_field: &str,
        jp: bool,
    ) -> Option<FailText> {
        self.exclusive(obj, at, field, path_field);
        if !jp {
            return self.ata_fail_text(obj, at, field);
        }
        if let Some(v) = obj.get(field) {
            return match v.as_str() {
                Some(s) => {
                    if field == "Error" && s.starts_with("States.") && ErrorName::parse(s).is_none() {
                        self.warn(
                            Code::ReservedErrorName,
                            &format!("{at}/{field}"),
                            format!("'{s}' is not one of the predefined States.* errors; it is raised as a custom error name (the 'States.' prefix is reserved by the specification)"),
                        );
                    }
                    Some(FailText::Literal(s.to_string()))
                }
                None => {
                    self.schema(&format!("{at}/{field}"), format!("{field} must be a string"));
                    None
                }
            };
        }
        let v = obj.get(path_field)?;
        let p = format!("{at}/{path_field}");
        match v.as_str() {
            Some(s) if looks_like_call(s) => match Call::parse(s) {
                Ok(c) if !FAIL_TEXT_FUNCTIONS.contains(&c.func) => {
                    self.schema(
                        &p,
                        format!("{path_field} takes a Reference Path or an intrinsic function that returns a string: States.Format, States.JsonToString, States.ArrayGetItem, States.Base64Encode, States.Base64Decode, States.Hash or States.UUID"),
                    );
                    None
                }
                Ok(c) => Some(FailText::Call(c)),
                Err(e) => {
                    self.schema(&p, e);
                    None
                }
            },
            Some(_) => self.reference(obj, at, path_field).map(FailText::Path),
            None => {
                self.schema(
                    &p,
                    format!("{path_field} must be a Reference Path or an intrinsic function call"),
                );
                None
            }
        }
    }

    fn parallel(&mut self, id: StateId, obj: &Map<String, Value>, at: &str, jp: bool) -> Parallel {
        let mut branches = Vec::new();
        match obj.get("Branches") {
            Some(Value::Array(bs)) if !bs.is_empty() => {
                for (i, b) in bs.iter().enumerate() {
                    let p = format!("{at}/Branches/{i}");
                    let Some(b) = b.as_object() else {
                        self.schema(&p, "A branch must be an object with StartAt and States");
                        continue;
                    };
                    self.check_fields(b, &p, &["StartAt", "States", "Comment"], "in a Parallel branch");
                    if let Some(s) = self.nested_scope(b, &p) {
                        branches.push(s);
                    }
                }
            }
            _ => self.schema(at, "A Parallel state needs 'Branches': a non-empty array"),
        }
        Parallel {
            io: self.state_io(obj, at, jp, true),
            branches,
            retry: self.retriers(obj, at),
            catch: self.catchers(id, obj, at, jp),
            next: self.next_of(id, obj, at),
        }
    }
}

/// RFC 3339 with an uppercase `T` and a `Z` or numeric offset, as AWS requires.
pub fn parse_timestamp(s: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    let b = s.as_bytes();
    if b.len() < 20 || b[10] != b'T' {
        return None;
    }
    chrono::DateTime::parse_from_rfc3339(s).ok()
}

pub(super) fn pointer_object<'v>(root: &'v Value, pointer: &str) -> Option<&'v Map<String, Value>> {
    root.pointer(pointer).and_then(Value::as_object)
}
