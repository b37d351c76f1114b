//! Definition value -> validated [`StateMachine`]: names, scopes, transitions, reachability.
//! Per-state fields are built in `states.rs`, Choice rules in `choice.rs`.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::diagnostic::{Code, Diagnostic, InvalidDefinition, Severity};
use super::model::{QueryLanguage, Scope, State, StateId, StateMachine, StateNode, Transition};
use super::source::Source;

/// Standard or Express: some features are rejected for Express machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MachineType {
    #[default]
    Standard,
    Express,
}

/// Longest state name AWS accepts.
pub const MAX_STATE_NAME: usize = 80;

/// Validates and compiles a parsed definition. Every problem is reported, not just the first.
pub fn build(src: &Source, machine_type: MachineType) -> Result<StateMachine, InvalidDefinition> {
    let mut b = Builder {
        src,
        diags: Vec::new(),
        scopes: Vec::new(),
        names: HashMap::new(),
        slots: Vec::new(),
        top_language: QueryLanguage::JsonPath,
        machine_type,
    };
    let machine = b.machine();
    b.diags.sort_by_key(|d| d.position.unwrap_or((usize::MAX, 0)));
    let failed = b.diags.iter().any(|d| d.severity == Severity::Error);
    match machine {
        Some(mut m) if !failed => {
            m.warnings = b.diags;
            Ok(m)
        }
        _ => Err(InvalidDefinition { diagnostics: b.diags }),
    }
}

/// One `States` object found in the definition.
pub(super) struct ScopeInfo {
    pub pointer: String,
    /// The enclosing scope (for a Parallel branch or Map item processor).
    pub parent: Option<usize>,
    pub names: HashMap<String, StateId>,
    pub states: Vec<StateId>,
}

/// Where a state was declared.
pub(super) struct Slot {
    pub name: String,
    pub pointer: String,
    pub scope: usize,
}

pub(super) struct Builder<'s> {
    pub src: &'s Source,
    pub diags: Vec<Diagnostic>,
    pub scopes: Vec<ScopeInfo>,
    pub names: HashMap<String, StateId>,
    pub slots: Vec<Slot>,
    pub top_language: QueryLanguage,
    pub machine_type: MachineType,
}

pub(super) fn escape(k: &str) -> String {
    k.replace('~', "~0").replace('/', "~1")
}

impl Builder<'_> {
    pub fn error(&mut self, code: Code, pointer: &str, message: impl Into<String>) {
        self.diags.push(Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            pointer: pointer.to_string(),
            position: self.src.position(pointer),
        });
    }

    pub fn schema(&mut self, pointer: &str, message: impl Into<String>) {
        self.error(Code::SchemaValidationFailed, pointer, message);
    }

    /// Something the definition runs with, but that deserves a look (never stops it loading).
    pub fn warn(&mut self, code: Code, pointer: &str, message: impl Into<String>) {
        self.diags.push(Diagnostic {
            severity: Severity::Warning,
            code,
            message: message.into(),
            pointer: pointer.to_string(),
            position: self.src.position(pointer),
        });
    }

    /// Reports fields that are not in `allowed`, suggesting the closest allowed one.
    pub fn check_fields(&mut self, obj: &Map<String, Value>, at: &str, allowed: &[&str], what: &str) {
        for key in obj.keys() {
            if !allowed.contains(&key.as_str()) {
                let hint = closest(key, allowed)
                    .map(|s| format!(" (did you mean '{s}'?)"))
                    .unwrap_or_default();
                self.schema(
                    &format!("{at}/{}", escape(key)),
                    format!("Field '{key}' is not supported {what}{hint}"),
                );
            }
        }
    }

    fn machine(&mut self) -> Option<StateMachine> {
        let src = self.src;
        let Some(root) = src.value.as_object() else {
            self.schema("", "A state machine definition must be a JSON object");
            return None;
        };
        self.check_fields(
            root,
            "",
            &[
                "StartAt",
                "States",
                "Comment",
                "Version",
                "TimeoutSeconds",
                "QueryLanguage",
            ],
            "at the top level of a state machine",
        );
        match root.get("QueryLanguage") {
            None => {}
            Some(Value::String(s)) if s == "JSONPath" => {}
            Some(Value::String(s)) if s == "JSONata" => self.top_language = QueryLanguage::JsonAta,
            Some(_) => self.schema("/QueryLanguage", "QueryLanguage must be \"JSONPath\" or \"JSONata\""),
        }
        match root.get("Version") {
            None => {}
            Some(Value::String(v)) if v == "1.0" => {}
            Some(_) => self.schema("/Version", "Version must be \"1.0\""),
        }
        if root.get("Comment").is_some_and(|c| !c.is_string()) {
            self.schema("/Comment", "Comment must be a string");
        }
        let timeout_seconds = match root.get("TimeoutSeconds") {
            None => None,
            Some(v) => match v.as_u64() {
                Some(n) if n <= 99_999_999 => Some(n),
                _ => {
                    self.schema(
                        "/TimeoutSeconds",
                        "TimeoutSeconds must be an integer from 0 to 99999999",
                    );
                    None
                }
            },
        };
        // Pass 1: every state name, machine-wide, so duplicates across scopes are caught.
        let top = self.collect_scope(root, "", None);
        self.check_terminal_states();
        // Pass 2: build each state with its scope's names resolved.
        let mut nodes: Vec<Option<StateNode>> = Vec::new();
        for id in 0..self.slots.len() {
            let node = self.build_state(StateId(id as u32));
            nodes.push(node);
        }
        let root_scope = top.and_then(|s| self.scope_start(root, "", s))?;
        if nodes.iter().any(Option::is_none) {
            return None;
        }
        let states: Vec<StateNode> = nodes.into_iter().flatten().collect();
        self.check_reachability(&states, root_scope.start);
        self.check_variable_scopes();
        Some(StateMachine {
            states,
            root: root_scope,
            timeout_seconds,
            query_language: self.top_language,
            warnings: Vec::new(),
        })
    }

    /// Registers the states of a `StartAt`/`States` object and its nested scopes.
    fn collect_scope(&mut self, obj: &Map<String, Value>, at: &str, parent: Option<usize>) -> Option<usize> {
        let states = match obj.get("States") {
            Some(Value::Object(s)) if !s.is_empty() => s,
            Some(Value::Object(_)) => {
                self.schema(&format!("{at}/States"), "States must hold at least one state");
                return None;
            }
            Some(_) => {
                self.schema(
                    &format!("{at}/States"),
                    "States must be an object of state names to states",
                );
                return None;
            }
            None => {
                self.schema(at, "The required field 'States' is missing");
                return None;
            }
        };
        let scope = self.scopes.len();
        self.scopes.push(ScopeInfo {
            pointer: format!("{at}/States"),
            parent,
            names: HashMap::new(),
            states: Vec::new(),
        });
        for (name, state) in states {
            let pointer = format!("{at}/States/{}", escape(name));
            if name.is_empty() || name.chars().count() > MAX_STATE_NAME {
                self.schema(
                    &pointer,
                    format!("State name '{name}' must be 1 to {MAX_STATE_NAME} characters long"),
                );
            }
            // A duplicate is reported once and otherwise built like any state, so its own
            // scope's transitions and nested scopes resolve and no error follows from it.
            if self.names.contains_key(name) {
                self.error(
                    Code::DuplicateStateName,
                    &pointer,
                    format!("State name '{name}' is used more than once; names must be unique across the whole state machine, nested branches included"),
                );
            }
            let id = StateId(self.slots.len() as u32);
            self.names.entry(name.clone()).or_insert(id);
            self.scopes[scope].names.insert(name.clone(), id);
            self.scopes[scope].states.push(id);
            self.slots.push(Slot {
                name: name.clone(),
                pointer: pointer.clone(),
                scope,
            });
            let Some(state) = state.as_object() else {
                continue;
            };
            if let Some(Value::Array(branches)) = state.get("Branches") {
                for (i, b) in branches.iter().enumerate() {
                    if let Some(b) = b.as_object() {
                        self.collect_scope(b, &format!("{pointer}/Branches/{i}"), Some(scope));
                    }
                }
            }
            for field in ["ItemProcessor", "Iterator"] {
                if let Some(Value::Object(p)) = state.get(field) {
                    self.collect_scope(p, &format!("{pointer}/{field}"), Some(scope));
                }
            }
        }
        Some(scope)
    }

    /// Finds the scope registered for the object at `at` and resolves its StartAt.
    pub fn nested_scope(&mut self, obj: &Map<String, Value>, at: &str) -> Option<Scope> {
        let pointer = format!("{at}/States");
        let idx = self.scopes.iter().position(|s| s.pointer == pointer)?;
        self.scope_start(obj, at, idx)
    }

    fn scope_start(&mut self, obj: &Map<String, Value>, at: &str, scope: usize) -> Option<Scope> {
        let p = format!("{at}/StartAt");
        match obj.get("StartAt") {
            Some(Value::String(s)) => match self.scopes[scope].names.get(s) {
                Some(id) => Some(Scope { start: *id }),
                None => {
                    self.error(
                        Code::MissingTransitionTarget,
                        &p,
                        format!("StartAt '{s}' does not name a state in this States object"),
                    );
                    None
                }
            },
            Some(_) => {
                self.schema(&p, "StartAt must be a string");
                None
            }
            None => {
                self.schema(at, "The required field 'StartAt' is missing");
                None
            }
        }
    }

    /// Resolves a transition target within the scope of state `from`.
    pub fn target(&mut self, from: StateId, pointer: &str, value: &Value) -> Option<StateId> {
        let Some(name) = value.as_str() else {
            self.schema(pointer, "A transition target must be a state name (a string)");
            return None;
        };
        let scope = self.slots[from.0 as usize].scope;
        if let Some(id) = self.scopes[scope].names.get(name) {
            return Some(*id);
        }
        let msg = if self.names.contains_key(name) {
            format!(
                "'{name}' is in another scope (a different branch or item processor); a transition cannot leave its States object"
            )
        } else {
            format!("'{name}' does not name a state")
        };
        self.error(Code::MissingTransitionTarget, pointer, msg);
        None
    }

    /// `Next` xor `End: true`.
    pub fn transition(&mut self, from: StateId, obj: &Map<String, Value>, at: &str) -> Option<Transition> {
        match (obj.get("Next"), obj.get("End")) {
            (Some(_), Some(_)) => {
                self.schema(at, "A state cannot have both 'Next' and 'End'");
                None
            }
            (Some(n), None) => self.target(from, &format!("{at}/Next"), n).map(Transition::Next),
            (None, Some(Value::Bool(true))) => Some(Transition::End),
            (None, Some(_)) => {
                self.schema(
                    &format!("{at}/End"),
                    "End must be true when present (use Next to continue)",
                );
                None
            }
            (None, None) => {
                self.schema(at, "The state needs either 'Next' or 'End': true");
                None
            }
        }
    }

    /// Every scope (the machine, each branch, each item processor) needs a state that ends it:
    /// `End: true`, a Succeed or a Fail state.
    fn check_terminal_states(&mut self) {
        let src = self.src;
        let mut missing = Vec::new();
        for (i, scope) in self.scopes.iter().enumerate() {
            let terminal = scope.states.iter().any(|id| {
                let state = src.value.pointer(&self.slots[id.0 as usize].pointer);
                let ty = state.and_then(|s| s.get("Type")).and_then(Value::as_str);
                let end = state.and_then(|s| s.get("End"));
                matches!(ty, Some("Succeed" | "Fail")) || end == Some(&Value::Bool(true))
            });
            if !terminal && !scope.states.is_empty() {
                missing.push((i, scope.pointer.clone()));
            }
        }
        for (i, pointer) in missing {
            let what = if self.scopes[i].parent.is_none() {
                "the state machine"
            } else {
                "this branch or item processor"
            };
            self.error(
                Code::MissingEndState,
                &pointer,
                format!("Workflow has no terminal state: no state of {what} has End: true or is a Succeed or Fail state, so it could never end"),
            );
        }
    }

    /// A Parallel branch or Map iteration may read outer variables but not assign them.
    fn check_variable_scopes(&mut self) {
        let src = self.src;
        // (scope, name, pointer) of every assignment; a state's Catcher and Choice-rule Assigns
        // write the scope the state is in.
        let mut assigned: Vec<(usize, String, String)> = Vec::new();
        for slot in &self.slots {
            let Some(state) = src.value.pointer(&slot.pointer).and_then(Value::as_object) else {
                continue;
            };
            let mut blocks: Vec<(String, &Value)> = Vec::new();
            if let Some(a) = state.get("Assign") {
                blocks.push((format!("{}/Assign", slot.pointer), a));
            }
            for list in ["Choices", "Catch"] {
                for (i, item) in state
                    .get(list)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    if let Some(a) = item.get("Assign") {
                        blocks.push((format!("{}/{list}/{i}/Assign", slot.pointer), a));
                    }
                }
            }
            for (at, block) in blocks {
                for key in block.as_object().into_iter().flat_map(|o| o.keys()) {
                    let name = key.strip_suffix(".$").unwrap_or(key);
                    assigned.push((slot.scope, name.to_string(), format!("{at}/{}", escape(key))));
                }
            }
        }
        let in_scope: HashSet<(usize, &str)> = assigned.iter().map(|(s, n, _)| (*s, n.as_str())).collect();
        let mut problems = Vec::new();
        for (scope, name, pointer) in &assigned {
            let mut up = self.scopes[*scope].parent;
            while let Some(outer) = up {
                if in_scope.contains(&(outer, name.as_str())) {
                    problems.push((pointer.clone(), format!(
                        "Variable '{name}' is also assigned in an enclosing scope; a Parallel branch or Map iteration may read outer variables but not assign them"
                    )));
                    break;
                }
                up = self.scopes[outer].parent;
            }
        }
        for (p, m) in problems {
            self.schema(&p, m);
        }
    }

    /// Every state must be reachable from its scope's StartAt.
    fn check_reachability(&mut self, states: &[StateNode], root: StateId) {
        let mut stack = vec![root];
        for node in states {
            collect_starts(&node.kind, &mut stack);
        }
        let mut reachable: HashSet<StateId> = HashSet::new();
        while let Some(id) = stack.pop() {
            if reachable.insert(id) {
                successors(&states[id.0 as usize].kind, &mut stack);
            }
        }
        for (i, node) in states.iter().enumerate() {
            if !reachable.contains(&StateId(i as u32)) {
                // AWS's code and words; what follows them says why.
                self.error(
                    Code::MissingTransitionTarget,
                    &node.pointer,
                    format!(
                        "State \"{}\" is not reachable. No StartAt, Next, Default, Choice rule or Catcher of its States object leads to it",
                        node.name
                    ),
                );
            }
        }
    }
}

fn collect_starts(state: &State, out: &mut Vec<StateId>) {
    match state {
        State::Parallel(p) => out.extend(p.branches.iter().map(|b| b.start)),
        State::Map(m) => out.push(m.processor.start),
        _ => {}
    }
}

fn successors(state: &State, out: &mut Vec<StateId>) {
    let next = |t: &Transition, out: &mut Vec<StateId>| {
        if let Transition::Next(id) = t {
            out.push(*id);
        }
    };
    match state {
        State::Pass(s) => next(&s.next, out),
        State::Task(s) => {
            next(&s.next, out);
            out.extend(s.catch.iter().map(|c| c.next));
        }
        State::Wait(s) => next(&s.next, out),
        State::Parallel(s) => {
            next(&s.next, out);
            out.extend(s.catch.iter().map(|c| c.next));
        }
        State::Map(s) => {
            next(&s.next, out);
            out.extend(s.catch.iter().map(|c| c.next));
        }
        State::Choice(c) => {
            out.extend(c.rules.iter().map(|r| r.next));
            out.extend(c.default);
        }
        State::Succeed(_) | State::Fail(_) => {}
    }
}

/// The allowed name closest to `key` (edit distance ≤ 2, or same letters ignoring case).
fn closest<'a>(key: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|a| (distance(&key.to_lowercase(), &a.to_lowercase()), *a))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
