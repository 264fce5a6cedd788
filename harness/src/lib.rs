//! SWE-bench for the agent: datasets and predictions, repo/version environment specs, eval
//! scripts, log parsers, grading and reports with the official harness's semantics (4.1.0),
//! evaluation in fresh Docker containers, and metrics over samples.

pub mod dataset;
pub mod error;
pub mod grading;
pub mod log_parsers;
pub mod metrics;
pub mod predictions;
pub mod pyjson;
pub mod report;
pub mod specs;
pub mod testspec;

pub use dataset::{Dataset, Instance};
pub use error::{HarnessError, Result};
pub use grading::InstanceReport;
pub use log_parsers::{LogParser, StatusMap, TestStatus};
pub use predictions::{Prediction, Predictions};
pub use report::RunSummary;
pub use specs::{Spec, SpecTable};
pub mod repos;
