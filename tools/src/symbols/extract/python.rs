//! Python definitions.
//!
//! The scanner ([`super::pyscan`]) finds function bodies that cannot hold definitions (no
//! nested `def`/`class`, not a constructor whose `self.x = ...` lines declare fields). The
//! parser skips them through included ranges, keeping one statement of each (the docstring, or
//! a simple statement at the body's indentation) so that the text it sees stays valid Python.
//! Definitions come out the same as from a full parse; references come from the scanner.

use tree_sitter::{Node, Point, Range};

use super::pyscan::{self, LineHead, LogicalLine};
use super::{NewDef, Walker, collapse_whitespace, is_upper_case, walk_tree};
use crate::lang::Lang;
use crate::symbols::model::{Definition, RefTable, SymbolKind};

/// Methods whose `self.x = ...` assignments we read as the class's fields.
const CONSTRUCTORS: &[&str] = &["__init__", "__new__", "__post_init__", "setUp"];

pub(crate) fn extract(source: &str, skip_bodies: bool) -> (Vec<Definition>, RefTable) {
    let scan = pyscan::scan(source);
    let ends = pyscan::block_ends(&scan.lines);
    let elided = if skip_bodies {
        elided_ranges(source, &scan.lines, &ends)
    } else {
        Vec::new()
    };
    let tree = if elided.is_empty() {
        super::parse_or_log(Lang::Python, source)
    } else {
        let included = complement(&elided, &scan, source.len());
        crate::lang::parse_ranges(Lang::Python, source, &included)
    };
    let refs = RefTable::from_pairs(scan.refs);
    let Some(tree) = tree else {
        return (Vec::new(), refs);
    };
    // Row of each def/class header → row of its last body line, since the parsed tree does not
    // see the skipped bodies.
    let mut header_ends: Vec<(u32, u32)> = scan
        .lines
        .iter()
        .enumerate()
        .filter(|(_, l)| matches!(l.head, LineHead::Def | LineHead::Class))
        .map(|(i, l)| (l.start_row, scan.lines[ends[i]].end_row))
        .collect();
    header_ends.sort_unstable();
    let docs = docstrings(source, &scan.lines);
    let (mut defs, _) = walk_tree(&tree, source, false, |w, node| on_node(w, node, &docs));
    for def in &mut defs {
        if matches!(
            def.kind,
            SymbolKind::Class | SymbolKind::Function | SymbolKind::Method | SymbolKind::Property
        ) && let Ok(i) = header_ends.binary_search_by_key(&(def.line - 1), |e| e.0)
        {
            def.end_line = header_ends[i].1 + 1;
        }
    }
    (defs, refs)
}

/// Byte ranges of function bodies the parser may skip, in order, not overlapping.
fn elided_ranges(source: &str, lines: &[LogicalLine], ends: &[usize]) -> Vec<(usize, usize)> {
    let mut reducer = Reducer {
        source,
        lines,
        ends,
        out: Vec::new(),
    };
    if !lines.is_empty() {
        reducer.keep_all(0, lines.len() - 1);
    }
    let mut out = reducer.out;
    out.sort_unstable();
    // Merge touching ranges so that no empty included range sits between them.
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(out.len());
    for (start, end) in out {
        match merged.last_mut() {
            Some(last) if last.1 >= start => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// Decides which statements of each function body the parser must see.
///
/// A block is a list of units: a statement with its nested block and its clauses (`else`,
/// `except`, ...), or decorators with their definition. Removing whole units keeps the text
/// valid as long as each block keeps one. A function body keeps the units that hold
/// definitions (or, in a constructor, `self.x` lines); if there are none, it keeps the cheapest
/// single statement, descending into `if`/`for`/`with` headers when that is shorter.
struct Reducer<'a> {
    source: &'a str,
    lines: &'a [LogicalLine],
    ends: &'a [usize],
    out: Vec<(usize, usize)>,
}

impl Reducer<'_> {
    /// The units of the block `from..=to`, as (first line, head line, last line).
    fn units(&self, from: usize, to: usize) -> Vec<(usize, usize, usize)> {
        let lines = self.lines;
        let mut units = Vec::new();
        let mut i = from;
        while i <= to {
            let first = i;
            let mut head = i;
            while lines[head].head == LineHead::Decorator && head < to {
                head += 1;
            }
            let mut last = self.ends[head].clamp(head, to);
            loop {
                let next = last + 1;
                if next > to {
                    break;
                }
                let continues = lines[next].indent > lines[head].indent
                    || (lines[next].head == LineHead::Clause
                        && lines[next].indent == lines[head].indent);
                if !continues {
                    break;
                }
                last = self.ends[next].clamp(next, to);
            }
            units.push((first, head, last));
            i = last + 1;
        }
        units
    }

    /// The bytes of lines `first..=last`, with the comments and blank lines after them.
    fn span(&self, first: usize, last: usize) -> (usize, usize) {
        let end = self
            .lines
            .get(last + 1)
            .map_or(self.lines[last].end, |next| next.start);
        (self.lines[first].start, end)
    }

    fn contains(&self, first: usize, last: usize, pred: impl Fn(LineHead) -> bool) -> bool {
        self.lines[first..=last].iter().any(|l| pred(l.head))
    }

    /// Module level, class bodies, and compound statements holding definitions: everything
    /// stays; function bodies inside are reduced.
    fn keep_all(&mut self, from: usize, to: usize) {
        for (first, head, last) in self.units(from, to) {
            self.keep_unit(first, head, last);
        }
    }

    fn keep_unit(&mut self, _first: usize, head: usize, last: usize) {
        let line = &self.lines[head];
        if !line.opens_block || last == head {
            return;
        }
        match line.head {
            LineHead::Def => self.reduce_function(head),
            LineHead::Class => self.keep_all(head + 1, self.ends[head].min(last)),
            _ if self.contains(head, last, |h| matches!(h, LineHead::Def | LineHead::Class)) => {
                // `if TYPE_CHECKING:` and the like: walk each clause's block.
                let mut clause = head;
                while clause <= last {
                    let block_end = self.ends[clause].clamp(clause, last);
                    if block_end > clause {
                        self.keep_all(clause + 1, block_end);
                    }
                    clause = block_end + 1;
                }
            }
            _ => {}
        }
    }

    fn reduce_function(&mut self, header: usize) {
        let body_end = self.ends[header];
        if body_end <= header {
            return;
        }
        let name = self.lines[header]
            .def_name
            .map_or("", |(s, e)| &self.source[s..e]);
        let constructor = CONSTRUCTORS.contains(&name);
        let units = self.units(header + 1, body_end);
        let needed: Vec<bool> = units
            .iter()
            .map(|&(first, _, last)| {
                self.contains(first, last, |h| {
                    matches!(h, LineHead::Def | LineHead::Class)
                        || (constructor && h == LineHead::SelfAttr)
                })
            })
            .collect();
        if needed.iter().any(|&n| n) {
            for (&(first, head, last), &need) in units.iter().zip(&needed) {
                if need {
                    if self.contains(first, last, |h| {
                        matches!(h, LineHead::Def | LineHead::Class)
                    }) {
                        self.keep_unit(first, head, last);
                    }
                } else {
                    let span = self.span(first, last);
                    self.out.push(span);
                }
            }
            return;
        }
        self.keep_cheapest(&units);
    }

    /// Keeps the one unit of `units` that costs the parser least, reduced; elides the rest.
    fn keep_cheapest(&mut self, units: &[(usize, usize, usize)]) {
        let best = units
            .iter()
            .enumerate()
            .min_by_key(|(_, u)| self.cost(u.1, u.2))
            .map(|(i, _)| i);
        let Some(best) = best else {
            return;
        };
        for (i, &(first, _, last)) in units.iter().enumerate() {
            if i != best {
                let span = self.span(first, last);
                self.out.push(span);
            }
        }
        let (_, head, last) = units[best];
        self.reduce_to_one(head, last);
    }

    /// Bytes the parser sees if unit `head..=last` is reduced to its cheapest valid form.
    fn cost(&self, head: usize, last: usize) -> usize {
        let line = &self.lines[head];
        let whole = self.lines[last].end - line.start;
        if !line.opens_block || line.head == LineHead::Try {
            return whole;
        }
        let block_end = self.ends[head].min(last);
        if block_end <= head {
            return whole;
        }
        let inner = self
            .units(head + 1, block_end)
            .iter()
            .map(|u| self.cost(u.1, u.2))
            .min()
            .unwrap_or(whole);
        (line.end - line.start + inner).min(whole)
    }

    fn reduce_to_one(&mut self, head: usize, last: usize) {
        let line = &self.lines[head];
        if !line.opens_block || line.head == LineHead::Try {
            return;
        }
        let block_end = self.ends[head].min(last);
        if block_end <= head {
            return;
        }
        let inner = self.units(head + 1, block_end);
        let whole = self.lines[last].end - line.start;
        let reduced = line.end - line.start
            + inner
                .iter()
                .map(|u| self.cost(u.1, u.2))
                .min()
                .unwrap_or(whole);
        if reduced >= whole {
            return;
        }
        if block_end < last {
            // Drop the `else`/`elif` clauses; the first clause alone is valid.
            let span = self.span(block_end + 1, last);
            self.out.push(span);
        }
        self.keep_cheapest(&inner);
    }
}

/// First line of each docstring, keyed by the 0-based row of its `def`/`class` line. Read from
/// the scanner because the parser may not see the docstring.
fn docstrings(source: &str, lines: &[LogicalLine]) -> Vec<(u32, String)> {
    let mut docs = Vec::new();
    for pair in lines.windows(2) {
        let (header, first) = (&pair[0], &pair[1]);
        if !matches!(header.head, LineHead::Def | LineHead::Class)
            || !header.opens_block
            || first.indent <= header.indent
        {
            continue;
        }
        let Some((start, end)) = first.only_string else {
            continue;
        };
        if let Some(doc) = docstring_first_line(&source[start..end]) {
            docs.push((header.start_row, doc));
        }
    }
    docs
}

/// The first non-empty line inside a string literal (prefix and quotes removed).
fn docstring_first_line(literal: &str) -> Option<String> {
    let quote_at = literal.find(['"', '\''])?;
    let body = literal[quote_at..].trim_matches(|c| c == '"' || c == '\'');
    body.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| collapse_whitespace(l, super::MAX_DOC))
}

/// The included ranges: everything but `elided`. Every cut is at the start of a line.
fn complement(elided: &[(usize, usize)], scan: &pyscan::Scan<'_>, len: usize) -> Vec<Range> {
    let row_of = |byte: usize| -> usize {
        // Cuts are line starts recorded by the scanner; find the row by binary search.
        match scan.lines.binary_search_by_key(&byte, |l| l.start) {
            Ok(i) => scan.lines[i].start_row as usize,
            Err(_) => match scan.lines.binary_search_by_key(&byte, |l| l.end) {
                Ok(i) => scan.lines[i].end_row as usize + 1,
                Err(_) => 0,
            },
        }
    };
    let mut ranges = Vec::with_capacity(elided.len() + 1);
    let mut cursor = 0usize;
    let mut cursor_point = Point::new(0, 0);
    for &(start, end) in elided {
        if start > cursor {
            ranges.push(Range {
                start_byte: cursor,
                end_byte: start,
                start_point: cursor_point,
                end_point: Point::new(row_of(start), 0),
            });
        }
        cursor = end;
        cursor_point = Point::new(row_of(end), 0);
    }
    if cursor < len {
        ranges.push(Range {
            start_byte: cursor,
            end_byte: len,
            start_point: cursor_point,
            end_point: Point::new(scan.last_row as usize, scan.last_column),
        });
    }
    ranges
}

/// Statement-level nodes that can hold definitions; expressions are not descended into.
fn holds_statements(kind: &str) -> bool {
    matches!(
        kind,
        "module"
            | "block"
            | "class_definition"
            | "function_definition"
            | "decorated_definition"
            | "expression_statement"
            | "if_statement"
            | "elif_clause"
            | "else_clause"
            | "for_statement"
            | "while_statement"
            | "try_statement"
            | "except_clause"
            | "except_group_clause"
            | "finally_clause"
            | "with_statement"
            | "match_statement"
            | "case_clause"
            | "ERROR"
    )
}

/// Visits one node; returns whether to descend into it.
fn on_node(w: &mut Walker<'_>, node: Node<'_>, docs: &[(u32, String)]) -> bool {
    visit(w, node, docs);
    holds_statements(node.kind())
}

fn visit(w: &mut Walker<'_>, node: Node<'_>, docs: &[(u32, String)]) {
    let doc_of = |node: Node<'_>| {
        let row = node.start_position().row as u32;
        docs.binary_search_by_key(&row, |d| d.0)
            .ok()
            .map(|i| docs[i].1.clone())
    };
    match node.kind() {
        "class_definition" => {
            let Some(name) = node.child_by_field_name("name") else {
                return;
            };
            let body = node.child_by_field_name("body");
            let mut bases = Vec::new();
            if let Some(args) = node.child_by_field_name("superclasses") {
                let mut cursor = args.walk();
                for arg in args.named_children(&mut cursor) {
                    if matches!(arg.kind(), "identifier" | "attribute") {
                        bases.push(w.text(arg).to_string());
                    }
                }
            }
            let new = NewDef {
                name: w.text(name).to_string(),
                kind: SymbolKind::Class,
                node,
                signature: w.header(node, colon(node).or(body)),
                doc: doc_of(node),
                bases,
            };
            let idx = w.add(new);
            w.scope(idx, node);
        }
        "function_definition" => {
            let Some(name) = node.child_by_field_name("name") else {
                return;
            };
            let body = node.child_by_field_name("body");
            let in_class = matches!(w.enclosing(), Some((_, SymbolKind::Class)));
            let kind = if in_class && is_property(w, node) {
                SymbolKind::Property
            } else if in_class {
                SymbolKind::Method
            } else {
                SymbolKind::Function
            };
            let new = NewDef {
                name: w.text(name).to_string(),
                kind,
                node,
                signature: w.header(node, colon(node).or(body)),
                doc: doc_of(node),
                bases: Vec::new(),
            };
            let idx = w.add(new);
            w.scope(idx, node);
        }
        "assignment" => assignment(w, node),
        "import_statement" | "import_from_statement" if w.enclosing().is_none() => import(w, node),
        _ => {}
    }
}

/// The `:` that ends a `def`/`class` header. The header cannot end at the body's start: the
/// text between may be a skipped part of the body.
fn colon(node: Node<'_>) -> Option<Node<'_>> {
    let body = node.child_by_field_name("body")?;
    let mut colon = None;
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        if child.id() == body.id() {
            break;
        }
        if child.kind() == ":" {
            colon = Some(child);
        }
    }
    colon
}

fn is_property(w: &Walker<'_>, function: Node<'_>) -> bool {
    let Some(parent) = function.parent() else {
        return false;
    };
    if parent.kind() != "decorated_definition" {
        return false;
    }
    let mut cursor = parent.walk();
    parent
        .named_children(&mut cursor)
        .filter(|c| c.kind() == "decorator")
        .any(|d| {
            let text = w.text(d).trim_start_matches('@').trim();
            text == "property"
                || text.ends_with("cached_property")
                || text.ends_with(".setter")
                || text.ends_with(".getter")
                || text.ends_with(".deleter")
        })
}

fn assignment(w: &mut Walker<'_>, node: Node<'_>) {
    // Only `x = ...` statements, not assignments nested in expressions.
    if node
        .parent()
        .is_none_or(|p| p.kind() != "expression_statement")
    {
        return;
    }
    let Some(left) = node.child_by_field_name("left") else {
        return;
    };
    match w.enclosing() {
        None => {
            for name in target_names(w, left) {
                if name.starts_with("__") && name.ends_with("__") {
                    continue;
                }
                let kind = if is_upper_case(name) {
                    SymbolKind::Constant
                } else {
                    SymbolKind::Variable
                };
                add_simple(w, node, name, kind);
            }
        }
        Some((_, SymbolKind::Class)) => {
            for name in target_names(w, left) {
                add_simple(w, node, name, SymbolKind::Field);
            }
        }
        Some((_, SymbolKind::Method)) => self_attribute(w, node, left),
        _ => {}
    }
}

/// `self.x = ...` in a constructor declares field `x` of the class.
fn self_attribute(w: &mut Walker<'_>, node: Node<'_>, left: Node<'_>) {
    let Some(method) = w.enclosing_def() else {
        return;
    };
    if !CONSTRUCTORS.contains(&method.name.as_str()) {
        return;
    }
    let Some(class) = method.parent else {
        return;
    };
    if left.kind() != "attribute" {
        return;
    }
    let (Some(object), Some(attr)) = (
        left.child_by_field_name("object"),
        left.child_by_field_name("attribute"),
    ) else {
        return;
    };
    if w.text(object) != "self" {
        return;
    }
    let name = w.text(attr);
    let exists = w
        .defs
        .iter()
        .any(|d| d.parent == Some(class) && d.name == name);
    if exists {
        return;
    }
    let container = w.defs[class as usize].qualified_name();
    let new = NewDef {
        name: name.to_string(),
        kind: SymbolKind::Field,
        node,
        signature: collapse_whitespace(first_line(w.text(node)), 120),
        doc: None,
        bases: Vec::new(),
    };
    w.add_with(new, Some(class), container);
}

fn target_names<'s>(w: &Walker<'s>, left: Node<'_>) -> Vec<&'s str> {
    match left.kind() {
        "identifier" => vec![w.text(left)],
        "pattern_list" | "tuple_pattern" | "list_pattern" => {
            let mut cursor = left.walk();
            left.named_children(&mut cursor)
                .filter(|c| c.kind() == "identifier")
                .map(|c| w.text(c))
                .collect()
        }
        _ => Vec::new(),
    }
}

fn add_simple(w: &mut Walker<'_>, node: Node<'_>, name: &str, kind: SymbolKind) {
    let new = NewDef {
        name: name.to_string(),
        kind,
        node,
        signature: collapse_whitespace(first_line(w.text(node)), 120),
        doc: None,
        bases: Vec::new(),
    };
    w.add(new);
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// `import a.b`, `import a as b`, `from m import x, y as z`: the names bound in the module.
fn import(w: &mut Walker<'_>, node: Node<'_>) {
    let signature = collapse_whitespace(w.text(node), 160);
    let mut names = Vec::new();
    let mut cursor = node.walk();
    for child in node.children_by_field_name("name", &mut cursor) {
        match child.kind() {
            "dotted_name" => {
                let text = w.text(child);
                let bound = if node.kind() == "import_statement" {
                    text.split('.').next().unwrap_or(text)
                } else {
                    text.rsplit('.').next().unwrap_or(text)
                };
                names.push(bound.trim());
            }
            "aliased_import" => {
                if let Some(alias) = child.child_by_field_name("alias") {
                    names.push(w.text(alias));
                }
            }
            _ => {}
        }
    }
    for name in names {
        let new = NewDef {
            name: name.to_string(),
            kind: SymbolKind::Import,
            node,
            signature: signature.clone(),
            doc: None,
            bases: Vec::new(),
        };
        w.add(new);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_parse_defs(source: &str) -> Vec<Definition> {
        let tree = super::super::parse_or_log(Lang::Python, source).unwrap();
        let scan = pyscan::scan(source);
        let docs = docstrings(source, &scan.lines);
        walk_tree(&tree, source, false, |w, n| on_node(w, n, &docs)).0
    }

    #[test]
    fn skipping_bodies_changes_no_definition() {
        let source = "import os\nfrom a.b import (C, D as E)\nMAX = 3\n\nclass A(Base, mixins.M):\n    \"\"\"Doc A.\"\"\"\n    x = 1\n    def __init__(self):\n        self.y = 2\n    @property\n    def p(self):\n        if self.y:\n            return 1\n        return 2\n    def q(self, a,\n          b=[1,\n   2]):\n        '''Q doc.'''\n        for i in a:\n            pass\n        def inner():\n            return 1\n        return inner\n\ndef top(x):\n    try:\n        y = x\n    except E:\n        pass\n\ndef only_compound():\n    with open(x) as f:\n        return f\n";
        let (defs, _) = extract(source, true);
        let full = full_parse_defs(source);
        assert_eq!(extract(source, false).0, full);
        let strip = |d: &[Definition]| {
            d.iter()
                .map(|d| {
                    (
                        d.name.clone(),
                        d.kind,
                        d.line,
                        d.container.clone(),
                        d.signature.clone(),
                        d.doc.clone(),
                        d.bases.clone(),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&defs), strip(&full));
        let names: Vec<_> = defs.iter().map(|d| d.qualified_name()).collect();
        assert!(names.contains(&"A.y".to_string()), "{names:?}");
        assert!(names.contains(&"A.q.inner".to_string()), "{names:?}");
        let top = defs.iter().find(|d| d.name == "top").unwrap();
        assert_eq!((top.line, top.end_line), (25, 29));
        let p = defs.iter().find(|d| d.name == "p").unwrap();
        assert_eq!(p.kind, SymbolKind::Property);
        assert_eq!(p.end_line, 14);
    }
}
