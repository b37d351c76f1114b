//! ResultPath: a Reference Path that writes a result into the state input, creating the
//! intermediate objects it needs.

use serde_json::{Map, Value};

use super::Path;
use super::jsonpath::Segment;

/// A compiled ResultPath target below `$`.
#[derive(Debug, Clone)]
pub struct ResultTarget {
    text: String,
    keys: Vec<Key>,
}

#[derive(Debug, Clone)]
enum Key {
    Field(String),
    Index(usize),
}

impl ResultTarget {
    /// Accepts `$`, `$.a.b`, `$['a'][0]`; rejects `$$`, variables and anything indefinite.
    pub fn parse(text: &str) -> Result<ResultTarget, String> {
        if text.starts_with("$$") {
            return Err(format!("ResultPath '{text}' cannot refer to the context object"));
        }
        let path = Path::parse(text)?;
        if path.variable().is_some() {
            return Err(format!("ResultPath '{text}' cannot refer to a variable"));
        }
        if !path.is_reference() {
            return Err(format!("'{text}' is not a valid Reference Path"));
        }
        let keys = path
            .query
            .segments()
            .iter()
            .map(|s| match s {
                Segment::Child(n) => Ok(Key::Field(n.clone())),
                Segment::Index(i) if *i >= 0 => Ok(Key::Index(*i as usize)),
                _ => Err(format!("'{text}' is not a valid Reference Path")),
            })
            .collect::<Result<_, _>>()?;
        Ok(ResultTarget {
            text: text.to_string(),
            keys,
        })
    }

    /// Places `result` into `doc` at this path.
    pub fn apply(&self, mut doc: Value, result: Value) -> Result<Value, String> {
        if self.keys.is_empty() {
            return Ok(result);
        }
        if !doc.is_object() && !doc.is_array() {
            return Err(self.mismatch(&doc));
        }
        let mut slot = &mut doc;
        let last = self.keys.len() - 1;
        for (i, key) in self.keys.iter().enumerate() {
            let here = match key {
                Key::Field(name) => {
                    if slot.is_null() {
                        *slot = Value::Object(Map::new());
                    }
                    let Some(obj) = slot.as_object_mut() else {
                        return Err(format!(
                            "Unable to apply ResultPath '{}': '{}' is not an object",
                            self.text, name
                        ));
                    };
                    obj.entry(name.clone()).or_insert(Value::Null)
                }
                Key::Index(n) => match slot.as_array_mut().and_then(|a| a.get_mut(*n)) {
                    Some(v) => v,
                    None => {
                        return Err(format!(
                            "Unable to apply ResultPath '{}': index {n} does not exist",
                            self.text
                        ));
                    }
                },
            };
            if i == last {
                *here = result;
                return Ok(doc);
            }
            slot = here;
        }
        Ok(doc)
    }

    fn mismatch(&self, doc: &Value) -> String {
        format!(
            "Unable to apply ResultPath '{}' to input {}",
            self.text,
            super::to_json_text(doc)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn creates_intermediate_objects() {
        let t = ResultTarget::parse("$.a.b.c").unwrap();
        assert_eq!(
            t.apply(json!({"x": 1}), json!(5)).unwrap(),
            json!({"x": 1, "a": {"b": {"c": 5}}})
        );
        let t = ResultTarget::parse("$").unwrap();
        assert_eq!(t.apply(json!({"x": 1}), json!(5)).unwrap(), json!(5));
        assert!(ResultTarget::parse("$.x").unwrap().apply(json!("s"), json!(1)).is_err());
        assert!(ResultTarget::parse("$$.x").is_err());
        assert!(ResultTarget::parse("$.a[*]").is_err());
    }
}
