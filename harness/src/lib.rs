//! SWE-bench for the agent: datasets and predictions, repo/version environment specs, eval
//! scripts, log parsers, grading and reports with the official harness's semantics (4.1.0 or 5.x),
//! evaluation in fresh Docker containers, and metrics over samples.

pub mod context;
pub mod dataset;
pub mod engines;
pub mod error;
pub mod evaluate;
pub mod evaluate_pool;
pub mod grading;
pub mod images;
pub mod log_parsers;
pub mod merge;
pub mod metrics;
pub mod mini;
pub mod official;
pub mod prediction_log;
pub mod predictions;
pub mod pyjson;
pub mod report;
pub mod runlog;
pub mod shard;
pub mod specs;
pub mod stop;
pub mod testspec;
pub mod validate;

pub use dataset::{Dataset, Instance};
pub use error::{HarnessError, Result};
pub use grading::InstanceReport;
pub use log_parsers::{LogParser, StatusMap, TestStatus};
pub use predictions::{Prediction, Predictions};
pub use report::RunSummary;
pub use specs::{Spec, SpecTable};
pub mod repos;
