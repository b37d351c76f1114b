//! `StringMatches` patterns: `*` is the only wildcard; `\*` and `\\` are literal.
//!
//! Hand-written because glob crates treat `?`, `[`, `/` or `**` specially, which ASL does not.
//! Matching takes linear time whatever the pattern: with `*` as the only wildcard, the text
//! must start with the part before the first `*`, end with the part after the last one, and
//! hold the parts in between in order, each found at its leftmost place (no backtracking; a
//! pattern like `*a*a*a*b` cannot make it exponential).

/// A compiled pattern: `prefix*middle[0]*…*middle[n]*suffix`, or an exact text.
#[derive(Debug, Clone, PartialEq)]
pub struct Glob {
    prefix: String,
    /// `None` when the pattern has no `*` at all (only `prefix` then, matched exactly).
    starred: Option<Starred>,
}

#[derive(Debug, Clone, PartialEq)]
struct Starred {
    middle: Vec<String>,
    suffix: String,
}

impl Glob {
    pub fn parse(pattern: &str) -> Result<Glob, String> {
        // Literal runs between stars; consecutive stars make empty runs, which match anywhere.
        let mut runs = vec![String::new()];
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(e @ ('*' | '\\')) => runs.last_mut().expect("one run at least").push(e),
                    Some(other) => {
                        return Err(format!(
                            "invalid escape '\\{other}' in StringMatches pattern '{pattern}': only '\\*' and '\\\\' are allowed"
                        ));
                    }
                    None => {
                        return Err(format!("StringMatches pattern '{pattern}' ends with a dangling '\\'"));
                    }
                },
                '*' => runs.push(String::new()),
                c => runs.last_mut().expect("one run at least").push(c),
            }
        }
        let prefix = runs.remove(0);
        let starred = runs.pop().map(|suffix| Starred {
            middle: runs.into_iter().filter(|r| !r.is_empty()).collect(),
            suffix,
        });
        Ok(Glob { prefix, starred })
    }

    pub fn matches(&self, s: &str) -> bool {
        let Some(st) = &self.starred else {
            return s == self.prefix;
        };
        if s.len() < self.prefix.len() + st.suffix.len() || !s.starts_with(&self.prefix) || !s.ends_with(&st.suffix) {
            return false;
        }
        let mut rest = &s[self.prefix.len()..s.len() - st.suffix.len()];
        for part in &st.middle {
            match rest.find(part.as_str()) {
                Some(i) => rest = &rest[i + part.len()..],
                None => return false,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let g = Glob::parse("log-*.txt").unwrap();
        assert!(g.matches("log-2024.txt"));
        assert!(g.matches("log-.txt"));
        assert!(!g.matches("log-1.txt.gz"));
        assert!(Glob::parse("a\\*b").unwrap().matches("a*b"));
        assert!(!Glob::parse("a\\*b").unwrap().matches("axb"));
        assert!(Glob::parse("*").unwrap().matches(""));
        assert!(Glob::parse("a?c").unwrap().matches("a?c"));
        assert!(!Glob::parse("a?c").unwrap().matches("abc"));
        assert!(Glob::parse("bad\\").is_err());
        assert!(Glob::parse("bad\\x").is_err());
        assert!(Glob::parse("a*b*c").unwrap().matches("abc"));
        assert!(Glob::parse("a*b*c").unwrap().matches("aXbYbZc"));
        assert!(!Glob::parse("a*b*c").unwrap().matches("acb"));
        assert!(!Glob::parse("ab*ba").unwrap().matches("aba"));
        assert!(Glob::parse("**").unwrap().matches("anything"));
        assert!(Glob::parse("*é*").unwrap().matches("café au lait"));
    }

    #[test]
    fn hostile_patterns_take_linear_time() {
        // Exponential for a backtracking matcher; one pass here.
        let g = Glob::parse(&format!("{}b", "*a".repeat(200))).unwrap();
        let text = "a".repeat(100_000);
        assert!(!g.matches(&text));
        assert!(g.matches(&format!("{text}b")));
    }
}
