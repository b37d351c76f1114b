//! The functions Step Functions adds to JSONata (`$partition`, `$range`, `$hash`, `$random`,
//! `$uuid`, `$parse`), and `$eval`, which it forbids.

use jsonata_core::evaluator::{Evaluator, EvaluatorError};
use jsonata_core::value::JValue;
use rand::{RngExt, SeedableRng, rngs::StdRng};

use super::{Expr, to_jvalue};

/// `$range` may produce at most this many numbers.
const MAX_RANGE: i64 = 1_000_000;

fn fail(code: &str, msg: String) -> EvaluatorError {
    EvaluatorError::EvaluationError(format!("{code}: {msg}"))
}

fn arg_error(func: &str, n: usize, want: &str) -> EvaluatorError {
    fail(
        "T0410",
        format!("Argument {n} of function \"{func}\" does not match function signature: expected {want}"),
    )
}

/// An integer argument; non-integers are floored, as Step Functions does.
fn int(func: &str, args: &[JValue], n: usize) -> Result<i64, EvaluatorError> {
    args.get(n - 1)
        .and_then(JValue::as_f64)
        .filter(|x| x.is_finite())
        .map(|x| x.floor() as i64)
        .ok_or_else(|| arg_error(func, n, "a number"))
}

fn string<'a>(func: &str, args: &'a [JValue], n: usize) -> Result<&'a str, EvaluatorError> {
    args.get(n - 1)
        .and_then(JValue::as_str)
        .ok_or_else(|| arg_error(func, n, "a string"))
}

/// `$pad` is the one built-in whose result size comes from a number rather than from its
/// inputs; one call runs to its end before any limit is checked, so its width is bounded
/// here. Otherwise it is jsonata's `$pad`, whose semantics it keeps: pad to `|width|`
/// characters on the right (positive) or left (negative) with `char` (default a space, cycled
/// and cut when longer than one character); null and undefined pass through.
const MAX_PAD: i64 = 10_000_000;

fn pad(args: &[JValue]) -> Result<JValue, EvaluatorError> {
    let s = match args.first() {
        Some(JValue::String(s)) => s.to_string(),
        Some(JValue::Null) => return Ok(JValue::Null),
        None | Some(JValue::Undefined) => return Ok(JValue::Undefined),
        Some(_) => return Err(arg_error("pad", 1, "a string")),
    };
    let width = match args.get(1) {
        Some(JValue::Number(n)) => n.trunc() as i64,
        None | Some(JValue::Undefined) => return Ok(JValue::string(s)),
        Some(_) => return Err(arg_error("pad", 2, "a number")),
    };
    if width.abs() > MAX_PAD {
        return Err(fail(
            "D3001",
            format!("$pad width {width} is over the limit of {MAX_PAD} characters"),
        ));
    }
    let fill: Vec<char> = match args.get(2) {
        Some(JValue::String(c)) if !c.is_empty() => c.chars().collect(),
        None | Some(JValue::Undefined) | Some(JValue::String(_)) => vec![' '],
        Some(_) => return Err(arg_error("pad", 3, "a string")),
    };
    let missing = width.unsigned_abs() as usize;
    let missing = missing.saturating_sub(s.chars().count());
    if missing == 0 {
        return Ok(JValue::string(s));
    }
    let padding: String = fill.iter().cycle().take(missing).collect();
    Ok(JValue::string(if width > 0 { s + &padding } else { padding + &s }))
}

/// Registers the functions `expr` mentions (registering costs an allocation each).
pub(super) fn register(ev: &mut Evaluator, expr: &Expr, forbid_eval: bool) {
    // Names are fixed and none shadows a built-in, so registration cannot fail; `$random`
    // and `$eval` replace built-ins on purpose.
    if expr.mentions("partition") {
        let _ = ev.register_fn("partition", |args: &[JValue]| {
            let items = args
                .first()
                .and_then(JValue::as_array)
                .ok_or_else(|| arg_error("partition", 1, "an array"))?;
            let size = int("partition", args, 2)?;
            if size <= 0 {
                return Err(fail(
                    "D3001",
                    format!("$partition size must be a positive integer, but was {size}"),
                ));
            }
            Ok(JValue::array(
                items.chunks(size as usize).map(|c| JValue::array(c.to_vec())).collect(),
            ))
        });
    }
    if expr.mentions("range") {
        let _ = ev.register_fn("range", |args: &[JValue]| {
            let (start, end) = (int("range", args, 1)?, int("range", args, 2)?);
            let step = if args.len() > 2 { int("range", args, 3)? } else { 1 };
            if step == 0 {
                return Err(fail("D3001", "$range step must not be 0".into()));
            }
            let (s, e, st) = (start as i128, end as i128, step as i128);
            let count = if (st > 0 && s > e) || (st < 0 && s < e) {
                0
            } else {
                (e - s) / st + 1
            };
            if count > MAX_RANGE as i128 {
                return Err(fail(
                    "D2014",
                    format!("$range would produce {count} numbers; at most {MAX_RANGE} are allowed"),
                ));
            }
            // A sequence, as Step Functions returns it: a single number comes back unwrapped.
            Ok(JValue::sequence(
                (0..count as i64).map(|k| JValue::from(start + k * step)).collect(),
            ))
        });
    }
    if expr.mentions("hash") {
        let _ = ev.register_fn("hash", |args: &[JValue]| {
            let data = string("hash", args, 1)?;
            let alg = if args.len() > 1 {
                string("hash", args, 2)?
            } else {
                "SHA-256"
            };
            match crate::path::functions::apply(
                crate::path::functions::Func::Hash,
                vec![
                    serde_json::Value::String(data.into()),
                    serde_json::Value::String(alg.into()),
                ],
            ) {
                Ok(v) => Ok(to_jvalue(&v)),
                Err(m) => Err(fail("D3001", m)),
            }
        });
    }
    if expr.mentions("random") {
        let _ = ev.register_fn_override("random", |args: &[JValue]| {
            let x: f64 = match args.first() {
                None | Some(JValue::Undefined) => rand::rng().random_range(0.0..1.0),
                Some(_) => StdRng::seed_from_u64(int("random", args, 1)? as u64).random_range(0.0..1.0),
            };
            Ok(JValue::from(x))
        });
    }
    if expr.mentions("uuid") {
        let _ = ev.register_fn("uuid", |_: &[JValue]| {
            Ok(JValue::string(uuid::Uuid::new_v4().to_string()))
        });
    }
    if expr.mentions("parse") {
        let _ = ev.register_fn("parse", |args: &[JValue]| {
            let text = string("parse", args, 1)?;
            let v: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| fail("D3001", format!("$parse: the string is not valid JSON: {e}")))?;
            Ok(to_jvalue(&v))
        });
    }
    if expr.mentions("pad") {
        let _ = ev.register_fn_override("pad", pad);
    }
    if forbid_eval && expr.mentions("eval") {
        let _ = ev.register_fn_override("eval", |_: &[JValue]| {
            Err(fail("D3001", "$eval is not supported in Step Functions".into()))
        });
    }
}
