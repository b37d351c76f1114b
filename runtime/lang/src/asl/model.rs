//! The validated state machine: names resolved to `StateId`s, every path, template and
//! intrinsic call compiled. Built once by `asl::build`, read by the engine on every transition.

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use super::error_name::ErrorName;
use crate::jsonata::template::Ata;
use crate::path::Path;
use crate::path::intrinsic::Call;
use crate::path::reference::ResultTarget;
use crate::path::template::Template;

/// Index of a state in [`StateMachine::states`]. Names are unique machine-wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StateId(pub u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryLanguage {
    JsonPath,
    JsonAta,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Next(StateId),
    End,
}

#[derive(Debug)]
pub struct StateMachine {
    /// Every state of the machine, nested ones included.
    pub states: Vec<StateNode>,
    pub root: Scope,
    pub timeout_seconds: Option<u64>,
    pub query_language: QueryLanguage,
    /// What validation warned about: the definition runs, but not everything in it may do
    /// what it would on AWS (a resource wasmstep cannot call, a placeholder ARN, ...).
    pub warnings: Vec<super::Diagnostic>,
}

impl StateMachine {
    pub fn state(&self, id: StateId) -> &StateNode {
        &self.states[id.0 as usize]
    }
}

/// The states of one `States` object: the machine's top level, a Parallel branch or a Map
/// item processor. Transitions never leave a scope.
#[derive(Debug)]
pub struct Scope {
    pub start: StateId,
}

#[derive(Debug)]
pub struct StateNode {
    pub name: String,
    /// JSON Pointer of the state in the definition, for messages.
    pub pointer: String,
    pub language: QueryLanguage,
    pub kind: State,
}

// States are built once per definition and kept in one Vec, so variant sizes cost nothing
// on the hot path; boxing them would add a pointer chase per transition.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum State {
    Pass(Pass),
    Task(Task),
    Choice(Choice),
    Wait(Wait),
    Succeed(Succeed),
    Fail(Fail),
    Parallel(Parallel),
    Map(MapState),
}

/// The name used in history event types: `PassStateEntered`, `MapStateExited`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateType {
    Pass,
    Task,
    Choice,
    Wait,
    Succeed,
    Fail,
    Parallel,
    Map,
}

impl StateType {
    pub const ALL: [StateType; 8] = [
        StateType::Pass,
        StateType::Task,
        StateType::Choice,
        StateType::Wait,
        StateType::Succeed,
        StateType::Fail,
        StateType::Parallel,
        StateType::Map,
    ];

    /// Position in [`StateType::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StateType::Pass => "Pass",
            StateType::Task => "Task",
            StateType::Choice => "Choice",
            StateType::Wait => "Wait",
            StateType::Succeed => "Succeed",
            StateType::Fail => "Fail",
            StateType::Parallel => "Parallel",
            StateType::Map => "Map",
        }
    }
}

impl State {
    pub fn state_type(&self) -> StateType {
        match self {
            State::Pass(_) => StateType::Pass,
            State::Task(_) => StateType::Task,
            State::Choice(_) => StateType::Choice,
            State::Wait(_) => StateType::Wait,
            State::Succeed(_) => StateType::Succeed,
            State::Fail(_) => StateType::Fail,
            State::Parallel(_) => StateType::Parallel,
            State::Map(_) => StateType::Map,
        }
    }
}

/// InputPath / OutputPath: absent or `$` selects everything, `null` gives `{}`.
#[derive(Debug, Clone)]
pub enum Select {
    Whole,
    Empty,
    Path(Path),
}

/// ResultPath: absent or `$` replaces the input, `null` discards the result.
#[derive(Debug, Clone)]
pub enum ResultPath {
    Replace,
    Discard,
    At(ResultTarget),
}

/// `Assign`: a payload template whose keys are variable names (JSONPath), or one
/// JSONata-capable value per variable (JSONata).
#[derive(Debug)]
pub enum Assign {
    Path(Template),
    Ata(Vec<(String, Ata)>),
}

/// A state's input/output pipeline: the JSONPath fields, or the JSONata ones (`Arguments`,
/// `Output`), depending on `language`. Fields a state type does not have stay at defaults.
#[derive(Debug)]
pub struct Io {
    pub language: QueryLanguage,
    pub input_path: Select,
    pub parameters: Option<Template>,
    pub result_selector: Option<Template>,
    pub result_path: ResultPath,
    pub output_path: Select,
    pub assign: Option<Assign>,
    /// JSONata `Arguments`: the task input or branch input (default: the state input).
    pub arguments: Option<Ata>,
    /// JSONata `Output` (default: the result for Task/Map/Parallel, else the state input).
    pub output: Option<Ata>,
}

impl Default for Io {
    fn default() -> Self {
        Io {
            language: QueryLanguage::JsonPath,
            input_path: Select::Whole,
            parameters: None,
            result_selector: None,
            result_path: ResultPath::Replace,
            output_path: Select::Whole,
            assign: None,
            arguments: None,
            output: None,
        }
    }
}

#[derive(Debug)]
pub struct Pass {
    pub io: Io,
    pub result: Option<Value>,
    pub next: Transition,
}

/// What a Task's `Resource` names.
#[derive(Debug, Clone, PartialEq)]
pub enum Resource {
    /// `wasm:NAME`, or `wasm:NAME.waitForTaskToken` (the handler gets a task token and the
    /// Task waits for an answer sent with it).
    Wasm { name: String, wait: bool },
    /// `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`
    LambdaFunction { arn: String, name: String },
    /// `arn:aws:states:::lambda:invoke[.waitForTaskToken]` (name and payload come from the
    /// parameters)
    LambdaInvoke { wait: bool },
    /// `arn:aws:states:::states:startExecution[.sync|.sync:2|.waitForTaskToken]`: a nested
    /// execution.
    StartExecution { pattern: Pattern },
    /// `arn:aws:states:REGION:ACCOUNT:activity:NAME`: a task for activity workers.
    Activity { arn: String },
    /// Any other AWS service integration; fails at run time as unsupported.
    Other { uri: String },
}

/// How a service integration is called (the suffix of its resource ARN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// Request-response: the Task ends with the call's response.
    Call,
    /// `.sync`: waits for the job to finish; its output as the service describes it.
    Sync,
    /// `.sync:2`: the same, with JSON payloads parsed.
    Sync2,
    /// `.waitForTaskToken`: waits for an answer sent with the task token.
    WaitForTaskToken,
}

impl Pattern {
    /// The suffix it is written with (after the action).
    pub fn suffix(self) -> &'static str {
        match self {
            Pattern::Call => "",
            Pattern::Sync => ".sync",
            Pattern::Sync2 => ".sync:2",
            Pattern::WaitForTaskToken => ".waitForTaskToken",
        }
    }
}

impl Resource {
    /// Whether the Task waits for an answer sent with its task token.
    pub fn waits_for_token(&self) -> bool {
        matches!(
            self,
            Resource::Wasm { wait: true, .. }
                | Resource::LambdaInvoke { wait: true }
                | Resource::StartExecution {
                    pattern: Pattern::WaitForTaskToken
                }
        )
    }

    /// Whether the Task waits for an answer from outside once it has made its call (so it
    /// does not hold up a hand-over while it waits).
    pub fn waits(&self) -> bool {
        self.has_token() || matches!(self, Resource::StartExecution { .. })
    }

    /// Whether a task token exists for the Task (`$$.Task.Token`).
    pub fn has_token(&self) -> bool {
        self.waits_for_token() || matches!(self, Resource::Activity { .. })
    }

    /// History's `resourceType` and `resource` fields.
    pub fn history_names(&self, uri: &str) -> (String, String) {
        let wait = |w: &bool| if *w { Pattern::WaitForTaskToken.suffix() } else { "" };
        match self {
            Resource::Wasm { name, wait: w } => ("wasm".into(), format!("{name}{}", wait(w))),
            Resource::LambdaFunction { .. } => ("lambda".into(), "invoke".into()),
            Resource::LambdaInvoke { wait: w } => ("lambda".into(), format!("invoke{}", wait(w))),
            Resource::StartExecution { pattern } => ("states".into(), format!("startExecution{}", pattern.suffix())),
            Resource::Activity { arn } => ("activity".into(), arn.clone()),
            Resource::Other { .. } => {
                let rest = uri.strip_prefix("arn:aws:states:::").unwrap_or(uri);
                match rest.split_once(':') {
                    Some((t, r)) => (t.to_string(), r.to_string()),
                    None => (rest.to_string(), String::new()),
                }
            }
        }
    }
}

/// A number of seconds given literally or through a reference path.
#[derive(Debug)]
pub enum Seconds {
    Fixed(u64),
    Path(Path),
    /// JSONata `{% %}`.
    Expr(Ata),
}

#[derive(Debug)]
pub struct Task {
    pub io: Io,
    pub resource_uri: String,
    pub resource: Resource,
    pub timeout: Option<Seconds>,
    pub heartbeat: Option<Seconds>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    pub next: Transition,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    None,
    Full,
}

#[derive(Debug, Clone)]
pub struct Retrier {
    pub error_equals: Vec<ErrorName>,
    pub interval_seconds: u64,
    pub max_attempts: u64,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<u64>,
    pub jitter: Jitter,
}

#[derive(Debug)]
pub struct Catcher {
    pub error_equals: Vec<ErrorName>,
    pub next: StateId,
    pub result_path: ResultPath,
    pub assign: Option<Assign>,
    /// JSONata `Output` (default: the Error Output).
    pub output: Option<Ata>,
}

#[derive(Debug)]
pub struct Choice {
    pub io: Io,
    pub rules: Vec<ChoiceRule>,
    pub default: Option<StateId>,
}

#[derive(Debug)]
pub struct ChoiceRule {
    pub condition: Condition,
    pub next: StateId,
    pub assign: Option<Assign>,
    /// JSONata `Output` of the rule.
    pub output: Option<Ata>,
}

#[derive(Debug)]
pub enum Condition {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    Test {
        variable: Path,
        test: Test,
    },
    /// JSONata `Condition`: a boolean or `{% %}` that must evaluate to one.
    Expr(Ata),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    String,
    Numeric,
    Boolean,
    Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparator {
    Equals,
    LessThan,
    GreaterThan,
    LessThanEquals,
    GreaterThanEquals,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeTest {
    Null,
    Present,
    Numeric,
    String,
    Boolean,
    Timestamp,
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone)]
pub enum Operand {
    String(String),
    Number(f64),
    Boolean(bool),
    Timestamp(DateTime<FixedOffset>),
    Path(Path),
}

#[derive(Debug, Clone)]
pub enum Test {
    Compare {
        family: Family,
        comparator: Comparator,
        operand: Operand,
    },
    Matches(super::glob::Glob),
    Is(TypeTest, bool),
}

#[derive(Debug)]
pub enum WaitFor {
    Seconds(u64),
    SecondsPath(Path),
    Timestamp(DateTime<FixedOffset>),
    TimestampPath(Path),
    /// JSONata `Seconds: "{% %}"`.
    SecondsExpr(Ata),
    /// JSONata `Timestamp: "{% %}"`.
    TimestampExpr(Ata),
}

#[derive(Debug)]
pub struct Wait {
    pub io: Io,
    pub wait: WaitFor,
    pub next: Transition,
}

#[derive(Debug)]
pub struct Succeed {
    pub io: Io,
}

/// Fail's Error or Cause: a literal, a reference path or an intrinsic call.
#[derive(Debug)]
pub enum FailText {
    Literal(String),
    Path(Path),
    Call(Call),
    /// JSONata `{% %}`.
    Expr(Ata),
}

#[derive(Debug)]
pub struct Fail {
    pub error: Option<FailText>,
    pub cause: Option<FailText>,
}

#[derive(Debug)]
pub struct Parallel {
    pub io: Io,
    pub branches: Vec<Scope>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    pub next: Transition,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapMode {
    Inline,
    Distributed,
}

/// A count given literally or through a reference path.
#[derive(Debug)]
pub enum Count<T> {
    Fixed(T),
    Path(Path),
    /// JSONata `{% %}`.
    Expr(Ata),
}

/// A payload built per use: a JSONPath payload template, or a JSONata-capable value (Map
/// `ItemSelector`, ItemBatcher `BatchInput`).
#[derive(Debug)]
pub enum Payload {
    Path(Template),
    Ata(Ata),
}

#[derive(Debug)]
pub struct MapState {
    /// `Parameters` (legacy) is stored as `item_selector`; `io.parameters` stays empty.
    pub io: Io,
    pub processor: Scope,
    pub mode: MapMode,
    /// A Distributed Map's children are Express executions (`ExecutionType: EXPRESS`).
    pub express_children: bool,
    pub items_path: Option<Path>,
    pub item_selector: Option<Payload>,
    /// JSONata `Items` (default: the state input).
    pub items: Option<Ata>,
    pub max_concurrency: Option<Count<u64>>,
    pub tolerated_failure_count: Option<Count<u64>>,
    pub tolerated_failure_percentage: Option<Count<f64>>,
    pub label: Option<String>,
    pub item_batcher: Option<ItemBatcher>,
    /// Where the items come from instead of the input (a Distributed Map's dataset).
    pub item_reader: Option<ItemReader>,
    /// Where the results go, and how the state's output is shaped.
    pub result_writer: Option<ResultWriter>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    pub next: Transition,
}

/// `ItemReader`: a dataset read from a bucket (`s3:getObject`) or a bucket's object list
/// (`s3:listObjectsV2`).
#[derive(Debug)]
pub struct ItemReader {
    /// The `Resource` as written (named in errors).
    pub resource: String,
    pub source: ReaderSource,
    /// `Parameters` (JSONPath) or `Arguments` (JSONata): `Bucket` and `Key` or `Prefix`.
    pub arguments: Option<Payload>,
    pub config: ReaderConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReaderSource {
    GetObject,
    ListObjectsV2,
    /// Any other resource: reading it fails with `States.ItemReaderFailed`, saying which exist.
    Unsupported,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputType {
    Csv,
    Json,
    Jsonl,
    Parquet,
    Manifest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestType {
    AthenaData,
    S3Inventory,
}

/// `ReaderConfig`.
#[derive(Debug, Default)]
pub struct ReaderConfig {
    pub input_type: Option<InputType>,
    /// `CSVHeaderLocation: GIVEN` with these `CSVHeaders`; `None`: the first row.
    pub csv_headers: Option<Vec<String>>,
    /// `CSVDelimiter` (default a comma).
    pub csv_delimiter: Option<u8>,
    pub max_items: Option<Count<u64>>,
    pub manifest_type: Option<ManifestType>,
    /// `Transformation: LOAD_AND_FLATTEN`: a listing's objects are read and their items used.
    pub load_and_flatten: bool,
    /// `ItemsPointer`: a JSON Pointer to the array in a JSON file.
    pub items_pointer: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputType {
    #[default]
    Json,
    Jsonl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriterTransformation {
    /// Each child as its execution record (the default when results are exported).
    None,
    /// Each child's output (the default otherwise).
    Compact,
    /// The children's array outputs, concatenated.
    Flatten,
}

/// `ResultWriter`.
#[derive(Debug)]
pub struct ResultWriter {
    /// `Parameters`/`Arguments` (`Bucket`, `Prefix`): where results are exported, if they are.
    pub export: Option<Payload>,
    pub output_type: OutputType,
    pub transformation: Option<WriterTransformation>,
}

/// Distributed Map batching: each child gets `{"BatchInput": ..., "Items": [...]}`.
#[derive(Debug)]
pub struct ItemBatcher {
    pub max_items: Option<Count<u64>>,
    pub max_bytes: Option<Count<u64>>,
    pub batch_input: Option<Payload>,
}
