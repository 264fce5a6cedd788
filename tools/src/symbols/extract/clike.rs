//! Definitions in Rust, Go, Java, JavaScript and TypeScript (parsed in full; references are the
//! identifier leaves of the tree).

use tree_sitter::Node;

use super::{NewDef, Walker, collapse_whitespace, is_upper_case, walk_tree};
use crate::lang::Lang;
use crate::symbols::model::{Definition, RefTable, SymbolKind};

pub(crate) fn extract(lang: Lang, source: &str, skip_bodies: bool) -> (Vec<Definition>, RefTable) {
    if lang == Lang::JavaScript
        && skip_bodies
        && let Some(found) = javascript_skipping_bodies(source)
    {
        return found;
    }
    let Some(tree) = super::parse_or_log(lang, source) else {
        return (Vec::new(), RefTable::default());
    };
    let (defs, refs) = match lang {
        Lang::Rust => walk_tree(&tree, source, true, |w, n| {
            rust(w, n);
            true
        }),
        Lang::Go => walk_tree(&tree, source, true, |w, n| {
            go(w, n);
            true
        }),
        Lang::Java => walk_tree(&tree, source, true, |w, n| {
            java(w, n);
            true
        }),
        Lang::JavaScript | Lang::TypeScript | Lang::Tsx => {
            walk_tree(&tree, source, true, |w, n| {
                js(w, n);
                true
            })
        }
        Lang::Python => return (Vec::new(), RefTable::default()),
    };
    (defs, super::ref_table(refs))
}

/// JavaScript with the insides of leaf function bodies skipped (see [`super::jsscan`]); `None`
/// when nothing can be skipped or the shortened text does not parse.
pub(crate) fn javascript_skipping_bodies(source: &str) -> Option<(Vec<Definition>, RefTable)> {
    let scan = super::jsscan::scan(source);
    if scan.elided.is_empty() {
        return None;
    }
    let included = super::included_ranges(&scan.elided, source);
    let tree = crate::lang::parse_ranges(Lang::JavaScript, source, &included)?;
    if tree.root_node().has_error() {
        return None;
    }
    let (defs, _) = walk_tree(&tree, source, false, |w, n| {
        js(w, n);
        true
    });
    Some((defs, super::ref_table(scan.refs)))
}

/// Adds a definition named by `node`'s `name` field, with the header up to its `body` field.
fn add_named(w: &mut Walker<'_>, node: Node<'_>, kind: SymbolKind, bases: Vec<String>) -> u32 {
    let name = node
        .child_by_field_name("name")
        .map(|n| w.text(n).to_string())
        .unwrap_or_else(|| "default".to_string());
    let body = node.child_by_field_name("body");
    let new = NewDef {
        name,
        kind,
        node,
        signature: w.header(node, body),
        doc: w.leading_comment(node),
        bases,
    };
    w.add(new)
}

fn add_scoped(w: &mut Walker<'_>, node: Node<'_>, kind: SymbolKind, bases: Vec<String>) {
    let idx = add_named(w, node, kind, bases);
    w.scope(idx, node);
}

/// A data definition (field, constant) whose signature is `prefix` + its name and type.
fn add_data(w: &mut Walker<'_>, node: Node<'_>, name: &str, kind: SymbolKind, signature: String) {
    let new = NewDef {
        name: name.to_string(),
        kind,
        node,
        signature,
        doc: w.leading_comment(node),
        bases: Vec::new(),
    };
    w.add(new);
}

fn one_line(w: &Walker<'_>, node: Node<'_>) -> String {
    let text = w.text(node);
    let mut sig = collapse_whitespace(text.lines().next().unwrap_or(""), 120);
    while sig.ends_with([',', ';', '{', ' ']) {
        sig.pop();
    }
    sig
}

/// The bare type name of a type expression: `&mut Vec<T>` → `Vec`, `*pkg.Server` → `Server`.
fn type_name<'s>(w: &Walker<'s>, node: Node<'_>) -> &'s str {
    let mut node = node;
    loop {
        match node.kind() {
            "generic_type" | "reference_type" | "pointer_type" | "qualified_type" => {
                let next = node
                    .child_by_field_name("type")
                    .or_else(|| node.child_by_field_name("name"))
                    .or_else(|| {
                        node.named_child(node.named_child_count().saturating_sub(1) as u32)
                    });
                match next {
                    Some(n) if n.id() != node.id() => node = n,
                    _ => break,
                }
            }
            "scoped_type_identifier" => match node.child_by_field_name("name") {
                Some(n) => node = n,
                None => break,
            },
            _ => break,
        }
    }
    w.text(node)
}

fn rust(w: &mut Walker<'_>, node: Node<'_>) {
    let enclosing = w.enclosing().map(|e| e.1);
    match node.kind() {
        "function_item" | "function_signature_item" => {
            let kind = if matches!(enclosing, Some(SymbolKind::Impl | SymbolKind::Trait)) {
                SymbolKind::Method
            } else {
                SymbolKind::Function
            };
            add_scoped(w, node, kind, Vec::new());
        }
        "struct_item" | "union_item" => add_scoped(w, node, SymbolKind::Struct, Vec::new()),
        "enum_item" => add_scoped(w, node, SymbolKind::Enum, Vec::new()),
        "enum_variant" => add_scoped(w, node, SymbolKind::EnumMember, Vec::new()),
        "trait_item" => add_scoped(w, node, SymbolKind::Trait, Vec::new()),
        "mod_item" => add_scoped(w, node, SymbolKind::Module, Vec::new()),
        "type_item" => {
            add_named(w, node, SymbolKind::TypeAlias, Vec::new());
        }
        "macro_definition" => {
            if let Some(name) = node.child_by_field_name("name").map(|n| w.text(n)) {
                let sig = format!("macro_rules! {name}");
                add_data(w, node, name, SymbolKind::Macro, sig);
            }
        }
        "const_item" | "static_item" if !w.in_function() => {
            let name = node.child_by_field_name("name").map(|n| w.text(n));
            if let Some(name) = name {
                let sig = match node.child_by_field_name("value") {
                    Some(v) => w.header(node, Some(v)),
                    None => one_line(w, node),
                };
                add_data(w, node, name, SymbolKind::Constant, sig);
            }
        }
        "field_declaration"
            if matches!(enclosing, Some(SymbolKind::Struct | SymbolKind::EnumMember)) =>
        {
            if let Some(name) = node.child_by_field_name("name").map(|n| w.text(n)) {
                let sig = one_line(w, node);
                add_data(w, node, name, SymbolKind::Field, sig);
            }
        }
        "impl_item" => {
            let Some(ty) = node.child_by_field_name("type") else {
                return;
            };
            let name = type_name(w, ty).to_string();
            let bases = node
                .child_by_field_name("trait")
                .map(|t| vec![type_name(w, t).to_string()])
                .unwrap_or_default();
            let body = node.child_by_field_name("body");
            let new = NewDef {
                name,
                kind: SymbolKind::Impl,
                node,
                signature: w.header(node, body),
                doc: None,
                bases,
            };
            let idx = w.add(new);
            w.scope(idx, node);
        }
        _ => {}
    }
}

// Kept whole: one match arm per Go node kind that defines a symbol; the table reads best in
// one place.
fn go(w: &mut Walker<'_>, node: Node<'_>) {
    let enclosing = w.enclosing().map(|e| e.1);
    match node.kind() {
        "function_declaration" => add_scoped(w, node, SymbolKind::Function, Vec::new()),
        "method_declaration" => {
            let receiver = node
                .child_by_field_name("receiver")
                .and_then(|r| r.named_child(0))
                .and_then(|p| p.child_by_field_name("type"))
                .map(|t| type_name(w, t).to_string())
                .unwrap_or_default();
            let Some(name) = node.child_by_field_name("name") else {
                return;
            };
            let body = node.child_by_field_name("body");
            let new = NewDef {
                name: w.text(name).to_string(),
                kind: SymbolKind::Method,
                node,
                signature: w.header(node, body),
                doc: w.leading_comment(node),
                bases: Vec::new(),
            };
            let idx = w.add_with(new, None, receiver);
            w.scope(idx, node);
        }
        "type_spec" | "type_alias" => {
            let kind = match node.child_by_field_name("type").map(|t| t.kind()) {
                Some("struct_type") if node.kind() == "type_spec" => SymbolKind::Struct,
                Some("interface_type") if node.kind() == "type_spec" => SymbolKind::Interface,
                _ => SymbolKind::TypeAlias,
            };
            let name = node.child_by_field_name("name").map(|n| w.text(n));
            if let Some(name) = name {
                let ty = node.child_by_field_name("type");
                let sig = match ty {
                    Some(t) if matches!(t.kind(), "struct_type" | "interface_type") => {
                        format!("type {name} {}", &t.kind()[..t.kind().len() - 5])
                    }
                    _ => format!("type {}", one_line(w, node)),
                };
                let new = NewDef {
                    name: name.to_string(),
                    kind,
                    node,
                    signature: sig,
                    doc: w.leading_comment(node),
                    bases: Vec::new(),
                };
                let idx = w.add(new);
                w.scope(idx, node);
            }
        }
        "field_declaration" if enclosing == Some(SymbolKind::Struct) => {
            let mut cursor = node.walk();
            let names: Vec<_> = node
                .children_by_field_name("name", &mut cursor)
                .filter(|n| n.is_named())
                .map(|n| w.text(n))
                .collect();
            if names.is_empty() {
                // An embedded type: its methods and fields are promoted, like a base class.
                if let (Some(ty), Some((owner, _))) =
                    (node.child_by_field_name("type"), w.enclosing())
                {
                    let base = type_name(w, ty).to_string();
                    w.defs[owner as usize].bases.push(base);
                }
            }
            let sig = one_line(w, node);
            for name in names {
                add_data(w, node, name, SymbolKind::Field, sig.clone());
            }
        }
        "method_elem" | "method_spec" if enclosing == Some(SymbolKind::Interface) => {
            let Some(name) = node.child_by_field_name("name") else {
                return;
            };
            let sig = one_line(w, node);
            add_data(w, node, w.text(name), SymbolKind::Method, sig);
        }
        "const_spec" | "var_spec" if !w.in_function() => {
            let kind = if node.kind() == "const_spec" {
                SymbolKind::Constant
            } else {
                SymbolKind::Variable
            };
            let mut cursor = node.walk();
            let names: Vec<_> = node
                .children_by_field_name("name", &mut cursor)
                .filter(|n| n.is_named())
                .map(|n| w.text(n))
                .collect();
            let keyword = if kind == SymbolKind::Constant {
                "const"
            } else {
                "var"
            };
            let sig = format!("{keyword} {}", one_line(w, node));
            for name in names {
                add_data(w, node, name, kind, sig.clone());
            }
        }
        _ => {}
    }
}

fn java(w: &mut Walker<'_>, node: Node<'_>) {
    match node.kind() {
        "class_declaration" | "record_declaration" | "enum_declaration" => {
            let kind = if node.kind() == "enum_declaration" {
                SymbolKind::Enum
            } else {
                SymbolKind::Class
            };
            let mut bases = Vec::new();
            if let Some(sup) = node.child_by_field_name("superclass")
                && let Some(t) = sup.named_child(0)
            {
                bases.push(type_name(w, t).to_string());
            }
            if let Some(ifaces) = node.child_by_field_name("interfaces") {
                java_type_list(w, ifaces, &mut bases);
            }
            add_scoped(w, node, kind, bases);
            if node.kind() == "record_declaration" {
                record_components(w, node);
            }
        }
        "interface_declaration" | "annotation_type_declaration" => {
            let mut bases = Vec::new();
            let mut cursor = node.walk();
            for child in node.named_children(&mut cursor) {
                if child.kind() == "extends_interfaces" {
                    java_type_list(w, child, &mut bases);
                }
            }
            add_scoped(w, node, SymbolKind::Interface, bases);
        }
        "method_declaration"
        | "constructor_declaration"
        | "annotation_type_element_declaration" => {
            add_scoped(w, node, SymbolKind::Method, Vec::new());
        }
        "field_declaration" | "constant_declaration" if !w.in_function() => {
            let ty = node.child_by_field_name("type");
            let mut cursor = node.walk();
            let declarators: Vec<_> = node
                .children_by_field_name("declarator", &mut cursor)
                .collect();
            let prefix = declarators
                .first()
                .map(|d| w.header(node, Some(*d)))
                .unwrap_or_default();
            for d in declarators {
                let Some(name) = d.child_by_field_name("name").map(|n| w.text(n)) else {
                    continue;
                };
                let kind = if node.kind() == "constant_declaration" || is_upper_case(name) {
                    SymbolKind::Constant
                } else {
                    SymbolKind::Field
                };
                let sig = if prefix.is_empty() {
                    ty.map(|t| format!("{} {name}", w.text(t)))
                        .unwrap_or_default()
                } else {
                    format!("{prefix} {name}")
                };
                add_data(w, node, name, kind, sig);
            }
        }
        "enum_constant" => {
            if let Some(name) = node.child_by_field_name("name").map(|n| w.text(n)) {
                let sig = one_line(w, node);
                add_data(w, node, name, SymbolKind::EnumMember, sig);
            }
        }
        _ => {}
    }
}

fn java_type_list(w: &Walker<'_>, node: Node<'_>, out: &mut Vec<String>) {
    let list = if node.kind() == "type_list" {
        Some(node)
    } else {
        let mut cursor = node.walk();
        node.named_children(&mut cursor)
            .find(|c| c.kind() == "type_list")
    };
    if let Some(list) = list {
        let mut cursor = list.walk();
        for t in list.named_children(&mut cursor) {
            out.push(type_name(w, t).to_string());
        }
    }
}

fn record_components(w: &mut Walker<'_>, record: Node<'_>) {
    let Some(params) = record.child_by_field_name("parameters") else {
        return;
    };
    let mut cursor = params.walk();
    let components: Vec<_> = params.named_children(&mut cursor).collect();
    for p in components {
        if let Some(name) = p.child_by_field_name("name").map(|n| w.text(n)) {
            let sig = collapse_whitespace(w.text(p), 120);
            add_data(w, p, name, SymbolKind::Field, sig);
        }
    }
}

// Kept whole: one match arm per JavaScript/TypeScript node kind that defines a symbol; the
// table reads best in one place.
fn js(w: &mut Walker<'_>, node: Node<'_>) {
    let enclosing = w.enclosing().map(|e| e.1);
    match node.kind() {
        "class_declaration" | "abstract_class_declaration" | "class" => {
            if node.kind() == "class" && node.child_by_field_name("name").is_none() {
                // `export default class {}` or a class expression: named by its declarator.
                if node.parent().is_none_or(|p| p.kind() != "export_statement") {
                    return;
                }
            }
            let bases = js_heritage(w, node);
            add_scoped(w, node, SymbolKind::Class, bases);
        }
        "function_declaration" | "generator_function_declaration" | "function_signature" => {
            add_scoped(w, node, SymbolKind::Function, Vec::new());
        }
        "method_definition" | "method_signature" | "abstract_method_signature" => {
            let is_accessor = {
                let mut cursor = node.walk();
                node.children(&mut cursor)
                    .any(|c| !c.is_named() && matches!(c.kind(), "get" | "set"))
            };
            let kind = if is_accessor {
                SymbolKind::Property
            } else {
                SymbolKind::Method
            };
            add_scoped(w, node, kind, Vec::new());
        }
        "field_definition" | "public_field_definition" | "property_signature"
            if matches!(
                enclosing,
                Some(SymbolKind::Class | SymbolKind::Interface | SymbolKind::TypeAlias)
            ) =>
        {
            let name = node
                .child_by_field_name("name")
                .or_else(|| node.child_by_field_name("property"))
                .map(|n| w.text(n));
            if let Some(name) = name {
                let sig = match node.child_by_field_name("value") {
                    Some(v) => w.header(node, Some(v)),
                    None => one_line(w, node),
                };
                add_data(w, node, name, SymbolKind::Field, sig);
            }
        }
        "interface_declaration" => {
            let mut bases = Vec::new();
            let mut cursor = node.walk();
            for child in node.named_children(&mut cursor) {
                if child.kind() == "extends_type_clause" {
                    let mut c2 = child.walk();
                    for t in child.named_children(&mut c2) {
                        bases.push(type_name(w, t).to_string());
                    }
                }
            }
            add_scoped(w, node, SymbolKind::Interface, bases);
        }
        "type_alias_declaration" => add_scoped(w, node, SymbolKind::TypeAlias, Vec::new()),
        "enum_declaration" => {
            add_scoped(w, node, SymbolKind::Enum, Vec::new());
            js_enum_members(w, node);
        }
        "internal_module" | "module" => add_scoped(w, node, SymbolKind::Module, Vec::new()),
        "variable_declarator" if !w.in_function() => {
            if let Some(parent) = node.parent()
                && matches!(
                    parent.kind(),
                    "lexical_declaration" | "variable_declaration"
                )
            {
                js_variable(w, node, parent);
            }
        }
        "assignment_expression" if !w.in_function() => js_prototype_method(w, node),
        "arrow_function" | "function_expression" | "function" | "generator_function" => {
            // A callback or IIFE (named ones were taken above as definitions' values).
            w.anonymous_function(node);
        }
        _ => {}
    }
}

fn js_enum_members(w: &mut Walker<'_>, node: Node<'_>) {
    let Some(body) = node.child_by_field_name("body") else {
        return;
    };
    let mut cursor = body.walk();
    let members: Vec<_> = body.named_children(&mut cursor).collect();
    for member in members {
        let name_node = match member.kind() {
            "property_identifier" | "string" => member,
            "enum_assignment" => match member.child_by_field_name("name") {
                Some(n) => n,
                None => continue,
            },
            _ => continue,
        };
        let name = w.text(name_node);
        let sig = one_line(w, member);
        add_data(w, member, name, SymbolKind::EnumMember, sig);
    }
}

fn js_heritage(w: &Walker<'_>, class: Node<'_>) -> Vec<String> {
    let mut bases = Vec::new();
    let mut cursor = class.walk();
    let Some(heritage) = class
        .named_children(&mut cursor)
        .find(|c| c.kind() == "class_heritage")
    else {
        return bases;
    };
    let mut c2 = heritage.walk();
    for clause in heritage.named_children(&mut c2) {
        match clause.kind() {
            "extends_clause" => {
                if let Some(v) = clause.child_by_field_name("value") {
                    bases.push(w.text(v).to_string());
                }
            }
            "implements_clause" => {
                let mut c3 = clause.walk();
                for t in clause.named_children(&mut c3) {
                    bases.push(type_name(w, t).to_string());
                }
            }
            // Plain JavaScript: `class A extends B` has the expression right under the heritage.
            _ => bases.push(w.text(clause).to_string()),
        }
    }
    bases
}

fn js_variable(w: &mut Walker<'_>, d: Node<'_>, node: Node<'_>) {
    let keyword = node
        .child(0)
        .map(|k| w.text(k))
        .filter(|k| matches!(*k, "const" | "let" | "var"))
        .unwrap_or("var");
    {
        let Some(name_node) = d.child_by_field_name("name") else {
            return;
        };
        if name_node.kind() != "identifier" {
            return;
        }
        let name = w.text(name_node);
        let value = d.child_by_field_name("value");
        match value.map(|v| v.kind()) {
            Some("arrow_function" | "function_expression" | "function" | "generator_function") => {
                let body = value.and_then(|v| v.child_by_field_name("body"));
                let sig = format!("{keyword} {}", w.header(d, body));
                let new = NewDef {
                    name: name.to_string(),
                    kind: SymbolKind::Function,
                    node: d,
                    signature: sig,
                    doc: w.leading_comment(node),
                    bases: Vec::new(),
                };
                let idx = w.add(new);
                w.scope(idx, d);
            }
            Some("class") => {
                let class = value.unwrap_or(d);
                let bases = js_heritage(w, class);
                let new = NewDef {
                    name: name.to_string(),
                    kind: SymbolKind::Class,
                    node: d,
                    signature: format!("{keyword} {name} = class"),
                    doc: w.leading_comment(node),
                    bases,
                };
                let idx = w.add(new);
                w.scope(idx, d);
            }
            _ => {
                let kind = if keyword == "const" && is_upper_case(name) {
                    SymbolKind::Constant
                } else {
                    SymbolKind::Variable
                };
                let sig = format!("{keyword} {}", one_line(w, d));
                add_data(w, d, name, kind, sig);
            }
        }
    }
}

/// `Foo.prototype.bar = function (...) {...}` defines method `bar` of `Foo`.
fn js_prototype_method(w: &mut Walker<'_>, node: Node<'_>) {
    let (Some(left), Some(right)) = (
        node.child_by_field_name("left"),
        node.child_by_field_name("right"),
    ) else {
        return;
    };
    if left.kind() != "member_expression"
        || !matches!(
            right.kind(),
            "function_expression" | "function" | "arrow_function"
        )
    {
        return;
    }
    let Some(object) = left.child_by_field_name("object") else {
        return;
    };
    if object.kind() != "member_expression"
        || object
            .child_by_field_name("property")
            .is_none_or(|p| w.text(p) != "prototype")
    {
        return;
    }
    let (Some(class), Some(method)) = (
        object.child_by_field_name("object"),
        left.child_by_field_name("property"),
    ) else {
        return;
    };
    let body = right.child_by_field_name("body");
    let new = NewDef {
        name: w.text(method).to_string(),
        kind: SymbolKind::Method,
        node,
        signature: w.header(node, body),
        doc: w.leading_comment(node.parent().unwrap_or(node)),
        bases: Vec::new(),
    };
    let container = w.text(class).to_string();
    let idx = w.add_with(new, None, container);
    w.scope(idx, node);
}
