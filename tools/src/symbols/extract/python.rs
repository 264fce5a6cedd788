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
    let (mut defs, _) = walk_tree(&tree, source, false, on_node);
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
    let mut out = Vec::new();
    let mut idx = 0;
    while idx < lines.len() {
        let header = &lines[idx];
        let last = ends[idx];
        if header.head != LineHead::Def || !header.opens_block || last == idx {
            idx += 1;
            continue;
        }
        let body = &lines[idx + 1..=last];
        let name = header.def_name.map_or("", |(s, e)| &source[s..e]);
        let nested = body
            .iter()
            .any(|l| matches!(l.head, LineHead::Def | LineHead::Class));
        if nested || CONSTRUCTORS.contains(&name) {
            idx += 1;
            continue;
        }
        let first = &body[0];
        let kept = if first.head == LineHead::Str {
            Some(first)
        } else {
            body.iter()
                .find(|l| l.indent == first.indent && !l.opens_block)
        };
        if let Some(kept) = kept {
            let body_end = body[body.len() - 1].end;
            if first.start < kept.start {
                out.push((first.start, kept.start));
            }
            if kept.end < body_end {
                out.push((kept.end, body_end));
            }
            // Nothing inside this body is looked at again.
            idx = last + 1;
        } else {
            idx += 1;
        }
    }
    out
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

fn on_node(w: &mut Walker<'_>, node: Node<'_>, _depth: usize) {
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
                doc: body.and_then(|b| docstring(w, b)),
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
                doc: body.and_then(|b| docstring(w, b)),
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

/// First line of the docstring: the string that is the first statement of `body`.
fn docstring(w: &Walker<'_>, body: Node<'_>) -> Option<String> {
    let first = body.named_child(0)?;
    if first.kind() != "expression_statement" {
        return None;
    }
    let string = first.named_child(0)?;
    if string.kind() != "string" {
        return None;
    }
    let text = w.text(string);
    let quote_at = text.find(['"', '\''])?;
    let body_text = text[quote_at..].trim_matches(|c| c == '"' || c == '\'');
    body_text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| collapse_whitespace(l, super::MAX_DOC))
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
        walk_tree(&tree, source, false, on_node).0
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
#[cfg(test)]
mod eyeball {
    #[test]
    #[ignore]
    fn elision_ratio() {
        let mut total = 0usize;
        let mut elided_total = 0usize;
        let mut kept_funcs = std::collections::HashMap::<String, usize>::new();
        for entry in ignore::Walk::new("/tmp/django/django-5.2.19") {
            let entry = entry.unwrap();
            if entry.path().extension().is_none_or(|e| e != "py") {
                continue;
            }
            let src = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let scan = super::pyscan::scan(&src);
            let ends = super::pyscan::block_ends(&scan.lines);
            let el = super::elided_ranges(&src, &scan.lines, &ends);
            total += src.len();
            elided_total += el.iter().map(|(a, b)| b - a).sum::<usize>();
            // Bytes in def bodies that were not elided, by reason.
            let mut i = 0;
            while i < scan.lines.len() {
                let l = &scan.lines[i];
                if l.head == super::LineHead::Def && ends[i] > i {
                    let start = scan.lines[i + 1].start;
                    let end = scan.lines[ends[i]].end;
                    let covered: usize = el
                        .iter()
                        .filter(|(a, b)| *a >= start && *b <= end)
                        .map(|(a, b)| b - a)
                        .sum();
                    if covered == 0 {
                        let name = l.def_name.map_or("", |(s, e)| &src[s..e]);
                        let nested = scan.lines[i + 1..=ends[i]].iter().any(|x| {
                            matches!(x.head, super::LineHead::Def | super::LineHead::Class)
                        });
                        let reason = if nested {
                            "nested".to_string()
                        } else if super::CONSTRUCTORS.contains(&name) {
                            name.to_string()
                        } else {
                            "nokept".to_string()
                        };
                        *kept_funcs.entry(reason).or_default() += end - start;
                    }
                }
                i += 1;
            }
        }
        std::fs::write(
            "/tmp/elision.txt",
            format!(
                "total {total} elided {elided_total} ({:.1}%)\n{kept_funcs:?}\n",
                elided_total as f64 * 100.0 / total as f64
            ),
        )
        .unwrap();
    }
}
