//! Lookups over the index: ranked definitions, references, and similar names.

use std::collections::{BTreeMap, HashSet};

use super::index::SymbolIndex;
use super::model::{Definition, FileSymbols, SymbolKind};
use crate::lang::Lang;

/// A definition together with the file it is in.
#[derive(Debug, Clone, Copy)]
pub struct DefRef<'a> {
    pub file: &'a FileSymbols,
    pub index: usize,
}

impl<'a> DefRef<'a> {
    pub fn def(&self) -> &'a Definition {
        &self.file.defs[self.index]
    }

    /// `module.Container.name` (module from the file path, see [`module_name`]).
    pub fn full_name(&self) -> String {
        let module = module_name(&self.file.path);
        format!("{module}.{}", self.def().qualified_name())
    }
}

/// How well a definition matches a `find_definition` query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatchTier {
    /// The name (or the dotted qualified name) is exactly the query.
    Exact,
    /// Equal ignoring case.
    CaseInsensitive,
    /// For a dotted query `A.b`: a definition named `b` whose container is not `A`.
    NameOnly,
}

/// Whether a path looks like a test file; test definitions rank after the rest.
pub fn is_test_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let file = lower.rsplit('/').next().unwrap_or(&lower);
    lower.split('/').any(|c| {
        matches!(
            c,
            "test" | "tests" | "testing" | "__tests__" | "spec" | "specs"
        )
    }) || file.starts_with("test_")
        || file.starts_with("tests.")
        || file.contains("_test.")
        || file.contains(".test.")
        || file.contains(".spec.")
        || file.ends_with("test.java")
        || file.ends_with("tests.java")
        || file == "conftest.py"
}

/// The dotted module a file stands for: `pkg/sub/mod.py` → `pkg.sub.mod`,
/// `pkg/__init__.py` → `pkg`, `src/lib.rs` → `src.lib`.
pub fn module_name(path: &str) -> String {
    let (without_ext, ext) = match path.rfind('.') {
        Some(dot) if !path[dot..].contains('/') => (&path[..dot], &path[dot + 1..]),
        _ => (path, ""),
    };
    // The file that stands for its directory: `__init__.py`, `mod.rs`, `index.js`.
    let package_file = match ext {
        "py" | "pyi" => "/__init__",
        "rs" => "/mod",
        "js" | "jsx" | "mjs" | "cjs" | "ts" | "tsx" | "mts" | "cts" => "/index",
        _ => "",
    };
    let trimmed = if package_file.is_empty() {
        without_ext
    } else {
        without_ext
            .strip_suffix(package_file)
            .unwrap_or(without_ext)
    };
    trimmed.replace('/', ".")
}

/// Kinds `find_definition` reports (imports and `impl` blocks are not definitions of a name).
fn is_reportable(kind: SymbolKind) -> bool {
    !matches!(kind, SymbolKind::Import | SymbolKind::Impl)
}

/// Definitions matching `query` (a name, or a dotted `Class.method` / `pkg.mod.Class`), best
/// first: exact, then case-insensitive, then (for dotted queries) same name elsewhere; within a
/// tier non-test files, types before functions before data, shallower paths first.
pub fn find_definitions<'a>(index: &'a SymbolIndex, query: &str) -> Vec<(MatchTier, DefRef<'a>)> {
    let query = query.trim().trim_end_matches("()");
    let (qualifier, name) = match query.rsplit_once(['.', ':']) {
        Some((q, n)) => (Some(q.trim_end_matches(':')), n),
        None => (None, query),
    };
    let dotted_query = query.replace("::", ".");
    let dotted_lower = dotted_query.to_lowercase();
    let mut found = Vec::new();
    for file in index.files() {
        for (i, def) in file.defs.iter().enumerate() {
            if !is_reportable(def.kind) || !def.name.eq_ignore_ascii_case(name) {
                continue;
            }
            let r = DefRef { file, index: i };
            let tier = match qualifier {
                None if def.name == name => MatchTier::Exact,
                None => MatchTier::CaseInsensitive,
                Some(_) => {
                    let full = r.full_name();
                    let full_lower = full.to_lowercase();
                    if ends_with_segment(&full, &dotted_query) {
                        MatchTier::Exact
                    } else if ends_with_segment(&full_lower, &dotted_lower) {
                        MatchTier::CaseInsensitive
                    } else if def.name == name {
                        MatchTier::NameOnly
                    } else {
                        continue;
                    }
                }
            };
            found.push((tier, r));
        }
    }
    found.sort_by(|a, b| rank_key(a).cmp(&rank_key(b)));
    found
}

fn rank_key<'a>(entry: &(MatchTier, DefRef<'a>)) -> (MatchTier, bool, u8, usize, &'a str, u32) {
    let (tier, r) = entry;
    let def = r.def();
    (
        *tier,
        is_test_path(&r.file.path),
        def.kind.rank(),
        r.file.path.matches('/').count(),
        r.file.path.as_str(),
        def.line,
    )
}

/// `full` ends with `suffix` at a `.` boundary (or equals it).
fn ends_with_segment(full: &str, suffix: &str) -> bool {
    full == suffix
        || full
            .strip_suffix(suffix)
            .is_some_and(|rest| rest.ends_with('.'))
}

/// Lines where `name` occurs as an identifier, per file (path order), optionally only under
/// `path_prefix`.
pub fn find_references<'a>(
    index: &'a SymbolIndex,
    name: &str,
    path_prefix: Option<&str>,
) -> Vec<(&'a FileSymbols, &'a [u32])> {
    index
        .files()
        .into_iter()
        .filter(|f| path_prefix.is_none_or(|p| under(&f.path, p)))
        .filter_map(|f| {
            let lines = f.refs.lines_of(name);
            (!lines.is_empty()).then_some((f, lines))
        })
        .collect()
}

/// `path` is `prefix` or inside directory `prefix`.
pub fn under(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    prefix.is_empty() || prefix == "." || path == prefix || path.starts_with(&format!("{prefix}/"))
}

/// Levenshtein distance, capped: returns `max + 1` as soon as it must exceed `max`.
pub fn edit_distance(a: &str, b: &str, max: usize) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > max {
        return max + 1;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            row_min = row_min.min(cur[j]);
        }
        if row_min > max {
            return max + 1;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Up to `limit` distinct names from `candidates` close to `query`: small edit distance
/// (ignoring case) or containing it; closest first.
pub fn similar_names<'a>(
    query: &str,
    candidates: impl Iterator<Item = &'a str>,
    limit: usize,
) -> Vec<String> {
    let q = query.to_lowercase();
    let max = (q.chars().count() / 3).clamp(1, 3);
    let mut scored: BTreeMap<(usize, usize, usize, String), ()> = BTreeMap::new();
    let mut seen = HashSet::new();
    for cand in candidates {
        if cand == query || !seen.insert(cand) {
            continue;
        }
        let lower = cand.to_lowercase();
        let distance = edit_distance(&q, &lower, max);
        let score = if distance <= max {
            distance
        } else if q.len() >= 3 && lower.contains(&q) {
            max + 1
        } else {
            continue;
        };
        // Ties go to the candidate closer in case, then the shorter.
        let exact_case = edit_distance(query, cand, max + 3);
        scored.insert((score, exact_case, cand.len(), cand.to_string()), ());
        if scored.len() > limit * 4 {
            scored.pop_last();
        }
    }
    scored.into_keys().take(limit).map(|k| k.3).collect()
}

/// Names of reportable definitions, for suggestions.
pub fn definition_names(index: &SymbolIndex) -> impl Iterator<Item = &str> + '_ {
    index
        .files()
        .into_iter()
        .flat_map(|f| f.defs.iter())
        .filter(|d| is_reportable(d.kind))
        .map(|d| d.name.as_str())
}

/// Files whose module name is `module` or ends with `.module`; Python packages first.
pub fn find_modules<'a>(index: &'a SymbolIndex, module: &str) -> Vec<&'a FileSymbols> {
    let module = module.trim().trim_matches('.');
    let as_path = module.trim_start_matches("./");
    let mut found: Vec<&FileSymbols> = index
        .files()
        .into_iter()
        .filter(|f| {
            f.path == as_path
                || ends_with_segment(&module_name(&f.path), module)
                || (as_path.contains('/')
                    && Lang::from_path(std::path::Path::new(as_path)).is_none()
                    && module_name(&f.path) == module_name(as_path))
        })
        .collect();
    found.sort_by_key(|f| {
        (
            f.path != as_path,
            is_test_path(&f.path),
            f.path.matches('/').count(),
            f.path.clone(),
        )
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_from_paths() {
        assert_eq!(module_name("pkg/sub/mod.py"), "pkg.sub.mod");
        assert_eq!(module_name("pkg/__init__.py"), "pkg");
        assert_eq!(module_name("src/lib.rs"), "src.lib");
        assert_eq!(module_name("web/index.ts"), "web");
        assert_eq!(module_name("src/mod.py"), "src.mod");
        assert_eq!(module_name("src/net/mod.rs"), "src.net");
    }

    #[test]
    fn test_paths_are_recognised() {
        assert!(is_test_path("tests/test_models.py"));
        assert!(is_test_path("pkg/foo_test.go"));
        assert!(is_test_path("src/app.spec.ts"));
        assert!(is_test_path("src/test/java/FooTest.java"));
        assert!(!is_test_path("django/db/models/query.py"));
        assert!(!is_test_path("src/contest.py"));
    }

    #[test]
    fn edit_distance_is_capped() {
        assert_eq!(edit_distance("kitten", "sitting", 5), 3);
        assert_eq!(edit_distance("abc", "abc", 1), 0);
        assert_eq!(edit_distance("a", "abcdef", 2), 3);
    }

    #[test]
    fn similar_names_prefers_close_ones() {
        let names = ["request", "requests", "Request", "respond", "unrelated"];
        let out = similar_names("reqest", names.into_iter(), 3);
        assert_eq!(out[0], "request");
        assert!(!out.contains(&"unrelated".to_string()));
    }

    #[test]
    fn segment_suffix() {
        assert!(ends_with_segment("a.b.Session.get", "Session.get"));
        assert!(!ends_with_segment("a.b.MySession.get", "Session.get"));
    }
}
