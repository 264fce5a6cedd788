//! The symbol index: definitions and references across the repository, from tree-sitter.
