//! Ranking of `find_definition` and grouping of `find_references`.

use agent_tools::symbols::query::{MatchTier, find_definitions, find_references};

use super::support::{Repo, python_repo};

fn ranked(repo: &Repo, query: &str) -> Vec<(MatchTier, String)> {
    let index = repo.index();
    find_definitions(&index, query)
        .into_iter()
        .map(|(tier, r)| (tier, format!("{}:{}", r.file.path, r.def().line)))
        .collect()
}

#[test]
fn exact_before_case_insensitive_and_code_before_tests() {
    let repo = python_repo();
    let hits = ranked(&repo, "Session");
    // The class in the package first; the lowercase function after it; imports are not
    // definitions.
    assert_eq!(
        hits,
        vec![
            (MatchTier::Exact, "pkg/sessions.py:20".to_string()),
            (MatchTier::CaseInsensitive, "pkg/sessions.py:51".to_string()),
        ]
    );
}

#[test]
fn types_before_functions_and_shallow_paths_first() {
    let repo = Repo::new(&[
        ("a/b/c/deep.py", "class Config:\n    pass\n"),
        ("top.py", "def Config():\n    pass\n"),
        ("tests/test_config.py", "class Config:\n    pass\n"),
        ("mid/config.py", "Config = None\n"),
        ("x/shallow.py", "class Config:\n    pass\n"),
    ]);
    let hits: Vec<String> = ranked(&repo, "Config").into_iter().map(|h| h.1).collect();
    assert_eq!(
        hits,
        vec![
            "x/shallow.py:1",
            "a/b/c/deep.py:1",
            "top.py:1",
            "mid/config.py:1",
            "tests/test_config.py:1",
        ]
    );
}

#[test]
fn qualified_names_select_the_container() {
    let repo = python_repo();
    let hits = ranked(&repo, "Session.request");
    assert_eq!(
        hits[0],
        (MatchTier::Exact, "pkg/sessions.py:33".to_string())
    );
    // Other `request` methods follow as name-only matches, never before the exact one.
    assert!(
        hits[1..].iter().all(|h| h.0 == MatchTier::NameOnly),
        "{hits:?}"
    );
    assert!(hits.iter().any(|h| h.1 == "pkg/sessions.py:16"));
    // A module-qualified name works too.
    let hits = ranked(&repo, "pkg.sessions.Session");
    assert_eq!(
        hits[0],
        (MatchTier::Exact, "pkg/sessions.py:20".to_string())
    );
    let hits = ranked(&repo, "adapters.HTTPAdapter.close");
    assert_eq!(
        hits,
        vec![(MatchTier::Exact, "pkg/adapters.py:7".to_string())]
    );
}

#[test]
fn references_are_grouped_by_file_and_filterable() {
    let repo = python_repo();
    let index = repo.index();
    let refs: Vec<(String, Vec<u32>)> = find_references(&index, "Session", None)
        .into_iter()
        .map(|(f, lines)| (f.path.clone(), lines.to_vec()))
        .collect();
    assert_eq!(
        refs,
        vec![
            ("pkg/__init__.py".to_string(), vec![2]),
            ("pkg/sessions.py".to_string(), vec![20, 53]),
            ("tests/test_sessions.py".to_string(), vec![1, 5, 10]),
        ]
    );
    let only_tests = find_references(&index, "Session", Some("tests"));
    assert_eq!(only_tests.len(), 1);
    assert_eq!(only_tests[0].0.path, "tests/test_sessions.py");
}
