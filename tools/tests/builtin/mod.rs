//! The built-in tools against real files in temporary repositories, called through the
//! registry with JSON arguments exactly as the session loop calls them.

mod edit;
mod jail_props;
mod patch;
mod search;
mod support;
mod view;
