//! Property-based fuzzing of everything in the language that reads text a stranger can send:
//! definitions (JSON and YAML, arbitrary and mutated from real ones), JSONPath, intrinsic
//! functions and JSONata. Every input gives a result or an error: never a panic, a hang or
//! unbounded memory (the counting allocator below cancels a JSONata evaluation past its budget,
//! as in the daemon).
//!
//! CI runs a bounded number of cases (`PROPTEST_CASES`, default 256 per property); for a long
//! run: `PROPTEST_CASES=200000 cargo test --release -p wasmstep-lang --test fuzz`.

use proptest::prelude::*;
use serde_json::{Value, json};
use wasmstep_lang::asl::{self, MachineType, Source, Syntax};
use wasmstep_lang::jsonata::{Expr, Limits};
use wasmstep_lang::path::context::{ContextObject, ExecutionInfo};
use wasmstep_lang::path::intrinsic::Call;
use wasmstep_lang::path::{Env, Path, Vars};

#[global_allocator]
static ALLOCATOR: wasmstep_lang::jsonata::budget::BudgetAlloc<std::alloc::System> =
    wasmstep_lang::jsonata::budget::BudgetAlloc(std::alloc::System);

/// Definitions that load: the starting points of mutation.
const SEEDS: &[&str] = &[
    r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Result":{"x":[1,2]},"ResultPath":"$.r","Next":"C"},"C":{"Type":"Choice","Choices":[{"Variable":"$.r.x[0]","NumericEquals":1,"Next":"M"}],"Default":"F"},"M":{"Type":"Map","ItemsPath":"$.r.x","ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"wasm:add","Retry":[{"ErrorEquals":["States.ALL"],"MaxAttempts":2}],"End":true}}},"Next":"W"},"W":{"Type":"Wait","Seconds":1,"Next":"S"},"S":{"Type":"Succeed"},"F":{"Type":"Fail","Error":"E","CausePath":"States.Format('{}', $.r)"}}}"#,
    r#"{"QueryLanguage":"JSONata","StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[{"StartAt":"A","States":{"A":{"Type":"Pass","Output":"{% $states.input.n + 1 %}","Assign":{"v":"{% $count([1,2]) %}"},"End":true}}}],"Catch":[{"ErrorEquals":["States.ALL"],"Next":"X"}],"Next":"X"},"X":{"Type":"Succeed","Output":"{% $v %}"}}}"#,
    "StartAt: A\nStates:\n  A:\n    Type: Pass\n    Parameters:\n      a.$: $.b\n      f.$: States.ArrayLength($.list)\n    Next: B\n  B:\n    Type: Choice\n    Choices:\n      - And:\n          - Variable: $.a\n            StringMatches: 'x*y'\n        Next: C\n    Default: C\n  C:\n    Type: Succeed\n",
];

/// What damage is made of: the characters that matter to JSON, YAML, paths and intrinsics.
const PUNCTUATION: &[u8] = b"{}[]\":,$.*'()\\ -\n#&!?@";

/// A definition text damaged in a few places, the way a typo or a hostile edit does.
fn mutated() -> impl Strategy<Value = (usize, String)> {
    (
        0..SEEDS.len(),
        prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<u8>()), 1..6),
    )
        .prop_map(|(seed, edits)| {
            let mut bytes = SEEDS[seed].as_bytes().to_vec();
            for (at, kind, byte) in edits {
                if bytes.is_empty() {
                    break;
                }
                let i = at.index(bytes.len());
                match kind {
                    0 => bytes[i] = PUNCTUATION[byte as usize % PUNCTUATION.len()],
                    1 => {
                        bytes.remove(i);
                    }
                    2 => bytes.truncate(i),
                    _ => {
                        let copy: Vec<u8> = bytes[i..].iter().take(byte as usize % 64).copied().collect();
                        bytes.splice(i..i, copy);
                    }
                }
            }
            (seed, String::from_utf8_lossy(&bytes).into_owned())
        })
}

/// Arbitrary JSON, shaped like definitions (their keys, nested deeply sometimes).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[$a-zA-Z0-9.*\\[\\]{}()' %]{0,16}".prop_map(Value::String),
    ];
    leaf.prop_recursive(8, 64, 6, |inner| {
        let key = prop_oneof![
            Just("StartAt".to_string()),
            Just("States".to_string()),
            Just("Type".to_string()),
            Just("Next".to_string()),
            Just("End".to_string()),
            Just("Parameters".to_string()),
            Just("Choices".to_string()),
            Just("Branches".to_string()),
            Just("ItemProcessor".to_string()),
            Just("Resource".to_string()),
            "[A-Za-z.$]{1,8}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn load(text: &str, syntax: Syntax) {
    for t in [MachineType::Standard, MachineType::Express] {
        let _ = asl::load(text, syntax, t);
    }
}

proptest! {
    #[test]
    fn mutated_definitions_load_or_say_why((seed, text) in mutated()) {
        let syntax = if seed == 2 { Syntax::Yaml } else { Syntax::Json };
        load(&text, syntax);
        load(&text, if syntax == Syntax::Yaml { Syntax::Json } else { Syntax::Yaml });
    }

    #[test]
    fn arbitrary_text_is_not_a_crash(text in "\\PC{0,200}") {
        load(&text, Syntax::Json);
        load(&text, Syntax::Yaml);
    }

    #[test]
    fn arbitrary_definition_values_are_not_a_crash(v in json_value()) {
        let _ = asl::build(&Source::from_value(v.clone()), MachineType::Standard);
        let _ = asl::build(&Source::from_value(json!({"StartAt": "A", "States": {"A": v}})), MachineType::Standard);
    }

    #[test]
    fn jsonpath_parses_and_selects_or_errs(text in "\\$[.\\[\\]'\"a-z0-9*?@()=<>!&|~ ,:\\-]{0,40}", doc in json_value()) {
        if let Ok(p) = Path::parse(&text) {
            let info = ExecutionInfo::default();
            let ctx = ContextObject::new(&info, "S", chrono::Utc::now());
            let vars = Vars::default();
            let _ = p.value(&Env { input: &doc, context: &ctx, vars: &vars });
        }
    }

    #[test]
    fn intrinsics_parse_and_evaluate_or_err(
        text in prop_oneof![
            "States\\.(Format|StringToJson|JsonToString|Array|ArrayPartition|ArrayContains|ArrayRange|ArrayGetItem|ArrayLength|ArrayUnique|Base64Encode|Base64Decode|Hash|JsonMerge|MathRandom|MathAdd|StringSplit|UUID)\\(([$.a-z0-9', {}\\-]|States\\.Array\\(){0,40}\\)",
            "\\PC{0,60}",
        ],
        doc in json_value(),
    ) {
        if let Ok(c) = Call::parse(&text) {
            let info = ExecutionInfo::default();
            let ctx = ContextObject::new(&info, "S", chrono::Utc::now());
            let vars = Vars::default();
            let _ = c.eval(&Env { input: &doc, context: &ctx, vars: &vars });
        }
    }

    #[test]
    fn jsonata_parses_and_evaluates_within_its_limits(
        text in "[$a-z0-9.\\[\\]{}()'\":,+*/%&|<>=!?~^ \\-]{0,60}",
        doc in json_value(),
    ) {
        if let Ok(e) = Expr::parse(&text) {
            let limits = Limits { timeout_ms: 200, max_memory: 32 << 20, max_sequence: 100_000, ..Limits::default() };
            let _ = e.evaluate(Some(&doc), &mut |_| None, limits);
        }
    }
}
