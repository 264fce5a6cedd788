use std::path::Path;
use std::sync::Arc;

use agent_tools::builtin::default_registry;
use agent_tools::{LocalExecutor, PathJail, ToolContext, ToolOutput, ToolRegistry};
use serde_json::Value;

/// A temporary repository with the default tools.
pub struct Repo {
    pub dir: tempfile::TempDir,
    pub ctx: ToolContext,
    pub registry: ToolRegistry,
}

impl Repo {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let jail = PathJail::new(dir.path()).unwrap();
        let ctx = ToolContext::new(jail, Arc::new(LocalExecutor::new(dir.path())));
        Self {
            dir,
            ctx,
            registry: default_registry(),
        }
    }

    pub fn path(&self, rel: &str) -> std::path::PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap()
    }

    pub fn exists(&self, rel: &str) -> bool {
        Path::new(&self.path(rel)).exists()
    }

    pub async fn output(&self, tool: &str, args: Value) -> Result<ToolOutput, String> {
        self.registry
            .call(&self.ctx, tool, args)
            .await
            .map_err(|e| e.to_string())
    }

    /// The observation text, or the error message the model would see.
    pub async fn call(&self, tool: &str, args: Value) -> Result<String, String> {
        self.output(tool, args).await.map(|o| o.text)
    }
}
