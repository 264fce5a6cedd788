//! Languages we parse with tree-sitter: detection from a file name, parsing, and syntax errors.
//!
//! The edit tools call [`syntax_errors`] before and after an edit to refuse edits that break a
//! file; the symbol index uses [`parse`] to read definitions and references.

use std::cell::RefCell;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tree_sitter::{Node, Parser, Tree};

/// A language with a tree-sitter grammar compiled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Lang {
    Python,
    Rust,
    JavaScript,
    TypeScript,
    /// TypeScript with JSX (`.tsx`), which needs its own grammar.
    Tsx,
    Go,
    Java,
}

impl Lang {
    pub const ALL: [Lang; 7] = [
        Lang::Python,
        Lang::Rust,
        Lang::JavaScript,
        Lang::TypeScript,
        Lang::Tsx,
        Lang::Go,
        Lang::Java,
    ];

    /// The language of a file, from its extension. `None` for anything we cannot parse.
    pub fn from_path(path: &Path) -> Option<Lang> {
        let ext = path.extension()?.to_str()?;
        Self::from_extension(ext)
    }

    /// The language for a file extension (without the dot, case-insensitive).
    pub fn from_extension(ext: &str) -> Option<Lang> {
        let lang = match ext.to_ascii_lowercase().as_str() {
            "py" | "pyi" | "pyw" => Lang::Python,
            "rs" => Lang::Rust,
            "js" | "jsx" | "mjs" | "cjs" => Lang::JavaScript,
            "ts" | "mts" | "cts" => Lang::TypeScript,
            "tsx" => Lang::Tsx,
            "go" => Lang::Go,
            "java" => Lang::Java,
            _ => return None,
        };
        Some(lang)
    }

    /// A human name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Python => "Python",
            Lang::Rust => "Rust",
            Lang::JavaScript => "JavaScript",
            Lang::TypeScript => "TypeScript",
            Lang::Tsx => "TypeScript (TSX)",
            Lang::Go => "Go",
            Lang::Java => "Java",
        }
    }

    /// The tree-sitter grammar.
    pub fn grammar(self) -> tree_sitter::Language {
        match self {
            Lang::Python => tree_sitter_python::LANGUAGE.into(),
            Lang::Rust => tree_sitter_rust::LANGUAGE.into(),
            Lang::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Lang::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Lang::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
            Lang::Go => tree_sitter_go::LANGUAGE.into(),
            Lang::Java => tree_sitter_java::LANGUAGE.into(),
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

thread_local! {
    /// One parser per language per thread: creating a parser and setting its language costs more
    /// than parsing a small file, and the index parses thousands of files on a thread pool.
    static PARSERS: RefCell<[Option<Parser>; 7]> = const { RefCell::new([None, None, None, None, None, None, None]) };
}

/// Parses `source` as `lang`. `None` only if the grammar cannot be loaded (an ABI mismatch
/// between tree-sitter and a grammar crate), which is logged.
pub fn parse(lang: Lang, source: &str) -> Option<Tree> {
    parse_ranges(lang, source, &[])
}

/// Parses only the given byte ranges of `source`, as if they were one text (tree-sitter's
/// included ranges); positions in the tree stay those of `source`. Empty `ranges` parses all.
pub fn parse_ranges(lang: Lang, source: &str, ranges: &[tree_sitter::Range]) -> Option<Tree> {
    PARSERS.with(|cell| {
        let mut parsers = cell.borrow_mut();
        let slot = &mut parsers[lang.index()];
        if slot.is_none() {
            let mut parser = Parser::new();
            if let Err(err) = parser.set_language(&lang.grammar()) {
                tracing::error!("cannot load the {} grammar: {err}", lang.name());
                return None;
            }
            *slot = Some(parser);
        }
        let parser = slot.as_mut()?;
        if ranges.is_empty() {
            return parser.parse(source, None);
        }
        if let Err(err) = parser.set_included_ranges(ranges) {
            tracing::warn!("invalid included ranges for a {} file: {err}", lang.name());
            return None;
        }
        let tree = parser.parse(source, None);
        // The parser is reused for whole files next.
        let _ = parser.set_included_ranges(&[]);
        tree
    })
}

/// Whether an error is unexpected text or a token the parser had to assume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyntaxErrorKind {
    /// Text the grammar cannot place (a tree-sitter `ERROR` node).
    Unexpected,
    /// A token that should be there and is not (a tree-sitter `MISSING` node).
    Missing,
    /// Python indentation the parser tolerates but Python rejects: an empty block, or a
    /// statement indented differently from the block it is in.
    Indentation,
}

/// One syntax error in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyntaxErrorInfo {
    /// 1-based line of the error's start.
    pub line: usize,
    /// 1-based column (in characters) of the error's start.
    pub column: usize,
    /// 1-based line where the erroneous region ends.
    pub end_line: usize,
    pub kind: SyntaxErrorKind,
    /// Short description, e.g. "missing `)`" or "unexpected `else:`".
    pub message: String,
}

impl std::fmt::Display for SyntaxErrorInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}:{}: {}", self.line, self.column, self.message)
    }
}

/// The syntax errors in `source`, read as the language of `path`, sorted by position.
/// `None` when the language is not supported (no check possible); `Some(vec![])` when clean.
pub fn syntax_errors(path: &Path, source: &str) -> Option<Vec<SyntaxErrorInfo>> {
    let lang = Lang::from_path(path)?;
    let tree = parse(lang, source)?;
    let mut errors = syntax_errors_in_tree(&tree, source);
    if lang == Lang::Python {
        errors.extend(crate::python_layout::layout_errors(&tree, source));
        errors.sort_by_key(|e| (e.line, e.column));
    }
    Some(errors)
}

/// The syntax errors of an already parsed tree, sorted by position.
pub fn syntax_errors_in_tree(tree: &Tree, source: &str) -> Vec<SyntaxErrorInfo> {
    let mut errors = Vec::new();
    let root = tree.root_node();
    if root.has_error() {
        collect_errors(root, source, &mut errors);
    }
    errors.sort_by_key(|e| (e.line, e.column));
    errors.dedup_by(|a, b| a.line == b.line && a.column == b.column && a.message == b.message);
    errors
}

fn collect_errors(node: Node<'_>, source: &str, out: &mut Vec<SyntaxErrorInfo>) {
    if node.is_missing() {
        out.push(error_info(node, source, SyntaxErrorKind::Missing));
        return;
    }
    if node.is_error() {
        // Errors nested inside an ERROR node are the same mistake seen again; report it once.
        out.push(error_info(node, source, SyntaxErrorKind::Unexpected));
        return;
    }
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        if child.has_error() || child.is_missing() {
            collect_errors(child, source, out);
        }
    }
}

fn error_info(node: Node<'_>, source: &str, kind: SyntaxErrorKind) -> SyntaxErrorInfo {
    let start = node.start_position();
    let line_start = node.start_byte() - start.column;
    let column = source
        .get(line_start..node.start_byte())
        .map(|prefix| prefix.chars().count())
        .unwrap_or(start.column)
        + 1;
    let message = match kind {
        SyntaxErrorKind::Missing => format!("missing `{}`", node.kind()),
        SyntaxErrorKind::Indentation => "unexpected indentation".to_string(),
        SyntaxErrorKind::Unexpected => {
            let text = source
                .get(node.start_byte()..node.end_byte())
                .unwrap_or("")
                .trim();
            let first_line = text.lines().next().unwrap_or("").trim();
            if first_line.is_empty() {
                "unexpected end of input or token".to_string()
            } else {
                format!("unexpected `{}`", shorten(first_line, 40))
            }
        }
    };
    SyntaxErrorInfo {
        line: start.row + 1,
        column,
        end_line: node.end_position().row + 1,
        kind,
        message,
    }
}

/// At most `max` characters of `text`, with an ellipsis when cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_languages_from_extensions() {
        let cases = [
            ("a/b.py", Some(Lang::Python)),
            ("x.pyi", Some(Lang::Python)),
            ("src/lib.rs", Some(Lang::Rust)),
            ("app.js", Some(Lang::JavaScript)),
            ("app.JSX", Some(Lang::JavaScript)),
            ("m.mjs", Some(Lang::JavaScript)),
            ("m.cjs", Some(Lang::JavaScript)),
            ("t.ts", Some(Lang::TypeScript)),
            ("t.tsx", Some(Lang::Tsx)),
            ("main.go", Some(Lang::Go)),
            ("Main.java", Some(Lang::Java)),
            ("README.md", None),
            ("Makefile", None),
        ];
        for (path, want) in cases {
            assert_eq!(Lang::from_path(Path::new(path)), want, "{path}");
        }
    }

    #[test]
    fn every_grammar_loads_and_parses_clean_code() {
        let samples = [
            ("a.py", "def f(x):\n    return x\n"),
            ("a.rs", "fn f(x: u32) -> u32 { x }\n"),
            ("a.js", "function f(x) { return <div>{x}</div>; }\n"),
            ("a.ts", "function f(x: number): number { return x; }\n"),
            ("a.tsx", "const f = (x: number) => <b>{x}</b>;\n"),
            ("a.go", "package a\nfunc F(x int) int { return x }\n"),
            ("A.java", "class A { int f(int x) { return x; } }\n"),
        ];
        for (path, src) in samples {
            assert_eq!(
                syntax_errors(Path::new(path), src),
                Some(vec![]),
                "{path} should parse cleanly"
            );
        }
    }

    #[test]
    fn unsupported_language_gives_none() {
        assert_eq!(syntax_errors(Path::new("notes.txt"), "((("), None);
    }

    #[test]
    fn python_error_is_located() {
        let src = "def ok():\n    return 1\n\ndef broken(:\n    pass\n";
        let errors = syntax_errors(Path::new("m.py"), src).unwrap();
        assert!(!errors.is_empty());
        assert_eq!(errors[0].line, 4, "{errors:?}");
    }

    #[test]
    fn missing_token_is_named() {
        let src = "fn main() {\n    let x = (1 + 2;\n}\n";
        let errors = syntax_errors(Path::new("m.rs"), src).unwrap();
        assert!(!errors.is_empty());
        assert_eq!(errors[0].line, 2, "{errors:?}");
    }

    #[test]
    fn errors_are_sorted_by_position() {
        let src = "class A {\n  void f() { int x = ; }\n  void g() { return 1 +; }\n}\n";
        let errors = syntax_errors(Path::new("A.java"), src).unwrap();
        assert!(errors.len() >= 2, "{errors:?}");
        let positions: Vec<_> = errors.iter().map(|e| (e.line, e.column)).collect();
        let mut sorted = positions.clone();
        sorted.sort();
        assert_eq!(positions, sorted);
        assert_eq!(errors[0].line, 2);
    }

    #[test]
    fn column_counts_characters() {
        let src = "x = 'é'\ny = )\n";
        let errors = syntax_errors(Path::new("m.py"), src).unwrap();
        assert_eq!(errors[0].line, 2, "{errors:?}");
        assert!(errors[0].column >= 1);
        assert!(errors[0].to_string().starts_with("line 2:"));
    }
}
