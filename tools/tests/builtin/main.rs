//! The built-in tools against real files in temporary repositories, called through the
//! registry with JSON arguments exactly as the session loop calls them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod edit;
mod jail_props;
mod patch;
mod search;
mod support;
mod view;
