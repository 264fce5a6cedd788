//! Reading definitions and references out of one file.
//!
//! One iterative walk over the tree-sitter tree per file. A per-language `on_node` function
//! recognises definitions; the walker keeps the stack of enclosing definitions (so members get
//! their container) and, for languages parsed in full, collects identifier leaves as references.
//! Python is special-cased for speed: see [`python`].

mod clike;
mod jsscan;
mod pyreduce;
mod pyscan;
mod python;

use tree_sitter::{Node, Point, Range, Tree};

use super::model::{Definition, FileSymbols, RefTable, SymbolKind, content_hash};
use crate::lang::{self, Lang};

/// Longest signature kept, in characters.
const MAX_SIGNATURE: usize = 200;
/// Longest doc line kept, in characters.
const MAX_DOC: usize = 160;

/// Extracts the symbols of `source` (the content of `path`, relative to the repository root).
pub fn extract(lang: Lang, path: &str, source: &str) -> FileSymbols {
    extract_with(lang, path, source, true)
}

/// [`extract`] with Python's body skipping switchable, so that benchmarks and tests can check
/// that skipping changes no definition.
pub fn extract_with(lang: Lang, path: &str, source: &str, skip_bodies: bool) -> FileSymbols {
    let line_count = source.lines().count() as u32;
    let (defs, refs) = match lang {
        Lang::Python => python::extract(source, skip_bodies),
        // JSX text can hold quotes the tokenizer would misread: `.jsx` is parsed whole.
        other => clike::extract(other, source, skip_bodies && !path.ends_with(".jsx")),
    };
    FileSymbols {
        path: path.to_string(),
        hash: content_hash(source.as_bytes()),
        lang,
        line_count,
        defs,
        refs,
    }
}

/// Parses and extracts a whole tree with `on_node`, collecting identifier leaves as references
/// when `collect_refs` is set.
pub(crate) fn walk_tree<'s>(
    tree: &Tree,
    source: &'s str,
    collect_refs: bool,
    mut on_node: impl FnMut(&mut Walker<'s>, Node<'_>) -> bool,
) -> (Vec<Definition>, Vec<(&'s str, u32)>) {
    let mut walker = Walker {
        src: source,
        defs: Vec::new(),
        frames: Vec::new(),
        refs: Vec::new(),
        anonymous_functions: Vec::new(),
        decorated_property: false,
    };
    let mut cursor = tree.walk();
    loop {
        let node = cursor.node();
        while walker
            .frames
            .last()
            .is_some_and(|f| node.start_byte() >= f.end_byte)
        {
            walker.frames.pop();
        }
        while walker
            .anonymous_functions
            .last()
            .is_some_and(|&end| node.start_byte() >= end)
        {
            walker.anonymous_functions.pop();
        }
        let mut descend = true;
        if node.is_named() {
            if node.child_count() == 0 {
                if collect_refs
                    && node.kind().ends_with("identifier")
                    && let Some(text) = source.get(node.start_byte()..node.end_byte())
                {
                    walker
                        .refs
                        .push((text, node.start_position().row as u32 + 1));
                }
            } else {
                descend = on_node(&mut walker, node);
            }
        }
        if descend && cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                let Walker { defs, refs, .. } = walker;
                return (defs, refs);
            }
        }
    }
}

/// A definition that scopes the nodes below it.
pub(crate) struct Frame {
    /// The frame covers the nodes before this offset (the walk is in document order).
    end_byte: usize,
    def: u32,
    kind: SymbolKind,
}

/// The walk's state as the per-language functions see it.
pub(crate) struct Walker<'s> {
    pub src: &'s str,
    pub defs: Vec<Definition>,
    frames: Vec<Frame>,
    pub refs: Vec<(&'s str, u32)>,
    /// End offsets of the anonymous functions (callbacks) around the node being visited: their
    /// variables are locals, though they are not definitions themselves.
    anonymous_functions: Vec<usize>,
    /// Set by a Python decorated definition whose decorator makes a property, for the
    /// definition visited next.
    pub decorated_property: bool,
}

/// What a language function found: a definition to add.
pub(crate) struct NewDef<'t> {
    pub name: String,
    pub kind: SymbolKind,
    /// The node whose first line is the definition's line.
    pub node: Node<'t>,
    pub signature: String,
    pub doc: Option<String>,
    pub bases: Vec<String>,
}

impl<'s> Walker<'s> {
    pub fn text(&self, node: Node<'_>) -> &'s str {
        self.src
            .get(node.start_byte()..node.end_byte())
            .unwrap_or("")
    }

    /// The innermost enclosing definition.
    pub fn enclosing(&self) -> Option<(u32, SymbolKind)> {
        self.frames.last().map(|f| (f.def, f.kind))
    }

    pub fn enclosing_def(&self) -> Option<&Definition> {
        self.frames.last().map(|f| &self.defs[f.def as usize])
    }

    /// Marks `node`, an anonymous function, as a scope whose variables are locals.
    pub fn anonymous_function(&mut self, node: Node<'_>) {
        self.anonymous_functions.push(node.end_byte());
    }

    /// Inside a function or method body (where variables are locals, not definitions).
    pub fn in_function(&self) -> bool {
        !self.anonymous_functions.is_empty()
            || self.frames.iter().any(|f| {
                matches!(
                    f.kind,
                    SymbolKind::Function | SymbolKind::Method | SymbolKind::Property
                )
            })
    }

    /// Adds a definition nested in the current container.
    pub fn add(&mut self, new: NewDef<'_>) -> u32 {
        let parent = self.frames.last().map(|f| f.def);
        let container = parent
            .map(|p| self.defs[p as usize].qualified_name())
            .unwrap_or_default();
        self.add_with(new, parent, container)
    }

    /// Adds a definition with an explicit parent and container (Go methods, Python `self.x`).
    pub fn add_with(&mut self, new: NewDef<'_>, parent: Option<u32>, container: String) -> u32 {
        let start = new.node.start_position().row as u32 + 1;
        let end = new.node.end_position().row as u32 + 1;
        self.defs.push(Definition {
            name: new.name,
            kind: new.kind,
            line: start,
            end_line: end.max(start),
            parent,
            container,
            signature: new.signature,
            doc: new.doc,
            bases: new.bases,
        });
        (self.defs.len() - 1) as u32
    }

    /// Makes `def` the container of everything inside `node` (the definition's node).
    pub fn scope(&mut self, def: u32, node: Node<'_>) {
        let kind = self.defs[def as usize].kind;
        self.frames.push(Frame {
            end_byte: node.end_byte(),
            def,
            kind,
        });
    }

    /// The text from `node`'s start to `body`'s start (or all of `node`), on one line.
    pub fn header(&self, node: Node<'_>, body: Option<Node<'_>>) -> String {
        let end = body.map_or(node.end_byte(), |b| b.start_byte());
        let text = self.src.get(node.start_byte()..end).unwrap_or("");
        let mut sig = tidy_brackets(collapse_whitespace(text, MAX_SIGNATURE));
        while sig.ends_with(['{', ':', '=', ';', ' ']) && !sig.ends_with("=>") {
            sig.pop();
        }
        sig
    }

    /// The doc comment directly above `node` (or above the wrapper it is the head of).
    pub fn leading_comment(&self, node: Node<'_>) -> Option<String> {
        let mut anchor = node;
        // `export class`, `@decorator class`, `type X struct` put the comment above a wrapper.
        while anchor.prev_named_sibling().is_none_or(|p| !is_comment(p))
            && let Some(parent) = anchor.parent()
            && is_wrapper(parent.kind())
            && parent.named_child(0).is_some_and(|c| c.id() == anchor.id())
        {
            anchor = parent;
        }
        let mut expected_row = anchor.start_position().row;
        let mut topmost = None;
        let mut sibling = anchor.prev_named_sibling();
        while let Some(prev) = sibling {
            let kind = prev.kind();
            if kind == "attribute_item" || kind == "decorator" || kind == "annotation" {
                expected_row = prev.start_position().row;
            } else if is_comment(prev) && prev.end_position().row + 1 >= expected_row {
                expected_row = prev.start_position().row;
                topmost = Some(prev);
            } else {
                break;
            }
            sibling = prev.prev_named_sibling();
        }
        let comment = topmost?;
        // The comment block runs from `topmost` to `anchor`; take its first meaningful line.
        let text = self
            .src
            .get(comment.start_byte()..anchor.start_byte())
            .unwrap_or("");
        text.lines()
            .map(strip_comment_markers)
            .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('@'))
            .map(|l| collapse_whitespace(l, MAX_DOC))
    }
}

fn is_comment(node: Node<'_>) -> bool {
    node.kind().contains("comment")
}

/// Nodes whose first child is the definition proper.
fn is_wrapper(kind: &str) -> bool {
    matches!(
        kind,
        "export_statement"
            | "type_declaration"
            | "const_declaration"
            | "var_declaration"
            | "lexical_declaration"
            | "variable_declaration"
            | "ambient_declaration"
            | "decorated_definition"
    )
}

fn strip_comment_markers(line: &str) -> &str {
    let mut l = line.trim();
    for prefix in ["///", "//!", "//", "/**", "/*!", "/*", "*/", "*"] {
        if let Some(rest) = l.strip_prefix(prefix) {
            l = rest.trim_start();
            break;
        }
    }
    l.strip_suffix("*/").unwrap_or(l).trim()
}

/// Collapses every whitespace run to one space and caps the length.
pub(crate) fn collapse_whitespace(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars + 4));
    let mut count = 0;
    let mut pending_space = false;
    for c in text.trim().chars() {
        if c.is_whitespace() {
            pending_space = true;
            continue;
        }
        if pending_space {
            out.push(' ');
            count += 1;
            pending_space = false;
        }
        if count >= max_chars {
            out.push('…');
            return out;
        }
        out.push(c);
        count += 1;
    }
    out
}

/// Undoes what joining a multi-line parameter list leaves: `f( a, b, )` → `f(a, b)`.
fn tidy_brackets(sig: String) -> String {
    if !(sig.contains("( ") || sig.contains(" )") || sig.contains("[ ") || sig.contains(" ]")) {
        return sig;
    }
    sig.replace(", )", ")")
        .replace(", ]", "]")
        .replace("( ", "(")
        .replace("[ ", "[")
        .replace(" )", ")")
        .replace(" ]", "]")
}

/// Python-style name conventions: `MAX_SIZE` is a constant.
pub(crate) fn is_upper_case(name: &str) -> bool {
    name.chars().any(|c| c.is_ascii_uppercase()) && !name.chars().any(|c| c.is_lowercase())
}

/// Parses `source`; an unparseable file (grammar failed to load) yields an empty tree walk.
pub(crate) fn parse_or_log(lang: Lang, source: &str) -> Option<Tree> {
    let tree = lang::parse(lang, source);
    if tree.is_none() {
        tracing::warn!("could not parse a {} file", lang.name());
    }
    tree
}

/// The included ranges: everything but `elided`.
pub(crate) fn included_ranges(elided: &[(usize, usize)], source: &str) -> Vec<Range> {
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(source.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let point = |byte: usize| -> Point {
        let row = line_starts.partition_point(|&s| s <= byte) - 1;
        Point::new(row, byte - line_starts[row])
    };
    let len = source.len();
    let mut ranges = Vec::with_capacity(elided.len() + 1);
    let mut cursor = 0usize;
    for &(start, end) in elided {
        if start > cursor {
            ranges.push(Range {
                start_byte: cursor,
                end_byte: start,
                start_point: point(cursor),
                end_point: point(start),
            });
        }
        cursor = end;
    }
    if cursor < len {
        ranges.push(Range {
            start_byte: cursor,
            end_byte: len,
            start_point: point(cursor),
            end_point: point(len),
        });
    }
    ranges
}

/// Builds the reference table from walker output.
pub(crate) fn ref_table(pairs: Vec<(&str, u32)>) -> RefTable {
    RefTable::from_pairs(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapse_joins_lines_and_caps() {
        assert_eq!(
            collapse_whitespace("def f(a,\n      b)", 100),
            "def f(a, b)"
        );
        assert_eq!(collapse_whitespace("abcdef", 3), "abc…");
    }

    #[test]
    fn skipping_javascript_bodies_changes_no_definition() {
        let source = r#"/** Widget. */
(function (root, factory) {
  function helper(a) { return a.replace(/[}{]/g, '') / 2; }
  var api = {
    get size() { return 1; },
    load(url) { return fetch(`${url}/x?y=${(function () { return 1; })()}`); },
  };
  class Inner extends Base { m() { if (x) { y(); } } static s = 1; }
  root.Widget = factory();
})(this, function () { return {}; });

function top(a, b) {
  for (const x of a) { if (x > b) { return x; } }
  return b;
}
const arrow = (x) => { const y = x * 2; return y; };
Widget.prototype.render = function (opts) { return opts; };
export class Shown { constructor() { this.a = 1; } get b() { return 2; } }
"#;
        // The shortened text parses (no fallback), so the comparison below means something.
        assert!(clike::javascript_skipping_bodies(source).is_some());
        let skipped = extract_with(Lang::JavaScript, "w.js", source, true);
        let full = extract_with(Lang::JavaScript, "w.js", source, false);
        assert_eq!(skipped.defs, full.defs);
        let names: Vec<String> = skipped.defs.iter().map(|d| d.qualified_name()).collect();
        for expected in [
            "helper",
            "Inner.m",
            "top",
            "arrow",
            "Widget.render",
            "Shown.b",
        ] {
            assert!(
                names.contains(&expected.to_string()),
                "{expected}: {names:?}"
            );
        }
        // References come from the tokenizer, bodies included.
        assert!(!skipped.refs.lines_of("fetch").is_empty());
        assert_eq!(skipped.refs.lines_of("b"), full.refs.lines_of("b"));
    }

    #[test]
    fn multi_line_parameters_are_tidied() {
        assert_eq!(
            tidy_brackets(collapse_whitespace(
                "def save(\n    self,\n    x=(1,),\n)",
                100
            )),
            "def save(self, x=(1,))"
        );
    }

    #[test]
    fn comment_markers_are_stripped() {
        assert_eq!(strip_comment_markers("/// Doc."), "Doc.");
        assert_eq!(strip_comment_markers("/** Doc A. */"), "Doc A.");
        assert_eq!(strip_comment_markers(" * more"), "more");
        assert_eq!(strip_comment_markers("// Run runs."), "Run runs.");
    }
}
