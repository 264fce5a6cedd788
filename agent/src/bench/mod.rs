//! `agent bench run` as a library: the agent over a SWE-bench dataset, N (instance, sample)
//! pairs at a time, each in its own copy of the instance's `/testbed` with a sandbox from the
//! instance's image, resumably. The harness crate supplies what the official harness has
//! (datasets, the predictions file format, specs, images, evaluation); this module holds the
//! orchestration: the loop ([`batch`]), resume ([`resume`]), the output layout ([`layout`]),
//! the per-instance copy ([`prepare`]) and run ([`instance`]), the bars ([`progress`]) and the
//! typed line between a failed instance and a fatal error ([`error`]).

pub mod batch;
pub mod error;
pub mod instance;
pub mod layout;
pub mod prepare;
pub mod progress;
pub mod resume;

pub use batch::{BatchRequest, BatchSummary, run_batch};
pub use error::{FatalError, InstanceFailure};
pub use layout::{EnvError, RunLayout};
pub use resume::Resume;
