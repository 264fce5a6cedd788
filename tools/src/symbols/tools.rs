//! The four symbol tools the model calls, sharing one lazily built index.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::complete::{self, Context};
use super::index::{SymbolIndex, default_cache_dir};
use super::render;
use crate::error::{ToolError, ToolResult};
use crate::lang::Lang;
use crate::registry::ToolRegistry;
use crate::tool::{Effect, ToolContext, ToolOutput, TypedTool};

/// The index shared by the symbol tools: built on first use for the repository root of the
/// call, kept up to date through the `files_changed` hook.
pub struct SymbolService {
    cache_dir: Option<PathBuf>,
    index: Arc<Mutex<Option<SymbolIndex>>>,
}

impl Default for SymbolService {
    fn default() -> Self {
        Self::new()
    }
}

impl SymbolService {
    /// Persists under `$XDG_CACHE_HOME/agent/symbols` (or the platform cache directory).
    pub fn new() -> Self {
        Self::with_cache_dir(default_cache_dir())
    }

    /// `None` keeps the index in memory only.
    pub fn with_cache_dir(cache_dir: Option<PathBuf>) -> Self {
        Self {
            cache_dir,
            index: Arc::new(Mutex::new(None)),
        }
    }

    /// Runs `f` on the index for `root`, building or loading it first if needed. Runs on a
    /// blocking thread: building parses the whole repository.
    pub async fn with_index<R, F>(&self, root: &Path, f: F) -> ToolResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut SymbolIndex) -> ToolResult<R> + Send + 'static,
    {
        let index = self.index.clone();
        let cache_dir = self.cache_dir.clone();
        let root = root.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let mut guard = index.lock().unwrap_or_else(|e| e.into_inner());
            let stale = guard.as_ref().is_none_or(|i| i.root() != root);
            if stale {
                let opened = SymbolIndex::open(&root, cache_dir.as_deref())
                    .map_err(|e| ToolError::fatal(e.to_string()))?;
                *guard = Some(opened);
            }
            match guard.as_mut() {
                Some(index) => f(index),
                None => Err(ToolError::fatal("the symbol index could not be built")),
            }
        })
        .await
        .map_err(|e| ToolError::fatal(format!("the symbol index task failed: {e}")))?
    }

    /// Waits until the index's cache file has the latest update (it is written in the
    /// background after each edit).
    pub async fn flush(&self) {
        let index = self.index.clone();
        let task = tokio::task::spawn_blocking(move || {
            let guard = index.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(index) = guard.as_ref() {
                index.wait_for_background_save();
            }
        });
        if let Err(err) = task.await {
            tracing::warn!("waiting for the symbol cache failed: {err}");
        }
    }

    /// Re-indexes changed files if the index exists (otherwise the first use builds it fresh).
    pub async fn files_changed(&self, root: &Path, paths: &[PathBuf]) {
        let index = self.index.clone();
        let root = root.to_path_buf();
        let paths = paths.to_vec();
        let task = tokio::task::spawn_blocking(move || {
            let mut guard = index.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(index) = guard.as_mut().filter(|i| i.root() == root) {
                let stats = index.update_files(&paths);
                tracing::debug!(?stats, "symbol index updated");
            }
        });
        if let Err(err) = task.await {
            tracing::warn!("updating the symbol index failed: {err}");
        }
    }
}

/// Registers `outline`, `find_definition`, `find_references` and `complete` sharing one index
/// persisted in the default cache directory.
pub fn register(registry: &mut ToolRegistry) {
    register_with(registry, Arc::new(SymbolService::new()));
}

/// Registers the four symbol tools on `service`.
pub fn register_with(registry: &mut ToolRegistry, service: Arc<SymbolService>) {
    registry
        .register(Outline(service.clone()))
        .register(FindDefinition(service.clone()))
        .register(FindReferences(service.clone()))
        .register(Complete(service));
}

fn rel_path(ctx: &ToolContext, input: &str) -> ToolResult<(PathBuf, String)> {
    let abs = ctx.jail.resolve(input)?;
    let rel = ctx.jail.relative(&abs).to_string_lossy().replace('\\', "/");
    Ok((abs, rel))
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct OutlineArgs {
    /// A source file, or a directory (then the top-level definitions of its files), relative
    /// to the repository root.
    pub path: String,
}

pub struct Outline(pub Arc<SymbolService>);

#[async_trait]
impl TypedTool for Outline {
    type Args = OutlineArgs;
    const NAME: &'static str = "outline";
    const EFFECT: Effect = Effect::ReadsFiles;
    const DESCRIPTION: &'static str = "List the definitions in a source file (classes, functions, methods, fields, constants) nested by class, with line ranges, signatures and the first docstring line. Given a directory, list the top-level definitions of each source file under it. Languages: Python, Rust, JavaScript, TypeScript, Go, Java. Use it to find where things are before viewing lines.";

    async fn call(&self, ctx: &ToolContext, args: OutlineArgs) -> ToolResult<ToolOutput> {
        let (abs, rel) = rel_path(ctx, &args.path)?;
        if abs.is_dir() {
            let prefix = if rel.is_empty() { ".".to_string() } else { rel };
            let text = self
                .0
                .with_index(ctx.repo_root(), move |index| {
                    Ok(render::outline_dir(index, &prefix))
                })
                .await?;
            return Ok(ToolOutput::text(text));
        }
        let Some(lang) = Lang::from_path(&abs) else {
            return Err(ToolError::model(format!(
                "`{rel}` is not a source file in a supported language (Python, Rust, JavaScript, TypeScript, Go, Java); use view_file to read it"
            )));
        };
        let source = crate::builtin::read_regular(&abs)
            .await
            .map_err(|e| ToolError::from_io(&format!("cannot read `{rel}`"), e))?;
        let source = String::from_utf8_lossy(&source).into_owned();
        let text = tokio::task::spawn_blocking(move || {
            let symbols = super::extract::extract(lang, &rel, &source);
            render::outline_file(&symbols)
        })
        .await
        .map_err(|e| ToolError::fatal(format!("outline task failed: {e}")))?;
        Ok(ToolOutput::text(text))
    }

    async fn files_changed(&self, ctx: &ToolContext, paths: &[PathBuf]) {
        self.0.files_changed(ctx.repo_root(), paths).await;
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct FindDefinitionArgs {
    /// A name (`get_queryset`), or a qualified name (`QuerySet.filter`, `pkg.module.Class`).
    pub name: String,
}

pub struct FindDefinition(pub Arc<SymbolService>);

#[async_trait]
impl TypedTool for FindDefinition {
    type Args = FindDefinitionArgs;
    const NAME: &'static str = "find_definition";
    const EFFECT: Effect = Effect::ReadsFiles;
    const DESCRIPTION: &'static str = "Find where a class, function, method, field or constant is defined, from the repository's symbol index. Give a bare name or a qualified one (`Class.method`, `package.module.Class`). Results are ranked: exact name, then case-insensitive, non-test files and types first; each shows file:line, kind, signature and the first docstring line.";

    async fn call(&self, ctx: &ToolContext, args: FindDefinitionArgs) -> ToolResult<ToolOutput> {
        let name = args.name.trim().to_string();
        if name.is_empty() {
            return Err(ToolError::model(
                "`name` is empty; give the name to look up",
            ));
        }
        let text = self
            .0
            .with_index(ctx.repo_root(), move |index| {
                Ok(render::definitions(index, &name))
            })
            .await?;
        Ok(ToolOutput::text(text))
    }

    async fn files_changed(&self, ctx: &ToolContext, paths: &[PathBuf]) {
        self.0.files_changed(ctx.repo_root(), paths).await;
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct FindReferencesArgs {
    /// The identifier to find (for `Class.method`, the last part is searched).
    pub name: String,
    /// Only look under this file or directory (relative to the repository root).
    #[serde(default)]
    pub path: Option<String>,
}

pub struct FindReferences(pub Arc<SymbolService>);

#[async_trait]
impl TypedTool for FindReferences {
    type Args = FindReferencesArgs;
    const NAME: &'static str = "find_references";
    const EFFECT: Effect = Effect::ReadsFiles;
    const DESCRIPTION: &'static str = "Find the lines where an identifier is used (code only: strings and comments are skipped), grouped by file with line numbers and the line text; lines that define the name are marked with *. Give `path` to search only a file or directory. Output is capped; counts of everything found are given.";

    async fn call(&self, ctx: &ToolContext, args: FindReferencesArgs) -> ToolResult<ToolOutput> {
        let raw = args.name.trim();
        let name = raw
            .rsplit(['.', ':'])
            .next()
            .unwrap_or(raw)
            .trim_end_matches("()")
            .to_string();
        if name.is_empty() {
            return Err(ToolError::model(
                "`name` is empty; give the identifier to look up",
            ));
        }
        let prefix = match &args.path {
            Some(p) => Some(rel_path(ctx, p)?.1),
            None => None,
        };
        let note =
            (name != raw).then(|| format!("searching for `{name}` (the last part of `{raw}`)"));
        let root = ctx.repo_root().to_path_buf();
        let text = self
            .0
            .with_index(ctx.repo_root(), move |index| {
                Ok(render::references(
                    index,
                    &root,
                    &name,
                    prefix.as_deref(),
                    note,
                ))
            })
            .await?;
        Ok(ToolOutput::text(text))
    }

    async fn files_changed(&self, ctx: &ToolContext, paths: &[PathBuf]) {
        self.0.files_changed(ctx.repo_root(), paths).await;
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CompleteArgs {
    /// What to list members of: a module (`pkg.module` or a file path), a class or type
    /// (`Session`, `requests.Session`), or `self`/`this` (then give `path` and `line`).
    pub expression: String,
    /// Only members whose name starts with this.
    #[serde(default)]
    pub prefix: Option<String>,
    /// For `self`/`this`: the file where the expression appears.
    #[serde(default)]
    pub path: Option<String>,
    /// For `self`/`this`: a line inside the class.
    #[serde(default)]
    pub line: Option<u32>,
}

pub struct Complete(pub Arc<SymbolService>);

#[async_trait]
impl TypedTool for Complete {
    type Args = CompleteArgs;
    const NAME: &'static str = "complete";
    const EFFECT: Effect = Effect::ReadsFiles;
    const DESCRIPTION: &'static str = "List the members that really exist on a module, class or receiver, with signatures: methods, fields, properties, nested classes, including those inherited from base classes found in the repository. Use it before calling or overriding something to avoid inventing names. `expression` is a module (`pkg.mod` or a path), a class (`Session`, `requests.Session`), or `self`/`this` with `path` and `line`; `prefix` filters member names.";

    async fn call(&self, ctx: &ToolContext, args: CompleteArgs) -> ToolResult<ToolOutput> {
        let path = match &args.path {
            Some(p) => Some(rel_path(ctx, p)?.1),
            None => None,
        };
        let prefix = args.prefix.unwrap_or_default();
        let expression = args.expression;
        let line = args.line;
        let text = self
            .0
            .with_index(ctx.repo_root(), move |index| {
                let context = Context {
                    path: path.as_deref(),
                    line,
                };
                Ok(
                    match complete::complete(index, &expression, &prefix, &context) {
                        Ok(found) => render::completion(&found, &prefix),
                        Err(miss) => render::miss(&miss),
                    },
                )
            })
            .await?;
        Ok(ToolOutput::text(text))
    }

    async fn files_changed(&self, ctx: &ToolContext, paths: &[PathBuf]) {
        self.0.files_changed(ctx.repo_root(), paths).await;
    }
}
