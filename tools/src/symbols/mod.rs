//! The symbol index: definitions and references across the repository, from tree-sitter.

pub mod extract;
pub mod index;
pub mod model;

pub use index::{IndexError, RefreshStats, SymbolIndex, default_cache_dir};
pub use model::{Definition, FileSymbols, RefTable, SymbolKind};
