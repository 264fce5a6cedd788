//! The symbol index: definitions and references across the repository, from tree-sitter, and
//! the tools that query it (`outline`, `find_definition`, `find_references`, `complete`).
//!
//! The index is built in parallel over the files the `ignore` walker finds (respecting
//! .gitignore), persisted in the user's cache directory keyed by each file's content hash, and
//! updated incrementally through the `files_changed` hook after every edit.

pub mod complete;
pub mod extract;
pub mod index;
pub mod model;
pub mod query;
mod render;
pub mod tools;

pub use index::{IndexError, RefreshStats, SymbolIndex, default_cache_dir};
pub use model::{Definition, FileSymbols, RefTable, SymbolKind};
pub use tools::{
    Complete, FindDefinition, FindReferences, Outline, SymbolService, register, register_with,
};
