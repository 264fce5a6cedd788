//! The end-to-end suites: the `agent` binary driven as users drive it, against real
//! interfaces (the scripted model server over HTTP, the Docker engine, git repositories, a
//! fake GitHub API, a headless browser). One test binary; one module per suite, so
//! `cargo test -p agent-tests --test e2e security::` runs one suite.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bench_run;
mod bench_shard;
mod engines;
mod engines_batch;
mod fix_docker;
mod fix_e2e;
mod github;
mod images_base;
mod resolve_more;
mod security;
mod session_faults;
mod view;
