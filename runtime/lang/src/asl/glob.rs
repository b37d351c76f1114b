//! `StringMatches` patterns: `*` is the only wildcard; `\*` and `\\` are literal.
//!
//! Hand-written because glob crates treat `?`, `[`, `/` or `**` specially, which ASL does not.

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Lit(String),
    Star,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Glob {
    pieces: Vec<Piece>,
}

impl Glob {
    pub fn parse(pattern: &str) -> Result<Glob, String> {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(e @ ('*' | '\\')) => lit.push(e),
                    Some(other) => {
                        return Err(format!(
                            "invalid escape '\\{other}' in StringMatches pattern '{pattern}': only '\\*' and '\\\\' are allowed"
                        ));
                    }
                    None => {
                        return Err(format!("StringMatches pattern '{pattern}' ends with a dangling '\\'"));
                    }
                },
                '*' => {
                    if !lit.is_empty() {
                        pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                    }
                    if pieces.last() != Some(&Piece::Star) {
                        pieces.push(Piece::Star);
                    }
                }
                c => lit.push(c),
            }
        }
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit));
        }
        Ok(Glob { pieces })
    }

    pub fn matches(&self, s: &str) -> bool {
        match_from(&self.pieces, s)
    }
}

fn match_from(pieces: &[Piece], s: &str) -> bool {
    match pieces.split_first() {
        None => s.is_empty(),
        Some((Piece::Lit(l), rest)) => s.strip_prefix(l.as_str()).is_some_and(|r| match_from(rest, r)),
        Some((Piece::Star, rest)) => {
            if rest.is_empty() {
                return true;
            }
            s.char_indices()
                .map(|(i, _)| i)
                .chain([s.len()])
                .any(|i| match_from(rest, &s[i..]))
        }
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
    }
}
