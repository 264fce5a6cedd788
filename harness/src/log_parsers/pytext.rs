//! Python `str` semantics the parsers rely on: `split()` and `strip()` with no argument use
//! Python's notion of whitespace, which includes U+001C..U+001F (Rust's does not).

fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `s.split()`.
pub fn py_split(s: &str) -> Vec<&str> {
    s.split(is_py_space).filter(|w| !w.is_empty()).collect()
}

/// `s.strip()`.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// `s.lstrip()`.
pub fn py_lstrip(s: &str) -> &str {
    s.trim_start_matches(is_py_space)
}

/// `s.split(sep)[0]`.
pub fn before_first<'a>(s: &'a str, sep: &str) -> &'a str {
    s.split(sep).next().unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_strip_like_python() {
        assert_eq!(
            py_split("  a\tb\u{1f}c \u{a0}d\n"),
            vec!["a", "b", "c", "d"]
        );
        assert!(py_split("   ").is_empty());
        assert_eq!(py_strip("\u{1c} x y \r"), "x y");
        assert_eq!(py_lstrip("  ok "), "ok ");
        assert_eq!(before_first("a ... FAIL ... FAIL", " ... FAIL"), "a");
    }
}
