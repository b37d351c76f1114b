//! The 18 `States.*` intrinsic functions, with AWS's argument rules and limits.

use base64::Engine as _;
use rand::{RngExt, SeedableRng, rngs::StdRng};
use serde_json::{Map, Value};

use super::filter::json_eq;
use super::intrinsic::FmtPiece;
use super::type_name;

/// Inputs to Base64 and Hash are limited to this many characters.
const MAX_STRING_INPUT: usize = 10_000;
/// States.ArrayRange may produce at most this many items.
const MAX_RANGE_ITEMS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Format,
    StringToJson,
    JsonToString,
    Array,
    ArrayPartition,
    ArrayContains,
    ArrayRange,
    ArrayGetItem,
    ArrayLength,
    ArrayUnique,
    Base64Encode,
    Base64Decode,
    Hash,
    JsonMerge,
    MathRandom,
    MathAdd,
    StringSplit,
    Uuid,
}

impl Func {
    pub fn from_name(name: &str) -> Option<Func> {
        Some(match name {
            "States.Format" => Func::Format,
            "States.StringToJson" => Func::StringToJson,
            "States.JsonToString" => Func::JsonToString,
            "States.Array" => Func::Array,
            "States.ArrayPartition" => Func::ArrayPartition,
            "States.ArrayContains" => Func::ArrayContains,
            "States.ArrayRange" => Func::ArrayRange,
            "States.ArrayGetItem" => Func::ArrayGetItem,
            "States.ArrayLength" => Func::ArrayLength,
            "States.ArrayUnique" => Func::ArrayUnique,
            "States.Base64Encode" => Func::Base64Encode,
            "States.Base64Decode" => Func::Base64Decode,
            "States.Hash" => Func::Hash,
            "States.JsonMerge" => Func::JsonMerge,
            "States.MathRandom" => Func::MathRandom,
            "States.MathAdd" => Func::MathAdd,
            "States.StringSplit" => Func::StringSplit,
            "States.UUID" => Func::Uuid,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Func::Format => "States.Format",
            Func::StringToJson => "States.StringToJson",
            Func::JsonToString => "States.JsonToString",
            Func::Array => "States.Array",
            Func::ArrayPartition => "States.ArrayPartition",
            Func::ArrayContains => "States.ArrayContains",
            Func::ArrayRange => "States.ArrayRange",
            Func::ArrayGetItem => "States.ArrayGetItem",
            Func::ArrayLength => "States.ArrayLength",
            Func::ArrayUnique => "States.ArrayUnique",
            Func::Base64Encode => "States.Base64Encode",
            Func::Base64Decode => "States.Base64Decode",
            Func::Hash => "States.Hash",
            Func::JsonMerge => "States.JsonMerge",
            Func::MathRandom => "States.MathRandom",
            Func::MathAdd => "States.MathAdd",
            Func::StringSplit => "States.StringSplit",
            Func::Uuid => "States.UUID",
        }
    }

    /// Argument counts are fixed by the function, so they are checked at load time.
    pub fn check_arity(self, n: usize) -> Result<(), String> {
        let (min, max) = match self {
            Func::Format => (1, usize::MAX),
            Func::Array => (0, usize::MAX),
            Func::Uuid => (0, 0),
            Func::StringToJson
            | Func::JsonToString
            | Func::ArrayLength
            | Func::ArrayUnique
            | Func::Base64Encode
            | Func::Base64Decode => (1, 1),
            Func::ArrayPartition
            | Func::ArrayContains
            | Func::ArrayGetItem
            | Func::Hash
            | Func::MathAdd
            | Func::StringSplit => (2, 2),
            Func::MathRandom => (2, 3),
            Func::ArrayRange | Func::JsonMerge => (3, 3),
        };
        if n < min || n > max {
            let expected = if min == max {
                format!("{min}")
            } else if max == usize::MAX {
                format!("at least {min}")
            } else {
                format!("{min} to {max}")
            };
            return Err(format!(
                "{} takes {expected} argument(s), but was given {n}",
                self.name()
            ));
        }
        Ok(())
    }
}

fn want_str(f: Func, i: usize, v: &Value) -> Result<&str, String> {
    v.as_str().ok_or_else(|| {
        format!(
            "{}: argument {} must be a string, but was {}",
            f.name(),
            i + 1,
            type_name(v)
        )
    })
}

fn want_array(f: Func, i: usize, v: Value) -> Result<Vec<Value>, String> {
    match v {
        Value::Array(a) => Ok(a),
        other => Err(format!(
            "{}: argument {} must be an array, but was {}",
            f.name(),
            i + 1,
            type_name(&other)
        )),
    }
}

/// An integer argument; non-integers round half up, as AWS does (Java's Math.round).
fn want_int(f: Func, i: usize, v: &Value) -> Result<i64, String> {
    let x = v.as_f64().ok_or_else(|| {
        format!(
            "{}: argument {} must be a number, but was {}",
            f.name(),
            i + 1,
            type_name(v)
        )
    })?;
    Ok((x + 0.5).floor() as i64)
}

/// Runs a function on evaluated arguments (arity already checked at load time).
pub fn apply(f: Func, mut args: Vec<Value>) -> Result<Value, String> {
    match f {
        Func::Format => {
            let template = want_str(f, 0, &args[0])?.to_string();
            format(&pieces_of(&template), &args[1..])
        }
        Func::StringToJson => {
            let s = want_str(f, 0, &args[0])?;
            if s.trim().is_empty() {
                return Ok(Value::Null);
            }
            serde_json::from_str(s).map_err(|e| format!("{}: the string is not valid JSON: {e}", f.name()))
        }
        Func::JsonToString => Ok(Value::String(super::to_json_text(&args[0]))),
        Func::Array => Ok(Value::Array(args)),
        Func::ArrayPartition => {
            let size = want_int(f, 1, &args[1])?;
            if size <= 0 {
                return Err(format!("{}: the chunk size must be positive, but was {size}", f.name()));
            }
            let arr = want_array(f, 0, args.swap_remove(0))?;
            Ok(Value::Array(
                arr.chunks(size as usize).map(|c| Value::Array(c.to_vec())).collect(),
            ))
        }
        Func::ArrayContains => {
            let needle = args.pop().unwrap_or(Value::Null);
            let arr = want_array(f, 0, args.swap_remove(0))?;
            Ok(Value::Bool(arr.iter().any(|x| json_eq(x, &needle))))
        }
        Func::ArrayRange => {
            let (start, end, step) = (
                want_int(f, 0, &args[0])?,
                want_int(f, 1, &args[1])?,
                want_int(f, 2, &args[2])?,
            );
            if step == 0 {
                return Err(format!("{}: the step must not be 0", f.name()));
            }
            // i128: the arguments are arbitrary user numbers and must not overflow.
            let (s, e, st) = (start as i128, end as i128, step as i128);
            let count = if (st > 0 && s > e) || (st < 0 && s < e) {
                0
            } else {
                ((e - s) / st + 1) as usize
            };
            if count > MAX_RANGE_ITEMS {
                return Err(format!(
                    "{}: the range would have {count} items; at most {MAX_RANGE_ITEMS} are allowed",
                    f.name()
                ));
            }
            Ok(Value::Array(
                (0..count as i64).map(|k| Value::from(start + k * step)).collect(),
            ))
        }
        Func::ArrayGetItem => {
            let index = want_int(f, 1, &args[1])?;
            let arr = want_array(f, 0, args.swap_remove(0))?;
            let len = arr.len();
            usize::try_from(index)
                .ok()
                .and_then(|i| arr.into_iter().nth(i))
                .ok_or_else(|| {
                    format!(
                        "{}: index {index} is out of bounds for an array of length {len}",
                        f.name()
                    )
                })
        }
        Func::ArrayLength => Ok(Value::from(want_array(f, 0, args.swap_remove(0))?.len())),
        Func::ArrayUnique => {
            let arr = want_array(f, 0, args.swap_remove(0))?;
            let mut out: Vec<Value> = Vec::new();
            for x in arr {
                if !out.iter().any(|y| json_eq(y, &x)) {
                    out.push(x);
                }
            }
            Ok(Value::Array(out))
        }
        Func::Base64Encode => {
            let s = want_str(f, 0, &args[0])?;
            check_len(f, s)?;
            Ok(Value::String(base64::engine::general_purpose::STANDARD.encode(s)))
        }
        Func::Base64Decode => {
            let s = want_str(f, 0, &args[0])?;
            check_len(f, s)?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| format!("{}: the input is not valid base64: {e}", f.name()))?;
            String::from_utf8(bytes)
                .map(Value::String)
                .map_err(|_| format!("{}: the decoded data is not UTF-8 text", f.name()))
        }
        Func::Hash => {
            let data = match &args[0] {
                Value::String(s) => s.clone(),
                other => super::to_json_text(other),
            };
            check_len(f, &data)?;
            let alg = want_str(f, 1, &args[1])?;
            hash(alg, data.as_bytes()).map(Value::String).ok_or_else(|| {
                format!(
                    "{}: unsupported algorithm '{alg}'; use MD5, SHA-1, SHA-256, SHA-384 or SHA-512",
                    f.name()
                )
            })
        }
        Func::JsonMerge => {
            if args[2] != Value::Bool(false) {
                return Err(format!(
                    "{}: only a shallow merge is supported; the third argument must be false",
                    f.name()
                ));
            }
            let b = args.swap_remove(1);
            let a = args.swap_remove(0);
            match (a, b) {
                (Value::Object(mut a), Value::Object(b)) => {
                    for (k, v) in b {
                        a.insert(k, v);
                    }
                    Ok(Value::Object(a))
                }
                (a, b) => Err(format!(
                    "{}: both arguments must be objects, but were {} and {}",
                    f.name(),
                    type_name(&a),
                    type_name(&b)
                )),
            }
        }
        Func::MathRandom => {
            let (start, end) = (want_int(f, 0, &args[0])?, want_int(f, 1, &args[1])?);
            if start >= end {
                return Err(format!(
                    "{}: the start ({start}) must be less than the end ({end})",
                    f.name()
                ));
            }
            let n = match args.get(2) {
                Some(seed) => StdRng::seed_from_u64(want_int(f, 2, seed)? as u64).random_range(start..end),
                None => rand::rng().random_range(start..end),
            };
            Ok(Value::from(n))
        }
        Func::MathAdd => {
            let (a, b) = (want_int(f, 0, &args[0])?, want_int(f, 1, &args[1])?);
            let in_range = |x: i64| i32::try_from(x).is_ok();
            if !in_range(a) || !in_range(b) {
                return Err(format!(
                    "{}: arguments must be within the 32-bit integer range",
                    f.name()
                ));
            }
            Ok(Value::from(a + b))
        }
        Func::StringSplit => {
            let s = want_str(f, 0, &args[0])?;
            let delims: Vec<char> = want_str(f, 1, &args[1])?.chars().collect();
            Ok(Value::Array(
                s.split(|c| delims.contains(&c))
                    .filter(|p| !p.is_empty())
                    .map(|p| Value::String(p.to_string()))
                    .collect(),
            ))
        }
        Func::Uuid => Ok(Value::String(uuid::Uuid::new_v4().to_string())),
    }
}

fn check_len(f: Func, s: &str) -> Result<(), String> {
    let n = s.chars().count();
    if n > MAX_STRING_INPUT {
        return Err(format!(
            "{}: the input has {n} characters; at most {MAX_STRING_INPUT} are allowed",
            f.name()
        ));
    }
    Ok(())
}

fn hash(alg: &str, data: &[u8]) -> Option<String> {
    use sha2::Digest as _;
    let bytes: Vec<u8> = match alg {
        "MD5" => md5::Md5::digest(data).to_vec(),
        "SHA-1" => sha1::Sha1::digest(data).to_vec(),
        "SHA-256" => sha2::Sha256::digest(data).to_vec(),
        "SHA-384" => sha2::Sha384::digest(data).to_vec(),
        "SHA-512" => sha2::Sha512::digest(data).to_vec(),
        _ => return None,
    };
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Cuts a template that arrived as data (not a literal) at its `{}` holes.
fn pieces_of(template: &str) -> Vec<FmtPiece> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('{' | '}' | '\\' | '\'')) => {
                text.extend(chars.next());
            }
            '{' if chars.peek() == Some(&'}') => {
                chars.next();
                pieces.push(FmtPiece::Text(std::mem::take(&mut text)));
                pieces.push(FmtPiece::Hole);
            }
            c => text.push(c),
        }
    }
    pieces.push(FmtPiece::Text(text));
    pieces
}

/// States.Format: fills each `{}` with one argument, rendered without JSON quotes.
pub fn format(pieces: &[FmtPiece], args: &[Value]) -> Result<Value, String> {
    let holes = pieces.iter().filter(|p| **p == FmtPiece::Hole).count();
    if holes != args.len() {
        return Err(format!(
            "States.Format: the format string has {holes} placeholder(s) but {} argument(s) were given",
            args.len()
        ));
    }
    let mut out = String::new();
    let mut next = args.iter();
    for p in pieces {
        match p {
            FmtPiece::Text(t) => out.push_str(t),
            FmtPiece::Hole => render(next.next().unwrap_or(&Value::Null), &mut out),
        }
    }
    Ok(Value::String(out))
}

/// Renders a value the way AWS's Java runtime prints it: `{k=v, k2=v2}`, `[a, b]`.
fn render(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => out.push_str(s),
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render(x, out);
            }
            out.push(']');
        }
        Value::Object(o) => render_object(o, out),
    }
}

fn render_object(o: &Map<String, Value>, out: &mut String) {
    out.push('{');
    for (i, (k, x)) in o.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(k);
        out.push('=');
        render(x, out);
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn math_add_rounds_half_up() {
        for (a, b, want) in [
            (1.49, 1.5, 3),
            (-2.5, 0.0, -2),
            (2.5, 0.0, 3),
            (-1.51, 0.0, -2),
            (-0.5, 0.0, 0),
        ] {
            assert_eq!(
                apply(Func::MathAdd, vec![json!(a), json!(b)]).unwrap(),
                json!(want),
                "{a}+{b}"
            );
        }
        assert!(apply(Func::MathAdd, vec![json!(3_000_000_000i64), json!(1)]).is_err());
    }

    #[test]
    fn split_drops_empty_parts() {
        let r = apply(Func::StringSplit, vec![json!(", , ,"), json!(",")]).unwrap();
        assert_eq!(r, json!([" ", " "]));
    }

    #[test]
    fn range_and_partition() {
        assert_eq!(
            apply(Func::ArrayRange, vec![json!(0), json!(10), json!(3)]).unwrap(),
            json!([0, 3, 6, 9])
        );
        assert!(apply(Func::ArrayRange, vec![json!(0), json!(5000), json!(1)]).is_err());
        assert_eq!(
            apply(Func::ArrayPartition, vec![json!([0, 1, 2]), json!(2)]).unwrap(),
            json!([[0, 1], [2]])
        );
    }

    #[test]
    fn format_renders_like_java() {
        let r = apply(
            Func::Format,
            vec![json!("a={} b={}"), json!({"x": 1, "y": []}), json!(null)],
        )
        .unwrap();
        assert_eq!(r, json!("a={x=1, y=[]} b=null"));
        assert!(apply(Func::Format, vec![json!("{}")]).is_err());
    }

    #[test]
    fn hash_and_base64() {
        let r = apply(Func::Hash, vec![json!("input data"), json!("MD5")]).unwrap();
        assert_eq!(r, json!("812f45842bc6d66ee14572ce20db8e86"));
        assert_eq!(
            apply(Func::Base64Encode, vec![json!("Data to encode")]).unwrap(),
            json!("RGF0YSB0byBlbmNvZGU=")
        );
        assert!(apply(Func::Hash, vec![json!("x"), json!("CRC")]).is_err());
        assert!(apply(Func::Base64Decode, vec![json!("%%%")]).is_err());
    }
}
