//! Name → tool lookup, and the tool definitions sent to the model.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::error::{ToolError, ToolResult};
use crate::tool::{Tool, ToolContext, ToolOutput};

#[derive(Default, Clone)]
pub struct ToolRegistry {
    tools: BTreeMap<&'static str, Arc<dyn Tool>>,
    /// Registration order, which is the order the model sees.
    order: Vec<&'static str>,
}

impl ToolRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(&mut self, tool: impl Tool + 'static) -> &mut Self {
        self.register_arc(Arc::new(tool))
    }

    pub fn register_arc(&mut self, tool: Arc<dyn Tool>) -> &mut Self {
        let name = tool.name();
        if self.tools.insert(name, tool).is_none() {
            self.order.push(name);
        }
        self
    }

    /// Keeps only the tools named in `names` (a compact tool set for small models), in the
    /// registry's order.
    pub fn retain(&mut self, names: &[&str]) -> &mut Self {
        self.tools.retain(|name, _| names.contains(name));
        self.order.retain(|name| names.contains(name));
        self
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.tools.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.order.iter().copied()
    }

    pub fn tools(&self) -> impl Iterator<Item = &Arc<dyn Tool>> + '_ {
        self.order.iter().filter_map(|n| self.tools.get(n))
    }

    /// OpenAI-style `tools` array for a chat completion request.
    pub fn openai_definitions(&self) -> Vec<Value> {
        self.tools()
            .map(|t| {
                json!({
                    "type": "function",
                    "function": {
                        "name": t.name(),
                        "description": t.description(),
                        "parameters": t.parameters_schema(),
                    }
                })
            })
            .collect()
    }

    /// Calls a tool by name. An unknown name is the model's error and lists the known tools.
    pub async fn call(&self, ctx: &ToolContext, name: &str, args: Value) -> ToolResult<ToolOutput> {
        match self.tools.get(name) {
            Some(tool) => {
                let output = tool.call_json(ctx, args).await?;
                if !output.changed_files.is_empty() {
                    for t in self.tools() {
                        t.files_changed(ctx, &output.changed_files).await;
                    }
                }
                Ok(output)
            }
            None => Err(ToolError::BadArguments(format!(
                "unknown tool `{name}`; available tools: {}",
                self.order.join(", ")
            ))),
        }
    }
}
