//! The tools crate's tests: built-in tools and the symbol index on real temporary
//! repositories. One test binary, one module per area.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../builtin/mod.rs"]
mod builtin;
#[path = "../symbols/mod.rs"]
mod symbols;
