//! A Python tokenizer that finds logical lines, their indentation and identifier tokens.
//!
//! Tree-sitter parses about 8 MB/s of Python per core, and most of a Python file is function
//! bodies that hold no definitions. This scanner (a single pass, several times faster than the
//! parse) finds those bodies so the parser can skip them through included ranges, and it
//! collects the identifier references of the whole file, bodies included.

/// How a logical line starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineHead {
    Def,
    Class,
    Decorator,
    /// A string literal: a docstring when it is the first statement of a body.
    Str,
    /// `elif`, `else`, `except`, `finally`: a clause continuing the statement above.
    Clause,
    /// `try`, which cannot stand without its clauses.
    Try,
    /// Starts with `self.` (in a constructor, may declare a field).
    SelfAttr,
    Other,
}

/// One logical line (physical lines joined by brackets or backslashes).
#[derive(Debug, Clone)]
pub(crate) struct LogicalLine {
    /// Byte offset of the start of its first physical line (indentation included).
    pub start: usize,
    /// Byte offset just past the newline that ends it (or the end of the file).
    pub end: usize,
    /// 0-based rows of its first and last physical line.
    pub start_row: u32,
    pub end_row: u32,
    /// Indentation width (tabs to multiples of 8).
    pub indent: u32,
    pub head: LineHead,
    /// The last token is `:` (a compound statement header with its block on the next lines).
    pub opens_block: bool,
    /// For `def` lines, the function's name.
    pub def_name: Option<(usize, usize)>,
    /// Byte range of the string the line starts with, if it is the line's only token.
    pub only_string: Option<(usize, usize)>,
    /// Byte offsets of the start and end of the first token, and the end of the last.
    pub first_token: usize,
    pub first_token_end: usize,
    pub last_token_end: usize,
    /// The first token, if it is an identifier (or keyword).
    pub first_ident: Option<(usize, usize)>,
    /// What follows the first token.
    pub second: Second,
    /// A `;` outside brackets: several statements on the line.
    pub has_semicolon: bool,
}

/// The token after the first one, enough to tell `x = ...` and `x: T` from other statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Second {
    None,
    /// `=` (not `==`).
    Assign,
    /// `:` (not `:=`).
    Annotation,
    Comma,
    Other,
}

pub(crate) struct Scan<'s> {
    pub lines: Vec<LogicalLine>,
    /// Identifier tokens outside strings and comments, with 1-based lines.
    pub refs: Vec<(&'s str, u32)>,
}

/// Keywords, plus `self` and `cls`: not recorded as references. A `match` compiles to length
/// and byte checks, much cheaper than searching a list for every identifier.
fn is_unreferenced_word(word: &str) -> bool {
    matches!(
        word,
        "False"
            | "None"
            | "True"
            | "and"
            | "as"
            | "assert"
            | "async"
            | "await"
            | "break"
            | "class"
            | "continue"
            | "def"
            | "del"
            | "elif"
            | "else"
            | "except"
            | "finally"
            | "for"
            | "from"
            | "global"
            | "if"
            | "import"
            | "in"
            | "is"
            | "lambda"
            | "nonlocal"
            | "not"
            | "or"
            | "pass"
            | "raise"
            | "return"
            | "try"
            | "while"
            | "with"
            | "yield"
            | "self"
            | "cls"
    )
}

/// A Python keyword (`self` and `cls` are not, though references skip them too).
pub(crate) fn is_keyword(word: &str) -> bool {
    word != "self" && word != "cls" && is_unreferenced_word(word)
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_continue(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

fn is_string_prefix(word: &[u8]) -> bool {
    word.len() <= 2
        && word
            .iter()
            .all(|b| matches!(b.to_ascii_lowercase(), b'r' | b'b' | b'u' | b'f' | b't'))
}

struct Pending {
    start: usize,
    start_row: u32,
    indent: u32,
    head: Option<LineHead>,
    after_def: bool,
    after_async: bool,
    def_name: Option<(usize, usize)>,
    last_is_colon: bool,
    tokens: u32,
    first_string: Option<(usize, usize)>,
    first_token: usize,
    first_token_end: usize,
    last_token_end: usize,
    first_ident: Option<(usize, usize)>,
    second: Second,
    has_semicolon: bool,
}

impl Pending {
    /// Called at the first byte of every token.
    fn begin_token(&mut self, b: &[u8], i: usize, depth: u32) {
        self.tokens += 1;
        match self.tokens {
            1 => self.first_token = i,
            2 => {
                self.second = match (b[i], b.get(i + 1)) {
                    (b'=', Some(b'=')) | (b':', Some(b'=')) => Second::Other,
                    (b'=', _) => Second::Assign,
                    (b':', _) => Second::Annotation,
                    (b',', _) => Second::Comma,
                    _ => Second::Other,
                }
            }
            _ => {}
        }
        if b[i] == b';' && depth == 0 {
            self.has_semicolon = true;
        }
    }
}

// Kept whole: one pass over the bytes whose state (position, row, bracket depth, the pending
// logical line) every branch reads and advances; split up, each piece would take all of it.
pub(crate) fn scan(source: &str) -> Scan<'_> {
    let b = source.as_bytes();
    let n = b.len();
    let mut lines = Vec::new();
    let mut refs = Vec::new();
    let mut i = 0usize;
    let mut row = 0u32;
    let mut depth = 0u32;
    let mut pending: Option<Pending> = None;

    while i < n {
        if pending.is_none() {
            // Start of a physical line outside any logical line: measure indentation.
            let line_start = i;
            let mut indent = 0u32;
            while i < n {
                match b[i] {
                    b' ' => indent += 1,
                    b'\t' => indent = (indent / 8 + 1) * 8,
                    b'\x0c' => indent = 0,
                    b'\r' => {}
                    _ => break,
                }
                i += 1;
            }
            if i >= n {
                break;
            }
            match b[i] {
                b'\n' => {
                    i += 1;
                    row += 1;
                    continue;
                }
                b'#' => {
                    i = memchr_newline(b, i);
                    continue;
                }
                b'\\' if b.get(i + 1) == Some(&b'\n') => {
                    // A continuation with nothing before it; treat as part of a line.
                }
                _ => {}
            }
            pending = Some(Pending {
                start: line_start,
                start_row: row,
                indent,
                head: None,
                after_def: false,
                after_async: false,
                def_name: None,
                last_is_colon: false,
                tokens: 0,
                first_string: None,
                first_token: i,
                first_token_end: i,
                last_token_end: i,
                first_ident: None,
                second: Second::None,
                has_semicolon: false,
            });
            depth = 0;
        }
        let Some(line) = pending.as_mut() else {
            continue;
        };
        let c = b[i];
        let is_token = !matches!(c, b'\n' | b'\\' | b'#' | b' ' | b'\t' | b'\r' | b'\x0c');
        if is_token {
            line.begin_token(b, i, depth);
        }
        match c {
            b'\n' => {
                i += 1;
                row += 1;
                if depth == 0 {
                    let done = pending.take();
                    if let Some(p) = done {
                        lines.push(finish(p, i, row - 1));
                    }
                }
            }
            b'\\' => {
                // Line continuation (or a stray backslash): the logical line goes on.
                i += 1;
                if b.get(i) == Some(&b'\r') {
                    i += 1;
                }
                if b.get(i) == Some(&b'\n') {
                    i += 1;
                    row += 1;
                }
            }
            b'#' => i = memchr_newline(b, i),
            b' ' | b'\t' | b'\r' | b'\x0c' => i += 1,
            b'\'' | b'"' => {
                let start = i;
                note_token(line, LineHead::Str, false);
                i = skip_string(b, i, &mut row);
                if line.tokens == 1 {
                    line.first_string = Some((start, i));
                }
            }
            b'0'..=b'9' => {
                note_token(line, LineHead::Other, false);
                i = skip_number(b, i);
            }
            b'.' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                note_token(line, LineHead::Other, false);
                i = skip_number(b, i + 1);
            }
            c if is_ident_start(c) => {
                let start = i;
                while i < n && is_ident_continue(b[i]) {
                    i += 1;
                }
                let word = &b[start..i];
                if i < n && (b[i] == b'\'' || b[i] == b'"') && is_string_prefix(word) {
                    note_token(line, LineHead::Str, false);
                    i = skip_string(b, i, &mut row);
                    if line.tokens == 1 {
                        line.first_string = Some((start, i));
                    }
                    line.last_token_end = i;
                    if line.tokens == 1 {
                        line.first_token_end = i;
                    }
                    continue;
                }
                if line.tokens == 1 {
                    line.first_ident = Some((start, i));
                }
                let text = &source[start..i];
                if line.after_def {
                    line.def_name = Some((start, i));
                    line.after_def = false;
                }
                match text {
                    "def" if line.head.is_none() || line.after_async => {
                        line.head = Some(LineHead::Def);
                        line.after_def = true;
                        line.after_async = false;
                    }
                    "class" if line.head.is_none() => line.head = Some(LineHead::Class),
                    "elif" | "else" | "except" | "finally" if line.head.is_none() => {
                        line.head = Some(LineHead::Clause)
                    }
                    "try" if line.head.is_none() => line.head = Some(LineHead::Try),
                    "self" if line.head.is_none() && b.get(i) == Some(&b'.') => {
                        line.head = Some(LineHead::SelfAttr)
                    }
                    "async" if line.head.is_none() => {
                        line.after_async = true;
                        line.head = Some(LineHead::Other);
                    }
                    _ => {
                        line.after_async = false;
                        note_token(line, LineHead::Other, false);
                    }
                }
                line.last_is_colon = false;
                if !is_unreferenced_word(text) {
                    refs.push((text, row + 1));
                }
            }
            b'(' | b'[' | b'{' => {
                note_token(line, LineHead::Other, false);
                depth += 1;
                i += 1;
            }
            b')' | b']' | b'}' => {
                note_token(line, LineHead::Other, false);
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'@' => {
                note_token(line, LineHead::Decorator, false);
                i += 1;
            }
            b':' => {
                note_token(line, LineHead::Other, true);
                i += 1;
            }
            _ => {
                note_token(line, LineHead::Other, false);
                i += 1;
            }
        }
        if is_token && let Some(line) = pending.as_mut() {
            line.last_token_end = i;
            if line.tokens == 1 {
                line.first_token_end = i;
            }
        }
    }
    if let Some(p) = pending.take() {
        lines.push(finish(p, n, row));
    }
    Scan { lines, refs }
}

fn note_token(line: &mut Pending, head: LineHead, is_colon: bool) {
    if line.head.is_none() {
        line.head = Some(head);
    }
    line.after_def = false;
    line.last_is_colon = is_colon;
}

fn finish(p: Pending, end: usize, end_row: u32) -> LogicalLine {
    LogicalLine {
        start: p.start,
        end,
        start_row: p.start_row,
        end_row,
        indent: p.indent,
        head: p.head.unwrap_or(LineHead::Other),
        opens_block: p.last_is_colon,
        def_name: p.def_name,
        only_string: p.first_string.filter(|_| p.tokens == 1),
        first_token: p.first_token,
        first_token_end: p.first_token_end,
        last_token_end: p.last_token_end,
        first_ident: p.first_ident,
        second: p.second,
        has_semicolon: p.has_semicolon,
    }
}

fn memchr_newline(b: &[u8], from: usize) -> usize {
    b[from..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |p| from + p)
}

fn skip_number(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
        i += 1;
    }
    i
}

/// Skips a string literal starting at the quote `b[i]`; returns the offset after it and counts
/// the newlines inside. An unterminated single-quoted string ends at the end of its line.
fn skip_string(b: &[u8], i: usize, row: &mut u32) -> usize {
    let q = b[i];
    let n = b.len();
    let triple = i + 2 < n && b[i + 1] == q && b[i + 2] == q;
    let mut k = if triple { i + 3 } else { i + 1 };
    while k < n {
        match b[k] {
            b'\\' => {
                if b.get(k + 1) == Some(&b'\n') {
                    *row += 1;
                }
                k += 2;
            }
            b'\n' => {
                if !triple {
                    return k;
                }
                *row += 1;
                k += 1;
            }
            c if c == q => {
                if !triple {
                    return k + 1;
                }
                if k + 2 < n && b[k + 1] == q && b[k + 2] == q {
                    return k + 3;
                }
                k += 1;
            }
            _ => k += 1,
        }
    }
    n
}

/// The block structure of the file: for every `def`/`class` logical line, the index of its last
/// body line (itself for one-liners).
pub(crate) fn block_ends(lines: &[LogicalLine]) -> Vec<usize> {
    let mut ends: Vec<usize> = (0..lines.len()).collect();
    // A stack of open headers; a line closes every header indented at least as much.
    let mut open: Vec<usize> = Vec::new();
    for (idx, line) in lines.iter().enumerate() {
        while let Some(&top) = open.last() {
            if lines[top].indent >= line.indent {
                open.pop();
            } else {
                break;
            }
        }
        for &h in &open {
            ends[h] = idx;
        }
        if line.opens_block {
            open.push(idx);
        }
    }
    ends
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_lines_join_brackets_and_skip_strings() {
        let src = "def f(a,\n      b):\n    \"\"\"Doc\n    # not a comment\n    \"\"\"\n    return a  # c\n\nclass C: pass\n";
        let scan = scan(src);
        let heads: Vec<_> = scan.lines.iter().map(|l| (l.head, l.start_row)).collect();
        assert_eq!(
            heads,
            vec![
                (LineHead::Def, 0),
                (LineHead::Str, 2),
                (LineHead::Other, 5),
                (LineHead::Class, 7)
            ]
        );
        assert!(scan.lines[0].opens_block);
        assert!(!scan.lines[3].opens_block);
        let (s, e) = scan.lines[0].def_name.unwrap();
        assert_eq!(&src[s..e], "f");
        let names: Vec<_> = scan.refs.iter().map(|r| r.0).collect();
        assert_eq!(names, vec!["f", "a", "b", "a", "C"]);
    }

    #[test]
    fn string_prefixes_and_async_def() {
        let src = "async def g():\n    x = rb'\\'' + f\"{y}\"\n    return x\n";
        let scan = scan(src);
        assert_eq!(scan.lines[0].head, LineHead::Def);
        let (s, e) = scan.lines[0].def_name.unwrap();
        assert_eq!(&src[s..e], "g");
        let names: Vec<_> = scan.refs.iter().map(|r| (r.0, r.1)).collect();
        assert_eq!(names, vec![("g", 1), ("x", 2), ("x", 3)]);
    }

    #[test]
    fn statement_shapes() {
        let src = "x = 1  # c\ny: int\nz == 2\na, b = 1, 2\nf(x); g = 1\nw := 3\n";
        let scan = scan(src);
        let shapes: Vec<_> = scan
            .lines
            .iter()
            .map(|l| {
                let first = l.first_ident.map(|(s, e)| &src[s..e]);
                (
                    first,
                    l.second,
                    l.has_semicolon,
                    &src[l.first_token..l.last_token_end],
                )
            })
            .collect();
        assert_eq!(
            shapes,
            vec![
                (Some("x"), Second::Assign, false, "x = 1"),
                (Some("y"), Second::Annotation, false, "y: int"),
                (Some("z"), Second::Other, false, "z == 2"),
                (Some("a"), Second::Comma, false, "a, b = 1, 2"),
                (Some("f"), Second::Other, true, "f(x); g = 1"),
                (Some("w"), Second::Other, false, "w := 3"),
            ]
        );
    }

    #[test]
    fn block_ends_follow_indentation() {
        let src = "class A:\n    def f(self):\n        if x:\n            y()\n    def g(self): pass\nz = 1\n";
        let scan = scan(src);
        let ends = block_ends(&scan.lines);
        assert_eq!(ends[0], 4, "class body ends at `def g`");
        assert_eq!(ends[1], 3, "f ends at y()");
        assert_eq!(ends[4], 4, "one-liner ends on itself");
    }
}
