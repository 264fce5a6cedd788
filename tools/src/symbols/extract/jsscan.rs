//! A JavaScript tokenizer that finds function bodies holding no definitions, so that the parser
//! can skip their insides (`function f(a) {}` stays valid), and collects identifier references.
//!
//! A body is skipped only if it has no `function` or `class` keyword and no method-like
//! `name(...) {` inside, so the definitions found are the same as from a full parse. If the
//! tokenizer misjudges something (a regular expression taken for a division, say), the
//! shortened text fails to parse and the caller falls back to the whole file.

/// Identifier tokens (1-based lines) and the byte ranges the parser may skip.
pub(crate) struct JsScan<'s> {
    pub refs: Vec<(&'s str, u32)>,
    pub elided: Vec<(usize, usize)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Ident,
    /// A keyword after which `/` starts a regular expression (`return /x/`).
    ExprKeyword,
    /// `)`, `]`, a literal or a name: a `/` after it divides.
    Operand,
    /// Punctuation after which `/` starts a regular expression.
    Punct,
    CloseParen,
    Arrow,
}

/// A `{` that is open, and whether it is a function body holding a definition.
struct Brace {
    at: usize,
    function_body: bool,
    holds_definition: bool,
    /// Ends a `${...}` substitution inside a template literal.
    template: bool,
}

const CONTROL: &[&str] = &["if", "for", "while", "switch", "catch", "with"];

fn is_expr_keyword(word: &str) -> bool {
    matches!(
        word,
        "return"
            | "typeof"
            | "instanceof"
            | "in"
            | "of"
            | "new"
            | "delete"
            | "void"
            | "throw"
            | "case"
            | "do"
            | "else"
            | "yield"
            | "await"
    )
}

fn is_reserved(word: &str) -> bool {
    is_expr_keyword(word)
        || matches!(
            word,
            "var"
                | "let"
                | "const"
                | "function"
                | "class"
                | "extends"
                | "if"
                | "for"
                | "while"
                | "switch"
                | "catch"
                | "try"
                | "finally"
                | "break"
                | "continue"
                | "default"
                | "this"
                | "super"
                | "null"
                | "true"
                | "false"
                | "undefined"
                | "import"
                | "export"
                | "from"
                | "as"
                | "async"
                | "static"
                | "get"
                | "set"
                | "debugger"
                | "with"
        )
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b'$' || b >= 0x80
}

fn is_ident_continue(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

// Kept whole: one pass over the bytes; the token, paren-owner and brace stacks are read and
// updated by every branch, so pieces would each need all of that state passed in.
pub(crate) fn scan(source: &str) -> JsScan<'_> {
    let b = source.as_bytes();
    let n = b.len();
    let mut refs = Vec::new();
    let mut elided = Vec::new();
    let mut row = 1u32;
    let mut i = 0usize;
    let mut prev: Option<Tok> = None;
    // The word before the last `(` opened at each paren depth, to tell `if (...) {` from
    // `name(...) {`.
    let mut paren_owner: Vec<Option<(usize, usize)>> = Vec::new();
    let mut closed_paren_owner: Option<(usize, usize)> = None;
    let mut last_word: Option<(usize, usize)> = None;
    let mut word_before_last: Option<(usize, usize)> = None;
    let mut braces: Vec<Brace> = Vec::new();

    let mark_definition = |braces: &mut Vec<Brace>| {
        for brace in braces.iter_mut().rev() {
            if brace.function_body {
                if brace.holds_definition {
                    break;
                }
                brace.holds_definition = true;
            }
        }
    };

    while i < n {
        let c = b[i];
        match c {
            b'\n' => {
                row += 1;
                i += 1;
            }
            b' ' | b'\t' | b'\r' | 0x0b | 0x0c => i += 1,
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < n && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < n && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    if b[i] == b'\n' {
                        row += 1;
                    }
                    i += 1;
                }
                i = (i + 2).min(n);
            }
            b'/' => {
                let regex = !matches!(prev, Some(Tok::Operand | Tok::CloseParen | Tok::Ident));
                if regex {
                    i = skip_regex(b, i + 1);
                    prev = Some(Tok::Operand);
                } else {
                    i += 1;
                    prev = Some(Tok::Punct);
                }
            }
            b'\'' | b'"' => {
                i = skip_quoted(b, i, &mut row);
                prev = Some(Tok::Operand);
            }
            b'`' => {
                i = skip_template(b, i + 1, &mut row, &mut braces);
                prev = Some(Tok::Operand);
            }
            b'0'..=b'9' => {
                while i < n && (is_ident_continue(b[i]) || b[i] == b'.') {
                    i += 1;
                }
                prev = Some(Tok::Operand);
            }
            c if is_ident_start(c) => {
                let start = i;
                while i < n && is_ident_continue(b[i]) {
                    i += 1;
                }
                let word = &source[start..i];
                if word == "function" || word == "class" {
                    mark_definition(&mut braces);
                }
                prev = Some(if is_expr_keyword(word) {
                    Tok::ExprKeyword
                } else if is_reserved(word) {
                    Tok::Punct
                } else {
                    refs.push((word, row));
                    Tok::Ident
                });
                word_before_last = last_word;
                last_word = Some((start, i));
            }
            b'(' => {
                paren_owner.push(if prev == Some(Tok::Ident) || prev == Some(Tok::Punct) {
                    last_word
                } else {
                    None
                });
                i += 1;
                prev = Some(Tok::Punct);
            }
            b')' => {
                closed_paren_owner = paren_owner.pop().flatten();
                i += 1;
                prev = Some(Tok::CloseParen);
            }
            b'=' if b.get(i + 1) == Some(&b'>') => {
                i += 2;
                prev = Some(Tok::Arrow);
            }
            b'{' => {
                let function_body = match prev {
                    Some(Tok::Arrow) => true,
                    Some(Tok::CloseParen) => {
                        let owner = closed_paren_owner.map(|(s, e)| &source[s..e]);
                        match owner {
                            Some(word) if CONTROL.contains(&word) => false,
                            Some("function") | None => true,
                            Some(_) => {
                                // `name(...) {`: a method, unless it is `function name(...)`.
                                let declared = word_before_last
                                    .is_some_and(|(s, e)| &source[s..e] == "function");
                                if !declared {
                                    mark_definition(&mut braces);
                                }
                                true
                            }
                        }
                    }
                    _ => false,
                };
                braces.push(Brace {
                    at: i,
                    function_body,
                    holds_definition: false,
                    template: false,
                });
                i += 1;
                prev = Some(Tok::Punct);
            }
            b'}' => {
                i += 1;
                prev = Some(Tok::Punct);
                match braces.pop() {
                    Some(brace) if brace.template => {
                        i = skip_template(b, i, &mut row, &mut braces);
                        prev = Some(Tok::Operand);
                    }
                    Some(brace) if brace.function_body && !brace.holds_definition => {
                        if i - 1 > brace.at + 1 {
                            elided.push((brace.at + 1, i - 1));
                        }
                    }
                    Some(_) => {}
                    None => {
                        // Unbalanced: the tokenizer lost track; skip nothing.
                        return JsScan {
                            refs,
                            elided: Vec::new(),
                        };
                    }
                }
            }
            b']' => {
                i += 1;
                prev = Some(Tok::Operand);
            }
            _ => {
                i += 1;
                prev = Some(Tok::Punct);
            }
        }
    }
    if !braces.is_empty() || !paren_owner.is_empty() {
        elided.clear();
    }
    // Keep the outermost ranges only (an inner skipped body inside a skipped body).
    elided.sort_unstable();
    let mut outer: Vec<(usize, usize)> = Vec::with_capacity(elided.len());
    for range in elided {
        match outer.last() {
            Some(last) if range.1 <= last.1 => {}
            _ => outer.push(range),
        }
    }
    JsScan {
        refs,
        elided: outer,
    }
}

fn skip_quoted(b: &[u8], i: usize, row: &mut u32) -> usize {
    let q = b[i];
    let mut k = i + 1;
    while k < b.len() {
        match b[k] {
            b'\\' => {
                if b.get(k + 1) == Some(&b'\n') {
                    *row += 1;
                }
                k += 2;
            }
            b'\n' => return k,
            c if c == q => return k + 1,
            _ => k += 1,
        }
    }
    b.len()
}

/// Skips template text from `i` to the closing backtick, or to a `${` (then a brace that ends
/// the substitution is pushed and scanning goes back to code).
fn skip_template(b: &[u8], mut i: usize, row: &mut u32, braces: &mut Vec<Brace>) -> usize {
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'\n' => {
                *row += 1;
                i += 1;
            }
            b'`' => return i + 1,
            b'$' if b.get(i + 1) == Some(&b'{') => {
                braces.push(Brace {
                    at: i + 1,
                    function_body: false,
                    holds_definition: false,
                    template: true,
                });
                return i + 2;
            }
            _ => i += 1,
        }
    }
    b.len()
}

fn skip_regex(b: &[u8], mut i: usize) -> usize {
    let mut in_class = false;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'\n' => return i,
            b'[' => {
                in_class = true;
                i += 1;
            }
            b']' => {
                in_class = false;
                i += 1;
            }
            b'/' if !in_class => {
                i += 1;
                while i < b.len() && is_ident_continue(b[i]) {
                    i += 1;
                }
                return i;
            }
            _ => i += 1,
        }
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(source: &str) -> String {
        let scan = scan(source);
        let mut out = String::new();
        let mut at = 0;
        for (s, e) in scan.elided {
            out.push_str(&source[at..s]);
            at = e;
        }
        out.push_str(&source[at..]);
        out
    }

    #[test]
    fn leaf_function_bodies_are_skipped() {
        let src = "function a(x) { if (x) { return x / 2; } return /re}/.test(x); }\nconst b = (y) => { return `t${y}}`; };\n";
        assert_eq!(kept(src), "function a(x) {}\nconst b = (y) => {};\n");
    }

    #[test]
    fn bodies_with_definitions_stay() {
        let src = "(function () { function inner() { return 1; } var o = { m() { return 2; } }; })();\nclass A { m() { return 3; } }\n";
        assert_eq!(
            kept(src),
            "(function () { function inner() {} var o = { m() {} }; })();\nclass A { m() {} }\n"
        );
    }

    #[test]
    fn references_skip_strings_comments_and_regexes() {
        let src = "// foo\nvar bar = 'baz' + /qux/g.source + `t ${quux} t`;\n";
        let names: Vec<_> = scan(src).refs.iter().map(|r| (r.0, r.1)).collect();
        assert_eq!(names, vec![("bar", 2), ("source", 2), ("quux", 2)]);
    }
}
