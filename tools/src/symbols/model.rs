//! What the index stores per file: definitions and identifier references.

use serde::{Deserialize, Serialize};

use crate::lang::Lang;

/// What kind of thing a definition is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SymbolKind {
    Module,
    Class,
    Struct,
    Enum,
    Interface,
    Trait,
    /// A Rust `impl` block; its name is the implementing type.
    Impl,
    Function,
    Method,
    Property,
    Field,
    Constant,
    Variable,
    EnumMember,
    TypeAlias,
    Macro,
    /// A name bound by a Python import at module level (a module's namespace includes it).
    Import,
}

impl SymbolKind {
    pub fn label(self) -> &'static str {
        match self {
            SymbolKind::Module => "module",
            SymbolKind::Class => "class",
            SymbolKind::Struct => "struct",
            SymbolKind::Enum => "enum",
            SymbolKind::Interface => "interface",
            SymbolKind::Trait => "trait",
            SymbolKind::Impl => "impl",
            SymbolKind::Function => "function",
            SymbolKind::Method => "method",
            SymbolKind::Property => "property",
            SymbolKind::Field => "field",
            SymbolKind::Constant => "constant",
            SymbolKind::Variable => "variable",
            SymbolKind::EnumMember => "enum member",
            SymbolKind::TypeAlias => "type alias",
            SymbolKind::Macro => "macro",
            SymbolKind::Import => "import",
        }
    }

    /// Types that have members a `complete` lookup can list.
    pub fn is_type_like(self) -> bool {
        matches!(
            self,
            SymbolKind::Class
                | SymbolKind::Struct
                | SymbolKind::Enum
                | SymbolKind::Interface
                | SymbolKind::Trait
        )
    }

    /// Ranking weight for `find_definition`: types first, then callables, then data.
    pub fn rank(self) -> u8 {
        match self {
            SymbolKind::Class
            | SymbolKind::Struct
            | SymbolKind::Enum
            | SymbolKind::Interface
            | SymbolKind::Trait => 0,
            SymbolKind::Function | SymbolKind::Method | SymbolKind::Property => 1,
            SymbolKind::TypeAlias | SymbolKind::Module | SymbolKind::Macro => 2,
            SymbolKind::Constant | SymbolKind::EnumMember => 3,
            SymbolKind::Field | SymbolKind::Variable => 4,
            SymbolKind::Impl | SymbolKind::Import => 5,
        }
    }
}

/// One definition in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Definition {
    pub name: String,
    pub kind: SymbolKind,
    /// 1-based line of the definition's header (the `def`/`fn`/`class` line, not decorators).
    pub line: u32,
    /// 1-based last line of the definition's body.
    pub end_line: u32,
    /// Index (in the file's `defs`) of the enclosing definition, if any.
    pub parent: Option<u32>,
    /// Dotted path of the enclosing definitions (`Outer.Inner`), or for a Go method its
    /// receiver type; empty at top level.
    pub container: String,
    /// The header without the body, whitespace collapsed onto one line.
    pub signature: String,
    /// First line of the docstring or doc comment.
    pub doc: Option<String>,
    /// Base classes / extended types / implemented traits, as written (`models.Model`).
    pub bases: Vec<String>,
}

impl Definition {
    /// `Container.name`, or just `name` at top level.
    pub fn qualified_name(&self) -> String {
        if self.container.is_empty() {
            self.name.clone()
        } else {
            format!("{}.{}", self.container, self.name)
        }
    }
}

/// Identifier occurrences in a file: sorted unique names, each with its sorted unique lines.
/// Stored flat because a large repository has a million of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefTable {
    /// The names, concatenated.
    names: String,
    /// End offset of each name in `names`.
    name_ends: Vec<u32>,
    /// End offset of each name's lines in `lines`.
    line_ends: Vec<u32>,
    /// 1-based line numbers.
    lines: Vec<u32>,
}

impl RefTable {
    /// Builds the table from `(name, line)` pairs in any order, with duplicates.
    pub fn from_pairs(pairs: Vec<(&str, u32)>) -> Self {
        // Intern the names, sort the few distinct ones, then sort (name rank, line) as plain
        // integers: much cheaper than sorting the pairs by string.
        let mut ids: std::collections::HashMap<&str, u32> =
            std::collections::HashMap::with_capacity(pairs.len() / 4 + 1);
        let mut names: Vec<&str> = Vec::new();
        let mut keyed: Vec<(u32, u32)> = Vec::with_capacity(pairs.len());
        for (name, line) in pairs {
            let id = *ids.entry(name).or_insert_with(|| {
                names.push(name);
                (names.len() - 1) as u32
            });
            keyed.push((id, line));
        }
        let mut order: Vec<u32> = (0..names.len() as u32).collect();
        order.sort_unstable_by_key(|&id| names[id as usize]);
        let mut rank = vec![0u32; names.len()];
        for (r, &id) in order.iter().enumerate() {
            rank[id as usize] = r as u32;
        }
        let mut packed: Vec<u64> = keyed
            .into_iter()
            .map(|(id, line)| (u64::from(rank[id as usize]) << 32) | u64::from(line))
            .collect();
        packed.sort_unstable();
        packed.dedup();
        let mut table = RefTable {
            names: String::with_capacity(names.iter().map(|n| n.len()).sum()),
            name_ends: Vec::with_capacity(names.len()),
            line_ends: Vec::with_capacity(names.len()),
            lines: Vec::with_capacity(packed.len()),
        };
        for &id in &order {
            table.names.push_str(names[id as usize]);
            table.name_ends.push(table.names.len() as u32);
        }
        let mut current = 0u32;
        for key in packed {
            let r = (key >> 32) as u32;
            while current < r {
                table.line_ends.push(table.lines.len() as u32);
                current += 1;
            }
            table.lines.push(key as u32);
        }
        while (table.line_ends.len()) < names.len() {
            table.line_ends.push(table.lines.len() as u32);
        }
        table
    }

    pub fn name_count(&self) -> usize {
        self.name_ends.len()
    }

    pub fn occurrence_count(&self) -> usize {
        self.lines.len()
    }

    fn name_at(&self, i: usize) -> &str {
        let start = if i == 0 {
            0
        } else {
            self.name_ends[i - 1] as usize
        };
        &self.names[start..self.name_ends[i] as usize]
    }

    fn lines_at(&self, i: usize) -> &[u32] {
        let start = if i == 0 {
            0
        } else {
            self.line_ends[i - 1] as usize
        };
        &self.lines[start..self.line_ends[i] as usize]
    }

    /// The lines where `name` occurs (empty if it does not).
    pub fn lines_of(&self, name: &str) -> &[u32] {
        let (mut lo, mut hi) = (0, self.name_count());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.name_at(mid).cmp(name) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return self.lines_at(mid),
            }
        }
        &[]
    }

    /// All names, for suggestions.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.name_count()).map(|i| self.name_at(i))
    }
}

/// Everything the index knows about one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSymbols {
    /// Path relative to the repository root, with `/` separators.
    pub path: String,
    /// Content hash (first 16 bytes of BLAKE3).
    pub hash: [u8; 16],
    pub lang: Lang,
    pub line_count: u32,
    pub defs: Vec<Definition>,
    pub refs: RefTable,
}

/// The content hash the index keys files by.
pub fn content_hash(bytes: &[u8]) -> [u8; 16] {
    let full = blake3::hash(bytes);
    let mut out = [0u8; 16];
    out.copy_from_slice(&full.as_bytes()[..16]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_table_finds_lines_per_name() {
        let table = RefTable::from_pairs(vec![("b", 3), ("a", 2), ("b", 1), ("a", 2), ("c", 9)]);
        assert_eq!(table.lines_of("a"), &[2]);
        assert_eq!(table.lines_of("b"), &[1, 3]);
        assert_eq!(table.lines_of("c"), &[9]);
        assert!(table.lines_of("d").is_empty());
        assert_eq!(table.names().collect::<Vec<_>>(), vec!["a", "b", "c"]);
        assert_eq!(table.occurrence_count(), 4);
    }
}
