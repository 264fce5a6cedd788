//! Symbol index and tools on real temporary repositories.

mod complete;
mod extract;
mod index;
mod query;
mod support;
mod tools;
