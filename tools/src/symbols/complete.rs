//! `complete`: what members really exist on a module, a class, or a receiver like `self`.

use std::collections::HashSet;

use super::index::SymbolIndex;
use super::model::{FileSymbols, SymbolKind};
use super::query::{self, DefRef, MatchTier};
use crate::lang::Lang;

/// Where the lookup happens, for receivers like `self` (the class around `line` in `path`).
#[derive(Debug, Clone, Default)]
pub struct Context<'c> {
    pub path: Option<&'c str>,
    pub line: Option<u32>,
}

/// One member found.
#[derive(Debug, Clone)]
pub struct Member<'a> {
    pub def: DefRef<'a>,
    /// For inherited members: the base type they come from.
    pub inherited_from: Option<String>,
}

/// A submodule of a package (for module targets).
#[derive(Debug, Clone)]
pub struct Submodule {
    pub name: String,
    pub path: String,
}

/// What `complete` resolved the expression to, and its members.
#[derive(Debug, Clone)]
pub struct Completion<'a> {
    /// E.g. "class `Session` (requests/sessions.py:356)".
    pub target: String,
    pub members: Vec<Member<'a>>,
    pub submodules: Vec<Submodule>,
    /// Remarks for the model: other candidates, bases not in the index.
    pub notes: Vec<String>,
}

/// The expression could not be resolved.
#[derive(Debug, Clone)]
pub struct Miss {
    pub message: String,
    pub suggestions: Vec<String>,
}

const RECEIVERS: &[&str] = &["self", "cls", "this", "Self"];

pub fn complete<'a>(
    index: &'a SymbolIndex,
    expression: &str,
    prefix: &str,
    ctx: &Context<'_>,
) -> Result<Completion<'a>, Miss> {
    let expr = expression
        .trim()
        .trim_end_matches('.')
        .trim_end_matches("()")
        .replace("::", ".");
    if expr.is_empty() {
        return Err(Miss {
            message: "the expression is empty; give a module (`pkg.mod` or a file path), a class name, or `self` with path and line".into(),
            suggestions: Vec::new(),
        });
    }
    let mut completion = resolve(index, &expr, ctx)?;
    filter_prefix(&mut completion, prefix);
    Ok(completion)
}

fn resolve<'a>(
    index: &'a SymbolIndex,
    expr: &str,
    ctx: &Context<'_>,
) -> Result<Completion<'a>, Miss> {
    let first = expr.split('.').next().unwrap_or(expr);
    if RECEIVERS.contains(&first) {
        let class = enclosing_type(index, ctx, expr)?;
        if expr.contains('.') {
            return Err(Miss {
                message: format!(
                    "cannot infer the type of `{expr}`; the index knows declarations, not values. Look up the attribute's class by name instead (complete on `{}` lists its fields)",
                    class.def().name
                ),
                suggestions: Vec::new(),
            });
        }
        return Ok(type_members(index, class, Vec::new()));
    }
    let looks_like_path =
        expr.contains('/') || Lang::from_path(std::path::Path::new(expr)).is_some();
    if looks_like_path {
        return resolve_path(index, expr);
    }
    let segments: Vec<&str> = expr.split('.').collect();
    let types = exact_types(index, expr);
    if segments.len() == 1
        && let Some((best, others)) = types.split_first()
    {
        return Ok(type_members(index, *best, other_note(others)));
    }
    let modules = query::find_modules(index, expr);
    if let Some((best, others)) = modules.split_first() {
        let notes = if others.is_empty() {
            Vec::new()
        } else {
            vec![format!(
                "{} other modules match `{expr}`: {}",
                others.len(),
                others
                    .iter()
                    .take(5)
                    .map(|f| f.path.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )]
        };
        return Ok(module_members(index, best, notes));
    }
    if segments.len() > 1 {
        if let Some(found) = module_then_members(index, &segments) {
            return Ok(found);
        }
        if let Some((best, others)) = types.split_first() {
            return Ok(type_members(index, *best, other_note(others)));
        }
    }
    // Case-insensitive or name-only type matches.
    let loose: Vec<DefRef<'a>> = query::find_definitions(index, expr)
        .into_iter()
        .filter(|(_, r)| r.def().kind.is_type_like())
        .map(|(_, r)| r)
        .collect();
    if let Some((best, others)) = loose.split_first() {
        let mut notes = other_note(others);
        notes.insert(
            0,
            format!(
                "no exact match for `{expr}`; showing `{}`",
                best.full_name()
            ),
        );
        return Ok(type_members(index, *best, notes));
    }
    Err(no_match(index, expr, &segments))
}

/// The members of the source file `expr` names.
fn resolve_path<'a>(index: &'a SymbolIndex, expr: &str) -> Result<Completion<'a>, Miss> {
    let rel = expr.trim_start_matches("./");
    match index.file(rel) {
        Some(file) => Ok(module_members(index, file, Vec::new())),
        None => Err(Miss {
            message: format!("`{rel}` is not an indexed source file"),
            suggestions: query::similar_names(
                rel,
                index.files().into_iter().map(|f| f.path.as_str()),
                5,
            ),
        }),
    }
}

/// The miss for an expression that names nothing: similar type and module names as
/// suggestions.
fn no_match(index: &SymbolIndex, expr: &str, segments: &[&str]) -> Miss {
    let last = segments.last().copied().unwrap_or(expr);
    let type_names = index
        .files()
        .into_iter()
        .flat_map(|f| f.defs.iter())
        .filter(|d| d.kind.is_type_like())
        .map(|d| d.name.as_str());
    let mut suggestions = query::similar_names(last, type_names, 6);
    let module_names: Vec<String> = index
        .files()
        .into_iter()
        .map(|f| query::module_name(&f.path))
        .collect();
    let last_modules = module_names
        .iter()
        .map(|m| m.rsplit('.').next().unwrap_or(m));
    for m in query::similar_names(last, last_modules, 3) {
        if !suggestions.contains(&m) {
            suggestions.push(m);
        }
    }
    Miss {
        message: format!("no module, class or type named `{expr}` in the index"),
        suggestions,
    }
}

fn other_note(others: &[DefRef<'_>]) -> Vec<String> {
    if others.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "{} other definitions share the name: {}",
        others.len(),
        others
            .iter()
            .take(5)
            .map(|r| format!("{}:{}", r.file.path, r.def().line))
            .collect::<Vec<_>>()
            .join(", ")
    )]
}

/// Type-like definitions whose (qualified) name is exactly `expr`, best first.
fn exact_types<'a>(index: &'a SymbolIndex, expr: &str) -> Vec<DefRef<'a>> {
    query::find_definitions(index, expr)
        .into_iter()
        .filter(|(tier, r)| *tier == MatchTier::Exact && r.def().kind.is_type_like())
        .map(|(_, r)| r)
        .collect()
}

/// `pkg.mod.Class.Inner` → module `pkg.mod`, then member `Class`, then nested `Inner`.
fn module_then_members<'a>(index: &'a SymbolIndex, segments: &[&str]) -> Option<Completion<'a>> {
    for split in (1..segments.len()).rev() {
        let module = segments[..split].join(".");
        let Some(file) = query::find_modules(index, &module).into_iter().next() else {
            continue;
        };
        let mut parent: Option<usize> = None;
        let mut found: Option<DefRef<'a>> = None;
        for name in &segments[split..] {
            let hit = file
                .defs
                .iter()
                .enumerate()
                .find(|(_, d)| d.parent.map(|p| p as usize) == parent && d.name == *name);
            match hit {
                Some((i, d)) if d.kind.is_type_like() => {
                    parent = Some(i);
                    found = Some(DefRef { file, index: i });
                }
                Some((_, d)) if d.kind == SymbolKind::Import => {
                    // Re-exported: resolve the imported name as a type anywhere.
                    let types = exact_types(index, name);
                    let best = types.first()?;
                    let note = format!("`{name}` is imported in {} ({})", file.path, d.signature);
                    return Some(type_members(index, *best, vec![note]));
                }
                _ => {
                    found = None;
                    break;
                }
            }
        }
        if let Some(found) = found {
            return Some(type_members(index, found, Vec::new()));
        }
    }
    None
}

/// The type around `ctx.line` in `ctx.path`, for `self`/`this`.
fn enclosing_type<'a>(
    index: &'a SymbolIndex,
    ctx: &Context<'_>,
    expr: &str,
) -> Result<DefRef<'a>, Miss> {
    let Some(path) = ctx.path else {
        return Err(Miss {
            message: format!(
                "`{expr}` needs a context: give `path` (and `line`) of the code where it appears, or give the class name instead"
            ),
            suggestions: Vec::new(),
        });
    };
    let path = path.trim_start_matches("./");
    let Some(file) = index.file(path) else {
        return Err(Miss {
            message: format!("`{path}` is not an indexed source file"),
            suggestions: Vec::new(),
        });
    };
    let types: Vec<usize> = file
        .defs
        .iter()
        .enumerate()
        .filter(|(_, d)| d.kind.is_type_like() || d.kind == SymbolKind::Impl)
        .map(|(i, _)| i)
        .collect();
    let chosen = match ctx.line {
        // The innermost type whose span holds the line.
        Some(line) => types
            .iter()
            .copied()
            .filter(|&i| file.defs[i].line <= line && line <= file.defs[i].end_line)
            .max_by_key(|&i| file.defs[i].line),
        None if types.len() == 1 => types.first().copied(),
        None => None,
    };
    match chosen {
        Some(i) => {
            let def = &file.defs[i];
            if def.kind == SymbolKind::Impl {
                // `self` in a Rust impl: the implemented type.
                if let Some(t) = exact_types(index, &def.name).first() {
                    return Ok(*t);
                }
            }
            Ok(DefRef { file, index: i })
        }
        None => Err(Miss {
            message: match ctx.line {
                Some(line) => format!("line {line} of `{path}` is not inside a class"),
                None => format!(
                    "`{path}` has {} classes; give `line` to say which one `{expr}` is",
                    types.len()
                ),
            },
            suggestions: types.iter().map(|&i| file.defs[i].name.clone()).collect(),
        }),
    }
}

fn module_members<'a>(
    index: &'a SymbolIndex,
    file: &'a FileSymbols,
    notes: Vec<String>,
) -> Completion<'a> {
    let members = file
        .defs
        .iter()
        .enumerate()
        .filter(|(_, d)| d.parent.is_none() && d.kind != SymbolKind::Impl)
        .filter(|(_, d)| d.kind != SymbolKind::Method || d.container.is_empty())
        .map(|(i, _)| Member {
            def: DefRef { file, index: i },
            inherited_from: None,
        })
        .collect();
    let module = query::module_name(&file.path);
    let package_dir = file
        .path
        .rsplit_once('/')
        .map_or("", |(dir, _)| dir)
        .to_string();
    let is_package = file.path.ends_with("/__init__.py") || file.path.ends_with("/mod.rs");
    let mut submodules = Vec::new();
    if is_package {
        let mut seen = HashSet::new();
        for f in index.files() {
            let Some(rest) = f.path.strip_prefix(&format!("{package_dir}/")) else {
                continue;
            };
            if f.path == file.path {
                continue;
            }
            let child = rest.split('/').next().unwrap_or(rest);
            let child = child.split('.').next().unwrap_or(child).to_string();
            if seen.insert(child.clone()) {
                submodules.push(Submodule {
                    name: child,
                    path: f.path.clone(),
                });
            }
        }
    }
    Completion {
        target: format!("module `{module}` ({})", file.path),
        members,
        submodules,
        notes,
    }
}

/// Members of a type: its own (from every definition block of it: Rust `impl`s, Go methods),
/// then those inherited from bases found in the index.
fn type_members<'a>(
    index: &'a SymbolIndex,
    ty: DefRef<'a>,
    mut notes: Vec<String>,
) -> Completion<'a> {
    let def = ty.def();
    let target = format!(
        "{} `{}` ({}:{})",
        def.kind.label(),
        ty.full_name(),
        ty.file.path,
        def.line
    );
    let mut members = Vec::new();
    let mut seen_names: HashSet<&str> = HashSet::new();
    let mut visited: HashSet<(usize, usize)> = HashSet::new();
    let mut queue: Vec<(DefRef<'a>, Option<String>)> = vec![(ty, None)];
    let mut missing_bases = Vec::new();
    while let Some((current, from)) = queue.pop() {
        let key = (current.file as *const FileSymbols as usize, current.index);
        if !visited.insert(key) || visited.len() > 32 {
            continue;
        }
        let (own, bases) = direct_members(index, current);
        for m in own {
            if seen_names.insert(m.def().name.as_str()) {
                members.push(Member {
                    def: m,
                    inherited_from: from.clone(),
                });
            }
        }
        // Bases in declaration order: push reversed so the first base is visited first.
        let mut resolved = Vec::new();
        for base in bases {
            match resolve_base(index, current, &base) {
                Some(b) => resolved.push((
                    b,
                    Some(format!(
                        "{} ({}:{})",
                        b.def().name,
                        b.file.path,
                        b.def().line
                    )),
                )),
                None => missing_bases.push(base),
            }
        }
        for entry in resolved.into_iter().rev() {
            queue.push(entry);
        }
    }
    missing_bases.retain(|b| !matches!(b.as_str(), "object"));
    if !missing_bases.is_empty() {
        missing_bases.dedup();
        notes.push(format!(
            "bases not in the index (their members are not listed): {}",
            missing_bases.join(", ")
        ));
    }
    Completion {
        target,
        members,
        submodules: Vec::new(),
        notes,
    }
}

/// The members declared directly on `ty`, and its bases (as written).
fn direct_members<'a>(index: &'a SymbolIndex, ty: DefRef<'a>) -> (Vec<DefRef<'a>>, Vec<String>) {
    let def = ty.def();
    let mut blocks: Vec<DefRef<'a>> = vec![ty];
    let mut extra_methods = Vec::new();
    match ty.file.lang {
        Lang::Rust => {
            for file in index.files().into_iter().filter(|f| f.lang == Lang::Rust) {
                for (i, d) in file.defs.iter().enumerate() {
                    if d.kind == SymbolKind::Impl && d.name == def.name {
                        blocks.push(DefRef { file, index: i });
                    }
                }
            }
            // The type's own file first, then the other files in path order.
            blocks[1..].sort_by_key(|b| !std::ptr::eq(b.file, ty.file));
        }
        Lang::Go => {
            let dir = ty.file.path.rsplit_once('/').map_or("", |(d, _)| d);
            for file in index.files().into_iter().filter(|f| f.lang == Lang::Go) {
                if file.path.rsplit_once('/').map_or("", |(d, _)| d) != dir {
                    continue;
                }
                for (i, d) in file.defs.iter().enumerate() {
                    if d.kind == SymbolKind::Method && d.parent.is_none() && d.container == def.name
                    {
                        extra_methods.push(DefRef { file, index: i });
                    }
                }
            }
        }
        Lang::JavaScript | Lang::TypeScript | Lang::Tsx => {
            for (i, d) in ty.file.defs.iter().enumerate() {
                if d.kind == SymbolKind::Method && d.parent.is_none() && d.container == def.name {
                    extra_methods.push(DefRef {
                        file: ty.file,
                        index: i,
                    });
                }
            }
        }
        _ => {}
    }
    let mut members = Vec::new();
    let mut bases = Vec::new();
    for block in blocks {
        bases.extend(block.def().bases.iter().cloned());
        for (i, d) in block.file.defs.iter().enumerate() {
            if d.parent == Some(block.index as u32) {
                members.push(DefRef {
                    file: block.file,
                    index: i,
                });
            }
        }
    }
    members.extend(extra_methods);
    (members, bases)
}

/// Finds the definition of base `written` (e.g. `models.Model`, `Base<T>`) as seen from `from`.
fn resolve_base<'a>(index: &'a SymbolIndex, from: DefRef<'a>, written: &str) -> Option<DefRef<'a>> {
    let cleaned = written
        .split(['<', '[', '('])
        .next()
        .unwrap_or(written)
        .trim();
    let cleaned = cleaned.replace("::", ".");
    let (qualifier, name) = match cleaned.rsplit_once('.') {
        Some((q, n)) => (Some(q.to_string()), n.to_string()),
        None => (None, cleaned.clone()),
    };
    let candidates: Vec<DefRef<'a>> = query::find_definitions(index, &name)
        .into_iter()
        .filter(|(tier, r)| *tier == MatchTier::Exact && r.def().kind.is_type_like())
        .map(|(_, r)| r)
        .collect();
    // Same file first, then a module matching the qualifier, then the best-ranked.
    if let Some(r) = candidates.iter().find(|r| std::ptr::eq(r.file, from.file)) {
        return Some(*r);
    }
    if let Some(q) = qualifier {
        let last_q = q.rsplit('.').next().unwrap_or(&q).to_string();
        if let Some(r) = candidates.iter().find(|r| {
            query::module_name(&r.file.path)
                .split('.')
                .any(|s| s == last_q)
        }) {
            return Some(*r);
        }
    }
    candidates.first().copied()
}

fn filter_prefix(completion: &mut Completion<'_>, prefix: &str) {
    let prefix = prefix.trim();
    if prefix.is_empty() {
        return;
    }
    let exact: Vec<Member<'_>> = completion
        .members
        .iter()
        .filter(|m| m.def.def().name.starts_with(prefix))
        .cloned()
        .collect();
    let lower = prefix.to_lowercase();
    completion.members = if exact.is_empty() {
        completion
            .members
            .iter()
            .filter(|m| m.def.def().name.to_lowercase().starts_with(&lower))
            .cloned()
            .collect()
    } else {
        exact
    };
    completion
        .submodules
        .retain(|s| s.name.to_lowercase().starts_with(&lower));
}
