//! The built-in tools and the default registry.

mod control;
mod create_file;
mod edit;
mod fileio;
mod find_files;
mod grep;
mod insert;
mod matching;
mod patch;
pub mod search;
mod str_replace;
mod syntax_gate;
mod tree;
mod view_file;
mod walk;

pub use control::{Submit, UpdatePlan};
pub use create_file::CreateFile;
pub use fileio::{read_regular, read_regular_blocking, write_regular};
pub use find_files::FindFiles;
pub use grep::Grep;
pub use insert::Insert;
pub use patch::ApplyPatch;
pub use run::Run;
pub use str_replace::StrReplace;
pub use view_file::ViewFile;

mod run;

use crate::error::ToolError;
use crate::jail::JailError;
use crate::registry::ToolRegistry;

/// The registry `agent fix` uses. Other modules add their tools with one `.register(...)` line
/// in the chain below.
pub fn default_registry() -> ToolRegistry {
    let mut registry = ToolRegistry::new();
    registry
        .register(ViewFile)
        .register(FindFiles)
        .register(Grep)
        .register(StrReplace)
        .register(Insert)
        .register(CreateFile)
        .register(ApplyPatch)
        .register(Run)
        .register(crate::testing::RunTests::new())
        .register(UpdatePlan)
        .register(Submit);
    crate::symbols::register(&mut registry);
    registry
}

impl From<JailError> for ToolError {
    fn from(err: JailError) -> Self {
        ToolError::Model(err.to_string())
    }
}
