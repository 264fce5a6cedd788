//! `agent view`: self-contained HTML pages (CSS and JS inline, nothing fetched) for one
//! trajectory, or for a `bench run` output folder: a table of instances, each row linking to its
//! trajectory's page.

pub mod batch;
pub mod trajectory;

use std::path::{Path, PathBuf};

use minijinja::Environment;
use thiserror::Error;

pub use batch::EvalRun;

const TEMPLATES: &[(&str, &str)] = &[
    ("trajectory.html", include_str!("templates/trajectory.html")),
    ("batch.html", include_str!("templates/batch.html")),
    ("view.css", include_str!("templates/view.css")),
    ("view.js", include_str!("templates/view.js")),
];

#[derive(Debug, Error)]
pub enum ViewError {
    #[error(
        "{0} does not exist; pass a trajectory file (.traj.json / .jsonl) or a `bench run --output` folder"
    )]
    NotFound(PathBuf),
    #[error(
        "{0} is not a `bench run --output` folder (it has no predictions.jsonl, trajectories/ or samples/)"
    )]
    NotABatch(PathBuf),
    #[error(transparent)]
    Trajectory(#[from] crate::trajectory::TrajectoryError),
    #[error("rendering {name}: {message}")]
    Template { name: String, message: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What to render and where.
#[derive(Debug, Clone)]
pub struct ViewRequest {
    /// A trajectory file or a batch output folder.
    pub input: PathBuf,
    /// For a batch: the evaluation run whose reports grade the rows.
    pub eval: Option<EvalRun>,
    /// The page to write; defaults next to the input (see [`default_output`]).
    pub output: Option<PathBuf>,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct ViewOutput {
    /// The page to open.
    pub page: PathBuf,
    /// Pages written in all (a batch writes one per trajectory too).
    pub pages: usize,
    /// Bytes written in all.
    pub bytes: u64,
}

/// `X.traj.json` / `X.jsonl` → `X.html` beside it; a folder → `FOLDER/view/index.html`.
pub fn default_output(input: &Path) -> PathBuf {
    if input.is_dir() {
        return input.join("view").join("index.html");
    }
    let name = page_name(input);
    input.with_file_name(name)
}

/// The page's file name for a trajectory file: its name without `.traj.json`, `.jsonl` or
/// `.json`, plus `.html`.
pub fn page_name(trajectory: &Path) -> String {
    let name = trajectory
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "trajectory".into());
    let stem = [".traj.json", ".jsonl", ".json"]
        .iter()
        .find_map(|ext| name.strip_suffix(ext))
        .unwrap_or(&name);
    format!("{stem}.html")
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        // The templates are part of the binary and tested; a failure here is a build defect
        // that render() reports by name.
        let _ = env.add_template(name, source);
    }
    env
}

fn render(
    env: &Environment<'_>,
    name: &str,
    context: &impl serde::Serialize,
) -> Result<String, ViewError> {
    let template_error = |e: minijinja::Error| ViewError::Template {
        name: name.to_string(),
        message: format!("{e:#}"),
    };
    env.get_template(name)
        .map_err(template_error)?
        .render(context)
        .map_err(template_error)
}

/// The page of one trajectory file.
pub fn render_trajectory(path: &Path) -> Result<String, ViewError> {
    render_trajectory_with(&environment(), path)
}

fn render_trajectory_with(env: &Environment<'_>, path: &Path) -> Result<String, ViewError> {
    let events = crate::trajectory::read(path)?;
    let title = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let page = trajectory::build(&title, events);
    // Inside <script type="application/json">: `<` escaped so that no text can end the element.
    let folded = serde_json::to_string(&page.folded)
        .map_err(|e| ViewError::Template {
            name: "trajectory.html".into(),
            message: e.to_string(),
        })?
        .replace('<', "\\u003c");
    let folded = minijinja::Value::from_safe_string(folded);
    render(
        env,
        "trajectory.html",
        &minijinja::context! { page => page, folded => folded },
    )
}

fn write_file(path: &Path, text: &str) -> Result<u64, ViewError> {
    let err = |source| ViewError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    std::fs::write(path, text).map_err(err)?;
    Ok(text.len() as u64)
}

/// Renders and writes the page(s) for `request`.
pub fn write(request: &ViewRequest) -> Result<ViewOutput, ViewError> {
    let input = &request.input;
    if !input.exists() {
        return Err(ViewError::NotFound(input.clone()));
    }
    let output = request
        .output
        .clone()
        .unwrap_or_else(|| default_output(input));
    let env = environment();
    if !input.is_dir() {
        let html = render_trajectory_with(&env, input)?;
        let bytes = write_file(&output, &html)?;
        return Ok(ViewOutput {
            page: output,
            pages: 1,
            bytes,
        });
    }
    let mut page = batch::build(input, request.eval.as_ref())?;
    let pages_dir = output
        .parent()
        .map(|p| p.join("trajectories"))
        .unwrap_or_else(|| PathBuf::from("trajectories"));
    let mut bytes = 0;
    let mut pages = 1;
    for row in &mut page.rows {
        let Some(trajectory) = &row.trajectory else {
            continue;
        };
        let name = page_name(trajectory);
        let html = render_trajectory_with(&env, trajectory)?;
        bytes += write_file(&pages_dir.join(&name), &html)?;
        pages += 1;
        row.link = Some(format!("trajectories/{name}"));
    }
    let html = render(&env, "batch.html", &minijinja::context! { page => page })?;
    bytes += write_file(&output, &html)?;
    Ok(ViewOutput {
        page: output,
        pages,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source).unwrap();
        }
    }

    #[test]
    fn page_names_drop_the_trajectory_extension() {
        assert_eq!(page_name(Path::new("out/a-1.traj.json")), "a-1.html");
        assert_eq!(page_name(Path::new("t.jsonl")), "t.html");
        assert_eq!(
            default_output(Path::new("runs/t.jsonl")),
            Path::new("runs/t.html")
        );
    }
}
