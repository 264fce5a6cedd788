//! Python definitions.
//!
//! The scanner ([`super::pyscan`]) finds function bodies that cannot hold definitions (no
//! nested `def`/`class`, not a constructor whose `self.x = ...` lines declare fields). The
//! parser skips them through included ranges, keeping one statement of each (the docstring, or
//! a simple statement at the body's indentation) so that the text it sees stays valid Python.
//! Definitions come out the same as from a full parse; references come from the scanner.

use tree_sitter::Node;

use super::pyreduce::{self, CONSTRUCTORS, SkippedAssignment};
use super::pyscan::{self, LineHead, LogicalLine};
use super::{NewDef, Walker, collapse_whitespace, is_upper_case, walk_tree};
use crate::lang::Lang;
use crate::symbols::model::{Definition, RefTable, SymbolKind};

pub(crate) fn extract(source: &str, skip_bodies: bool) -> (Vec<Definition>, RefTable) {
    let scan = pyscan::scan(source);
    let ends = pyscan::block_ends(&scan.lines);
    let plan = if skip_bodies {
        pyreduce::plan(source, &scan.lines, &ends)
    } else {
        pyreduce::Plan {
            elided: Vec::new(),
            assignments: Vec::new(),
        }
    };
    let tree = if plan.elided.is_empty() {
        super::parse_or_log(Lang::Python, source)
    } else {
        let included = super::included_ranges(&plan.elided, source);
        if included.is_empty() {
            // Everything was skipped (no ranges would mean "parse it all").
            super::parse_or_log(Lang::Python, "")
        } else {
            crate::lang::parse_ranges(Lang::Python, source, &included)
        }
    };
    let refs = RefTable::from_pairs(scan.refs);
    let Some(mut tree) = tree else {
        return (Vec::new(), refs);
    };
    let mut plan = plan;
    if !plan.elided.is_empty() && tree.root_node().has_error() {
        // The shortened text does not parse (a construct the scanner misjudged, or a file
        // with syntax errors): fall back to the whole file.
        match super::parse_or_log(Lang::Python, source) {
            Some(full) => tree = full,
            None => return (Vec::new(), refs),
        }
        plan.assignments.clear();
    }
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
    let defs = merge_assignments(defs, &plan.assignments, &scan.lines, source);
    (defs, refs)
}

/// Adds the assignments the parser skipped, in line order, under their classes.
fn merge_assignments(
    defs: Vec<Definition>,
    skipped: &[SkippedAssignment],
    lines: &[LogicalLine],
    source: &str,
) -> Vec<Definition> {
    if skipped.is_empty() {
        return defs;
    }
    let extra = skipped_definitions(&defs, skipped, lines, source);
    // A constructor's `self.x = ...` is not a new field when the class body declared `x`
    // above it (what the walk does when it sees both).
    let shadowed: Vec<bool> = defs
        .iter()
        .map(|d| {
            d.kind == SymbolKind::Field
                && d.signature.starts_with("self.")
                && extra.iter().any(|(e, parent)| {
                    parent.map(|p| p as u32) == d.parent && e.name == d.name && e.line < d.line
                })
        })
        .collect();
    // Both lists are in line order: merge them, then renumber parents.
    let mut new_index = vec![0u32; defs.len()];
    let mut merged: Vec<(Definition, Option<usize>, bool)> =
        Vec::with_capacity(defs.len() + extra.len());
    let mut tree = defs.into_iter().enumerate().peekable();
    let mut scanned = extra.into_iter().peekable();
    loop {
        let take_tree = match (tree.peek(), scanned.peek()) {
            (Some((_, t)), Some((e, _))) => t.line <= e.line,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        if take_tree {
            if let Some((old, def)) = tree.next() {
                if shadowed[old] {
                    continue;
                }
                new_index[old] = merged.len() as u32;
                let parent = def.parent.map(|p| p as usize);
                merged.push((def, parent, true));
            }
        } else if let Some((def, parent)) = scanned.next() {
            merged.push((def, parent, false));
        }
    }
    merged
        .into_iter()
        .map(|(mut def, parent, _)| {
            def.parent = parent.map(|p| new_index[p]);
            def
        })
        .collect()
}

/// The definitions for the skipped assignments, each with the index in `defs` of its class;
/// dunder names at module level and class assignments outside any known class are left out.
fn skipped_definitions(
    defs: &[Definition],
    skipped: &[SkippedAssignment],
    lines: &[LogicalLine],
    source: &str,
) -> Vec<(Definition, Option<usize>)> {
    let mut extra: Vec<(Definition, Option<usize>)> = Vec::with_capacity(skipped.len());
    for s in skipped {
        let line = &lines[s.line];
        let Some((start, end)) = line.first_ident else {
            continue;
        };
        let name = &source[start..end];
        let row = line.start_row + 1;
        let (kind, parent) = if s.in_class {
            // The innermost class whose span holds the line.
            let parent = defs
                .iter()
                .enumerate()
                .filter(|(_, d)| d.kind == SymbolKind::Class && d.line <= row && row <= d.end_line)
                .max_by_key(|(_, d)| d.line)
                .map(|(i, _)| i);
            if parent.is_none() {
                continue;
            }
            (SymbolKind::Field, parent)
        } else if name.starts_with("__") && name.ends_with("__") {
            continue;
        } else if is_upper_case(name) {
            (SymbolKind::Constant, None)
        } else {
            (SymbolKind::Variable, None)
        };
        let text = &source[line.first_token..line.last_token_end];
        extra.push((
            Definition {
                name: name.to_string(),
                kind,
                line: row,
                end_line: line.end_row + 1,
                parent: None,
                container: parent.map(|p| defs[p].qualified_name()).unwrap_or_default(),
                signature: collapse_whitespace(first_line(text), 120),
                doc: None,
                bases: Vec::new(),
            },
            parent,
        ));
    }
    extra
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
            w.decorated_property = false;
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
            let property = std::mem::take(&mut w.decorated_property);
            let kind = if in_class && property {
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
        "decorated_definition" => w.decorated_property = is_property(w, node),
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

/// Whether a decorated definition's decorators make it a property.
fn is_property(w: &Walker<'_>, parent: Node<'_>) -> bool {
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
    // The parser may not have seen every module- or class-level assignment: skipped ones are
    // added from the scanner (`merge_assignments`).
    // Only statement-level assignments get here: the walk does not enter expressions.
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
        let source = "import os\nfrom a.b import (C, D as E)\nMAX = 3\n\nclass A(Base, mixins.M):\n    \"\"\"Doc A.\"\"\"\n    x = 1\n    def __init__(self):\n        self.y = 2\n    @property\n    def p(self):\n        if self.y:\n            return 1\n        return 2\n    def q(self, a,\n          b=[1,\n   2]):\n        '''Q doc.'''\n        for i in a:\n            pass\n        def inner():\n            return 1\n        return inner\n\ndef top(x):\n    try:\n        y = x\n    except E:\n        pass\n\ndef only_compound():\n    with open(x) as f:\n        return f\n\nclass Meta:\n    ordering = ['-x']\n    \"\"\"Not a docstring.\"\"\"\n    verbose: str\n\nclass Token:\n    algorithm = None\n    def __init__(self):\n        self.algorithm = self.algorithm or 'sha'\n        self.secret = 1\n    late = 2\n\nx = y = 1\na, b = 1, 2\n__all__ = ['A']\nprint(x); z = 3\n";
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
        let fields: Vec<_> = defs
            .iter()
            .filter(|d| d.kind == SymbolKind::Field && d.container == "Token")
            .map(|d| d.name.as_str())
            .collect();
        assert_eq!(fields, vec!["algorithm", "secret", "late"]);
        assert!(names.contains(&"Meta.verbose".to_string()), "{names:?}");
        for module_level in ["x", "a", "b", "z"] {
            assert!(
                names.contains(&module_level.to_string()),
                "{module_level}: {names:?}"
            );
        }
        let p = defs.iter().find(|d| d.name == "p").unwrap();
        assert_eq!(p.kind, SymbolKind::Property);
        assert_eq!(p.end_line, 14);
    }
}
