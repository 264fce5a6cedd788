//! Symbol index and tools on real temporary repositories.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod complete;
mod extract;
mod index;
mod query;
mod support;
mod tools;
