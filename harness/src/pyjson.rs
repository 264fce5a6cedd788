//! JSON written byte-for-byte the way Python's `json.dumps(obj, indent=4)` writes it, so that
//! report files diff cleanly against the official harness's: keys keep their insertion order,
//! non-ASCII is escaped (`ensure_ascii=True`), `", "` / `": "` separators.

use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq)]
pub enum PyJson {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<PyJson>),
    /// Ordered key/value pairs.
    Dict(Vec<(String, PyJson)>),
}

impl PyJson {
    pub fn str(s: impl Into<String>) -> Self {
        Self::Str(s.into())
    }

    pub fn str_list<I, S>(items: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::List(items.into_iter().map(|s| Self::Str(s.into())).collect())
    }

    /// `json.dumps(self)`: one line, `", "` and `": "` separators.
    pub fn dumps(&self) -> String {
        let mut out = String::new();
        self.write_compact(&mut out);
        out
    }

    fn write_compact(&self, out: &mut String) {
        match self {
            PyJson::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write_compact(out);
                }
                out.push(']');
            }
            PyJson::Dict(pairs) => {
                out.push('{');
                for (i, (key, value)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_str(out, key);
                    out.push_str(": ");
                    value.write_compact(out);
                }
                out.push('}');
            }
            scalar => scalar.write(out, 0),
        }
    }

    /// `json.dumps(self, indent=4)`.
    pub fn dumps_indent4(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out
    }

    fn write(&self, out: &mut String, level: usize) {
        match self {
            PyJson::Null => out.push_str("null"),
            PyJson::Bool(true) => out.push_str("true"),
            PyJson::Bool(false) => out.push_str("false"),
            PyJson::Int(i) => {
                let _ = write!(out, "{i}");
            }
            PyJson::Float(f) => write_float(out, *f),
            PyJson::Str(s) => write_str(out, s),
            PyJson::List(items) => {
                if items.is_empty() {
                    out.push_str("[]");
                    return;
                }
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline_indent(out, level + 1);
                    item.write(out, level + 1);
                }
                newline_indent(out, level);
                out.push(']');
            }
            PyJson::Dict(pairs) => {
                if pairs.is_empty() {
                    out.push_str("{}");
                    return;
                }
                out.push('{');
                for (i, (key, value)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline_indent(out, level + 1);
                    write_str(out, key);
                    out.push_str(": ");
                    value.write(out, level + 1);
                }
                newline_indent(out, level);
                out.push('}');
            }
        }
    }
}

fn newline_indent(out: &mut String, level: usize) {
    out.push('\n');
    for _ in 0..level {
        out.push_str("    ");
    }
}

fn write_float(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("NaN");
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" });
    } else if f.fract() == 0.0 && f.abs() < 1e16 {
        // Python's repr keeps a ".0" on integral floats.
        let _ = write!(out, "{f:.1}");
    } else {
        let _ = write!(out, "{f}");
    }
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_python_indent4_layout() {
        let value = PyJson::Dict(vec![
            ("b".into(), PyJson::Bool(false)),
            ("a".into(), PyJson::List(vec![])),
            ("n".into(), PyJson::Int(2)),
            (
                "nested".into(),
                PyJson::Dict(vec![("x".into(), PyJson::str_list(["p", "q"]))]),
            ),
        ]);
        // What `print(json.dumps({...}, indent=4))` prints, without the trailing newline.
        let expected = "{\n    \"b\": false,\n    \"a\": [],\n    \"n\": 2,\n    \"nested\": {\n        \"x\": [\n            \"p\",\n            \"q\"\n        ]\n    }\n}";
        assert_eq!(value.dumps_indent4(), expected);
    }

    #[test]
    fn escapes_like_ensure_ascii() {
        let value = PyJson::str("é\u{1F600}\u{1}\"\\\t\u{7f}");
        assert_eq!(
            value.dumps_indent4(),
            "\"\\u00e9\\ud83d\\ude00\\u0001\\\"\\\\\\t\\u007f\""
        );
    }

    #[test]
    fn compact_like_python_default() {
        let value = PyJson::Dict(vec![("a".into(), PyJson::str_list(["x", "é"]))]);
        assert_eq!(value.dumps(), "{\"a\": [\"x\", \"\\u00e9\"]}");
        assert_eq!(PyJson::List(vec![]).dumps(), "[]");
    }

    #[test]
    fn floats_like_python_repr() {
        assert_eq!(PyJson::Float(1.0).dumps_indent4(), "1.0");
        assert_eq!(PyJson::Float(0.5).dumps_indent4(), "0.5");
        assert_eq!(PyJson::Dict(vec![]).dumps_indent4(), "{}");
    }
}
