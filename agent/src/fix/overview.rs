//! A short map of the repository for the task message: its tracked files grouped by folder,
//! cut to a character budget.

use std::collections::BTreeMap;

use crate::workspace::Workspace;

/// Files listed at most per folder before `… and N more`.
const FILES_PER_FOLDER: usize = 12;

/// The overview, and whether it was cut short. `None` when the repository has no files.
pub fn overview(workspace: &Workspace, max_chars: usize) -> Option<(String, bool)> {
    let index = workspace.repository().index().ok()?;
    let paths: Vec<String> = index
        .iter()
        .filter_map(|e| String::from_utf8(e.path).ok())
        .collect();
    render(&paths, max_chars)
}

/// Groups `paths` by folder: `stats/: __init__.py, core.py`.
pub fn render(paths: &[String], max_chars: usize) -> Option<(String, bool)> {
    if paths.is_empty() {
        return None;
    }
    let mut folders: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for p in paths {
        let (dir, file) = match p.rsplit_once('/') {
            Some((d, f)) => (d, f),
            None => ("", p.as_str()),
        };
        folders.entry(dir).or_default().push(file);
    }
    let mut out = String::new();
    let mut truncated = false;
    for (dir, files) in &folders {
        let shown: Vec<&str> = files.iter().take(FILES_PER_FOLDER).copied().collect();
        let more = files.len() - shown.len();
        let mut line = format!(
            "{}: {}",
            if dir.is_empty() { "." } else { dir },
            shown.join(", ")
        );
        if more > 0 {
            line.push_str(&format!(", … and {more} more"));
            truncated = true;
        }
        line.push('\n');
        if out.len() + line.len() > max_chars {
            let left = folders.len() - out.lines().count();
            out.push_str(&format!("… and {left} more folders\n"));
            truncated = true;
            break;
        }
        out.push_str(&line);
    }
    Some((out.trim_end().to_string(), truncated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_grouped_by_folder_within_the_budget() {
        let paths: Vec<String> = [
            "README.md",
            "stats/__init__.py",
            "stats/core.py",
            "tests/test_core.py",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (text, cut) = render(&paths, 1000).unwrap();
        assert_eq!(
            text,
            ".: README.md\nstats: __init__.py, core.py\ntests: test_core.py"
        );
        assert!(!cut);
        let many: Vec<String> = (0..200).map(|i| format!("pkg{i}/m.py")).collect();
        let (text, cut) = render(&many, 300).unwrap();
        assert!(cut && text.len() <= 340, "{}", text.len());
        assert!(text.ends_with("more folders"));
        assert!(render(&[], 100).is_none());
    }
}
