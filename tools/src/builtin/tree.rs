//! The directory tree view_file prints for a directory: as deep as fits a budget, .gitignore
//! respected, directories first, unexpanded directories with their entry counts.

use std::collections::BTreeMap;
use std::path::Path;

use super::walk::walker;

/// Deepest level shown.
const MAX_DEPTH: usize = 3;
/// Entries shown before the tree gets shallower (and, at depth 1, cut).
const MAX_ENTRIES: usize = 250;

#[derive(Default)]
struct Node {
    is_dir: bool,
    children: BTreeMap<String, Node>,
}

impl Node {
    fn insert(&mut self, parts: &[String], is_dir: bool) {
        if let Some((first, rest)) = parts.split_first() {
            let child = self.children.entry(first.clone()).or_default();
            if rest.is_empty() {
                child.is_dir = is_dir;
            } else {
                child.is_dir = true;
                child.insert(rest, is_dir);
            }
        }
    }

    /// Entries down to `depth` levels below this node.
    fn count(&self, depth: usize) -> usize {
        if depth == 0 {
            return 0;
        }
        self.children.values().map(|c| 1 + c.count(depth - 1)).sum()
    }

    fn sorted_children(&self) -> Vec<(&String, &Node)> {
        let mut children: Vec<_> = self.children.iter().collect();
        children.sort_by_key(|(name, node)| (!node.is_dir, name.to_lowercase()));
        children
    }
}

/// Renders the tree under `dir`; `shown` is its path relative to the repository root.
pub(crate) fn render_tree(dir: &Path, shown: &str) -> String {
    let mut root = Node {
        is_dir: true,
        ..Node::default()
    };
    let mut builder = walker(dir);
    // One level more than shown, to count the entries of unexpanded directories.
    builder.max_depth(Some(MAX_DEPTH + 1));
    for entry in builder.build().flatten() {
        let Ok(rel) = entry.path().strip_prefix(dir) else {
            continue;
        };
        if rel.as_os_str().is_empty() {
            continue;
        }
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
        root.insert(&parts, is_dir);
    }
    if root.children.is_empty() {
        return format!("`{shown}` is an empty directory (or all its entries are .gitignored)\n");
    }
    let depth = (1..=MAX_DEPTH)
        .rev()
        .find(|&d| root.count(d) <= MAX_ENTRIES)
        .unwrap_or(1);
    let dirs = root.children.values().filter(|c| c.is_dir).count();
    let files = root.children.len() - dirs;
    let label = if shown == "." || shown.is_empty() {
        "the repository root".to_string()
    } else {
        format!("`{shown}`")
    };
    let dirs = count_noun(dirs, "subdirectory", "subdirectories");
    let files = count_noun(files, "file", "files");
    let mut out = format!(
        "{label} is a directory with {dirs} and {files}; tree to depth {depth}, .gitignored entries omitted:\n"
    );
    let mut budget = MAX_ENTRIES;
    render_children(&root, depth, 0, &mut budget, &mut out);
    out.push_str("Use view_file on a file to read it, or on a subdirectory to see deeper.\n");
    out
}

fn render_children(node: &Node, depth: usize, indent: usize, budget: &mut usize, out: &mut String) {
    let children = node.sorted_children();
    let total = children.len();
    for (shown, (name, child)) in children.into_iter().enumerate() {
        if *budget == 0 {
            out.push_str(&format!(
                "{}[... {} more entries not shown]\n",
                "  ".repeat(indent),
                total - shown
            ));
            return;
        }
        *budget -= 1;
        let pad = "  ".repeat(indent);
        if child.is_dir {
            if depth > 1 {
                out.push_str(&format!("{pad}{name}/\n"));
                render_children(child, depth - 1, indent + 1, budget, out);
            } else {
                let n = child.children.len();
                let noun = if n == 1 { "entry" } else { "entries" };
                out.push_str(&format!("{pad}{name}/  ({n} {noun})\n"));
            }
        } else {
            out.push_str(&format!("{pad}{name}\n"));
        }
    }
}

fn count_noun(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
