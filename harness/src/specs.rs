//! Environment specs: (repo, version) → Python version, packages, install and test commands,
//! and the log parser. The bundled table (`data/specs.json`) holds the values of the official
//! 4.1.0 harness for its Python repositories; `data/mini/specs.json` adds the bundled mini
//! dataset's repositories; a user file (JSON or TOML, same shape) is merged on top.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{HarnessError, IoContext, Result};
use crate::log_parsers::LogParser;

const BUNDLED: &str = include_str!("../data/specs.json");
const BUNDLED_MINI: &str = include_str!("../data/mini/specs.json");

/// A test command: one line, or several of which the last gets the test directives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TestCmd {
    One(String),
    Many(Vec<String>),
}

/// How to build and test one (repo, version).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// `3.9`, `3.11`, ...
    pub python: String,
    /// Conda packages in the official table, or `requirements.txt` / `environment.yml`
    /// (read from the repository at `environment_setup_commit`). Installed with pip here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pip_packages: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_install: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_cmd: Option<TestCmd>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub eval_commands: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_use_env: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nano_cpus: Option<i64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub execute_test_as_nonroot: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoSpecs {
    pub log_parser: LogParser,
    /// Where `packages = "requirements.txt"` finds the file in the repository, first match wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reqs_paths: Vec<String>,
    pub versions: BTreeMap<String, Spec>,
}

/// The shape of a user specs file: repos whose `log_parser` may be left out when the
/// repository is already known.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecsFile {
    #[serde(default)]
    #[allow(dead_code)]
    source: Option<String>,
    repos: BTreeMap<String, RepoSpecsPatch>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RepoSpecsPatch {
    #[serde(default)]
    log_parser: Option<LogParser>,
    #[serde(default)]
    reqs_paths: Option<Vec<String>>,
    #[serde(default)]
    versions: BTreeMap<String, Spec>,
}

/// All known specs.
#[derive(Debug, Clone, Default)]
pub struct SpecTable {
    pub repos: BTreeMap<String, RepoSpecs>,
}

/// What an instance needs from the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedSpec<'a> {
    pub repo: &'a str,
    pub version: &'a str,
    pub spec: &'a Spec,
    pub log_parser: LogParser,
    pub reqs_paths: &'a [String],
}

impl SpecTable {
    /// The official table plus the mini dataset's entries.
    pub fn bundled() -> Result<Self> {
        let mut table = Self::default();
        table.merge_text(Path::new("harness/data/specs.json"), BUNDLED)?;
        table.merge_text(Path::new("harness/data/mini/specs.json"), BUNDLED_MINI)?;
        Ok(table)
    }

    /// The bundled table with an optional user file merged on top.
    pub fn load(user_file: Option<&Path>) -> Result<Self> {
        let mut table = Self::bundled()?;
        if let Some(path) = user_file {
            table.merge_file(path)?;
        }
        Ok(table)
    }

    /// Merge a JSON or TOML specs file: its (repo, version) entries replace whole entries, its
    /// `log_parser` replaces the repo's parser.
    pub fn merge_file(&mut self, path: &Path) -> Result<()> {
        let text = std::fs::read_to_string(path)
            .context(|| format!("cannot read specs file {}", path.display()))?;
        self.merge_text(path, &text)
    }

    fn merge_text(&mut self, path: &Path, text: &str) -> Result<()> {
        let input_error = |message: String| HarnessError::Input {
            path: path.to_path_buf(),
            message,
        };
        let file: SpecsFile = match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => toml::from_str(text)
                .map_err(|e| input_error(format!("not a valid specs file: {e}")))?,
            Some("json") => serde_json::from_str(text)
                .map_err(|e| input_error(format!("not a valid specs file: {e}")))?,
            _ => return Err(input_error("specs files must end in .json or .toml".into())),
        };
        for (repo, patch) in file.repos {
            match self.repos.get_mut(&repo) {
                Some(existing) => {
                    if let Some(parser) = patch.log_parser {
                        existing.log_parser = parser;
                    }
                    if let Some(paths) = patch.reqs_paths {
                        existing.reqs_paths = paths;
                    }
                    existing.versions.extend(patch.versions);
                }
                None => {
                    let log_parser = patch.log_parser.ok_or_else(|| {
                        input_error(format!(
                            "repo `{repo}` is new and needs a `log_parser` (one of: {})",
                            LogParser::ALL.map(|p| p.name()).join(", ")
                        ))
                    })?;
                    self.repos.insert(
                        repo,
                        RepoSpecs {
                            log_parser,
                            reqs_paths: patch.reqs_paths.unwrap_or_default(),
                            versions: patch.versions,
                        },
                    );
                }
            }
        }
        Ok(())
    }

    pub fn lookup<'a>(&'a self, repo: &'a str, version: &'a str) -> Result<ResolvedSpec<'a>> {
        let Some(repo_specs) = self.repos.get(repo) else {
            return Err(HarnessError::UnknownSpec(format!(
                "no environment spec for repository `{repo}`: add it to a specs file \
                 (--specs FILE, JSON or TOML, see harness/data/mini/specs.json for the shape)"
            )));
        };
        let Some(spec) = repo_specs.versions.get(version) else {
            let known: Vec<&str> = repo_specs.versions.keys().map(String::as_str).collect();
            return Err(HarnessError::UnknownSpec(format!(
                "no environment spec for `{repo}` version `{version}` (known versions: {}); \
                 add it to a specs file (--specs FILE)",
                known.join(", ")
            )));
        };
        Ok(ResolvedSpec {
            repo,
            version,
            spec,
            log_parser: repo_specs.log_parser,
            reqs_paths: &repo_specs.reqs_paths,
        })
    }
}

impl Spec {
    /// The test command lines, the last of which gets the directives.
    pub fn test_commands(&self) -> Result<Vec<String>> {
        match &self.test_cmd {
            Some(TestCmd::One(cmd)) => Ok(vec![cmd.clone()]),
            Some(TestCmd::Many(cmds)) if !cmds.is_empty() => Ok(cmds.clone()),
            _ => Err(HarnessError::UnknownSpec(
                "this spec has no test_cmd; add one in a specs file".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn bundled_table_has_official_values() {
        let table = SpecTable::bundled().unwrap();
        let requests = table.lookup("psf/requests", "2.0").unwrap();
        assert_eq!(requests.spec.python, "3.9");
        assert_eq!(requests.spec.packages.as_deref(), Some("pytest"));
        assert_eq!(
            requests.spec.install.as_deref(),
            Some("python -m pip install .")
        );
        assert_eq!(requests.spec.test_commands().unwrap(), vec!["pytest -rA"]);
        assert_eq!(requests.log_parser, LogParser::PytestOptions);

        let flask = table.lookup("pallets/flask", "2.3").unwrap();
        assert_eq!(flask.spec.python, "3.11");
        assert!(
            flask
                .spec
                .pip_packages
                .contains(&"Werkzeug==2.3.7".to_string())
        );
        assert_eq!(flask.log_parser, LogParser::Pytest);

        let pytest = table.lookup("pytest-dev/pytest", "6.3").unwrap();
        assert_eq!(
            pytest.spec.pre_install,
            strings(&["sed -i 's/>=>=/>=/' setup.cfg"])
        );

        let sympy = table.lookup("sympy/sympy", "1.12").unwrap();
        assert!(
            sympy
                .spec
                .pip_packages
                .contains(&"mpmath==1.3.0".to_string())
        );
        assert_eq!(
            sympy.spec.test_commands().unwrap(),
            vec![
                "PYTHONWARNINGS='ignore::UserWarning,ignore::SyntaxWarning' bin/test -C --verbose"
            ]
        );
        assert_eq!(sympy.log_parser, LogParser::Sympy);

        let pylint = table.lookup("pylint-dev/pylint", "3.0").unwrap();
        assert_eq!(pylint.spec.nano_cpus, Some(2_000_000_000));
        assert_eq!(pylint.log_parser, LogParser::PytestOptions);

        let django = table.lookup("django/django", "1.9").unwrap();
        assert_eq!(
            django.spec.test_commands().unwrap(),
            vec!["./tests/runtests.py --verbosity 2"]
        );
        let django = table.lookup("django/django", "3.0").unwrap();
        assert_eq!(django.reqs_paths, ["tests/requirements/py3.txt"]);
        assert_eq!(django.spec.python, "3.6");
        assert_eq!(django.log_parser, LogParser::Django);

        assert_eq!(
            table.lookup("mwaskom/seaborn", "0.12").unwrap().log_parser,
            LogParser::Seaborn
        );
        assert_eq!(
            table
                .lookup("matplotlib/matplotlib", "3.5")
                .unwrap()
                .log_parser,
            LogParser::Matplotlib
        );
        assert_eq!(
            table.lookup("astropy/astropy", "5.0").unwrap().log_parser,
            LogParser::PytestV2
        );
    }

    #[test]
    fn unknown_repo_or_version_is_a_clear_error() {
        let table = SpecTable::bundled().unwrap();
        let err = table
            .lookup("nobody/nothing", "1.0")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("nobody/nothing") && err.contains("--specs"),
            "{err}"
        );
        let err = table
            .lookup("psf/requests", "99.9")
            .unwrap_err()
            .to_string();
        assert!(err.contains("99.9") && err.contains("2.0"), "{err}");
    }

    #[test]
    fn user_file_merges_on_top() {
        let dir = tempfile::tempdir().unwrap();
        let toml_path = dir.path().join("specs.toml");
        std::fs::write(
            &toml_path,
            r#"
[repos."psf/requests"]
log_parser = "pytest"
[repos."psf/requests".versions."2.0"]
python = "3.11"
test_cmd = "pytest -rA -x"

[repos."me/tool"]
log_parser = "pytest-v2"
[repos."me/tool".versions."0.1"]
python = "3.12"
install = "python -m pip install -e ."
test_cmd = ["make prepare", "pytest -rA"]
"#,
        )
        .unwrap();
        let table = SpecTable::load(Some(&toml_path)).unwrap();
        let requests = table.lookup("psf/requests", "2.0").unwrap();
        assert_eq!(requests.spec.python, "3.11");
        assert_eq!(requests.log_parser, LogParser::Pytest);
        // Other versions are untouched.
        assert_eq!(
            table.lookup("psf/requests", "2.3").unwrap().spec.python,
            "3.9"
        );
        let tool = table.lookup("me/tool", "0.1").unwrap();
        assert_eq!(
            tool.spec.test_commands().unwrap(),
            strings(&["make prepare", "pytest -rA"])
        );

        let json_path = dir.path().join("bad.json");
        std::fs::write(&json_path, r#"{"repos": {"new/repo": {"versions": {}}}}"#).unwrap();
        let err = SpecTable::load(Some(&json_path)).unwrap_err().to_string();
        assert!(
            err.contains("new/repo") && err.contains("log_parser"),
            "{err}"
        );

        std::fs::write(
            &json_path,
            r#"{"repos": {"psf/requests": {"versions": {"1": {"python": "3", "typo": 1}}}}}"#,
        )
        .unwrap();
        let err = SpecTable::load(Some(&json_path)).unwrap_err().to_string();
        assert!(err.contains("typo"), "{err}");
    }
}
