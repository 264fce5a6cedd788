//! The built-in tools and the default registry.

mod control;
mod run;
mod str_replace;
mod view_file;

pub use control::{Submit, UpdatePlan};
pub use run::Run;
pub use str_replace::StrReplace;
pub use view_file::ViewFile;

use crate::error::ToolError;
use crate::jail::JailError;
use crate::registry::ToolRegistry;

/// The registry `agent fix` uses.
pub fn default_registry() -> ToolRegistry {
    let mut registry = ToolRegistry::new();
    registry
        .register(ViewFile)
        .register(StrReplace)
        .register(Run)
        .register(UpdatePlan)
        .register(Submit);
    registry
}

impl From<JailError> for ToolError {
    fn from(err: JailError) -> Self {
        ToolError::Model(err.to_string())
    }
}
