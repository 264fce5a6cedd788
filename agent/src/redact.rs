//! Redaction of secrets from text that leaves the run (observations sent to the model, the
//! trajectory, comments, printed diffs), and the scan of a final diff for secrets.
//!
//! Two kinds of secret are found: the values of the user's credential variables (found by name
//! pattern, [`agent_tools::is_secret_env_name`]) and well-known token formats (OpenAI, GitHub,
//! AWS, Hugging Face, Slack, Google, Stripe, private keys), plus `NAME=value` assignments whose
//! name is a credential's (`.env` files, `env` output, `/proc/*/environ`).

use aho_corasick::{AhoCorasick, MatchKind};
use regex::{Captures, Regex};

/// Replaces a secret in observations and records.
pub const REDACTED: &str = "[REDACTED]";

/// Values shorter than this are not treated as secrets: they would redact ordinary words.
const MIN_SECRET_LEN: usize = 8;

/// A token format: its name (for messages) and its pattern.
struct Format {
    kind: &'static str,
    regex: Regex,
}

const FORMATS: &[(&str, &str)] = &[
    (
        "private key",
        r"-----BEGIN[A-Z ]*PRIVATE KEY( BLOCK)?-----[\s\S]*?(-----END[A-Z ]*PRIVATE KEY( BLOCK)?-----|\z)",
    ),
    (
        "OpenAI or Anthropic key",
        r"\bsk-(?:proj-|ant-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}",
    ),
    (
        "GitHub token",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})",
    ),
    (
        "AWS access key id",
        r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b",
    ),
    ("Hugging Face token", r"\bhf_[A-Za-z0-9]{30,}"),
    ("Slack token", r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"),
    (
        "Slack webhook",
        r"https://hooks\.slack\.com/services/[A-Za-z0-9/_\-]+",
    ),
    ("Google API key", r"\bAIza[0-9A-Za-z_\-]{35}"),
    ("Stripe key", r"\b[rs]k_live_[0-9A-Za-z]{20,}"),
];

/// `NAME=value` as in `.env` files, `env` output and NUL-separated `/proc/*/environ`, or
/// `NAME = "value"` with a quoted literal; the value is redacted when the name is a
/// credential's. An unquoted value after a spaced `=` is code (`KEY = settings.KEY`), not a
/// secret.
const ASSIGNMENT: &str = r#"(?m)(?:^|[\s\x00;,{(])(?:export\s+)?["']?(?P<name>[A-Za-z_][A-Za-z0-9_]*)["']?(?:=(?P<value>[^\s\x00"',;]+)|\s*[=:]\s*["'](?P<quoted>[^"'\s]+)["'])"#;

/// Finds secrets in text. Built once per run; cheap to share.
pub struct Redactor {
    values: Option<AhoCorasick>,
    formats: Vec<Format>,
    /// `None` only if [`ASSIGNMENT`] failed to compile, which a unit test rules out.
    assignment: Option<Regex>,
}

/// A secret found in a diff: where it is and what it looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub file: String,
    /// 1-based line in the new version of the file.
    pub line: usize,
    pub kind: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{} ({})", self.file, self.line, self.kind)
    }
}

impl Redactor {
    /// A redactor for `values` (the user's secret values) and the well-known formats.
    pub fn new(values: impl IntoIterator<Item = String>) -> Redactor {
        let mut values: Vec<String> = values
            .into_iter()
            .map(|v| v.trim().to_string())
            .filter(|v| v.len() >= MIN_SECRET_LEN)
            .collect();
        values.sort();
        values.dedup();
        let values = (!values.is_empty())
            .then(|| {
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&values)
                    .ok()
            })
            .flatten();
        let formats = FORMATS
            .iter()
            .filter_map(|(kind, pattern)| {
                Regex::new(pattern).ok().map(|regex| Format { kind, regex })
            })
            .collect();
        Redactor {
            values,
            formats,
            assignment: Regex::new(ASSIGNMENT).ok(),
        }
    }

    /// A redactor for this process's credential variables (see [`crate::secrets`]) plus `extra`.
    pub fn from_environment(extra: impl IntoIterator<Item = String>) -> Redactor {
        Redactor::new(crate::secrets::secret_values().into_iter().chain(extra))
    }

    /// `text` with every secret replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        let mut out = match &self.values {
            Some(ac) => ac.replace_all(text, &[REDACTED][..].repeat(ac.patterns_len())),
            None => text.to_string(),
        };
        for format in &self.formats {
            if format.regex.is_match(&out) {
                out = format.regex.replace_all(&out, REDACTED).into_owned();
            }
        }
        if let Some(assignment) = &self.assignment
            && (out.contains('=') || out.contains(':'))
        {
            out = assignment
                .replace_all(&out, |caps: &Captures| redact_assignment(caps))
                .into_owned();
        }
        out
    }

    /// What kind of secret `line` holds, if any.
    pub fn kind_in(&self, line: &str) -> Option<String> {
        if let Some(ac) = &self.values
            && ac.is_match(line)
        {
            return Some("the value of one of your credential variables".into());
        }
        if let Some(format) = self.formats.iter().find(|f| f.regex.is_match(line)) {
            return Some(format.kind.to_string());
        }
        self.assignment
            .as_ref()?
            .captures_iter(line)
            .find_map(|caps| {
                let name = caps.name("name")?.as_str();
                let value = caps.name("value")?.as_str();
                is_secret_assignment(name, value).then(|| format!("a value for `{name}`"))
            })
    }

    /// Secrets on the added lines of a unified diff, with the file and new line number.
    pub fn scan_diff(&self, diff: &str) -> Vec<Finding> {
        let mut findings = Vec::new();
        let mut file = String::new();
        let mut line = 0usize;
        let mut in_private_key = false;
        for text in diff.lines() {
            if let Some(path) = text.strip_prefix("+++ ") {
                file = path.trim_start_matches("b/").to_string();
                continue;
            }
            if text.starts_with("--- ") || text.starts_with("diff --git") {
                continue;
            }
            if let Some(header) = text.strip_prefix("@@ ") {
                line = new_start(header).unwrap_or(1);
                continue;
            }
            match text.chars().next() {
                Some('+') => {
                    let added = &text[1..];
                    if in_private_key {
                        // One finding per key block, on its BEGIN line.
                        in_private_key = !added.contains("-----END");
                    } else if let Some(kind) = self.kind_in(added) {
                        in_private_key =
                            added.contains("PRIVATE KEY") && !added.contains("-----END");
                        findings.push(Finding {
                            file: file.clone(),
                            line,
                            kind,
                        });
                    }
                    line += 1;
                }
                Some('-') | Some('\\') => {}
                _ => line += 1,
            }
        }
        findings
    }
}

fn redact_assignment(caps: &Captures) -> String {
    let whole = caps.get(0).map(|m| m.as_str()).unwrap_or("");
    let (Some(name), Some(value)) = (
        caps.name("name"),
        caps.name("value").or(caps.name("quoted")),
    ) else {
        return whole.to_string();
    };
    if !is_secret_assignment(name.as_str(), value.as_str()) {
        return whole.to_string();
    }
    let start = caps.get(0).map(|m| m.start()).unwrap_or(0);
    let (before, after) = whole.split_at(value.start() - start);
    format!("{before}{REDACTED}{}", &after[value.as_str().len()..])
}

/// A credential's name with a value that looks like a secret rather than code: long enough,
/// not already redacted, not a reference to another variable or a function call.
fn is_secret_assignment(name: &str, value: &str) -> bool {
    agent_tools::is_secret_env_name(name)
        && name.chars().all(|c| !c.is_ascii_lowercase())
        && value.len() >= MIN_SECRET_LEN
        && value != REDACTED
        && !value.starts_with('$')
        && !value.contains('(')
}

/// The new-file start line of a hunk header's `+c,d` part.
fn new_start(header: &str) -> Option<usize> {
    let plus = header.split_whitespace().find(|p| p.starts_with('+'))?;
    plus[1..].split(',').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GH: &str = "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB";
    const AWS_ID: &str = "AKIAIOSFODNN7EXAMPLE";

    #[test]
    fn every_pattern_compiles() {
        let r = Redactor::new(Vec::new());
        assert_eq!(r.formats.len(), FORMATS.len());
        assert!(r.assignment.is_some());
    }

    #[test]
    fn known_formats_and_user_values_are_redacted() {
        let r = Redactor::new(["my-very-own-secret-value".to_string()]);
        let text = format!(
            "token {GH} and {AWS_ID}\nkey sk-proj-abcdefghijklmnopqrstuvwxyz012345\nhf_abcdefghijklmnopqrstuvwxyz0123456\nxoxb-1234567890-abcdefghij\nmine: my-very-own-secret-value\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
        );
        let out = r.redact(&text);
        for secret in [
            GH,
            AWS_ID,
            "sk-proj-abc",
            "hf_abc",
            "xoxb-123",
            "my-very-own",
            "b3BlbnNzaC1",
        ] {
            assert!(!out.contains(secret), "{secret} survived: {out}");
        }
        assert!(out.contains("token [REDACTED]"), "{out}");
    }

    #[test]
    fn env_style_assignments_lose_their_value_only() {
        let r = Redactor::new(Vec::new());
        let env =
            "PATH=/usr/bin\nMY_SERVICE_TOKEN=abcdef123456\nexport DB_PASSWORD='hunter2hunter2'\n";
        let out = r.redact(env);
        assert!(out.contains("PATH=/usr/bin"), "{out}");
        assert!(out.contains("MY_SERVICE_TOKEN=[REDACTED]"), "{out}");
        assert!(!out.contains("hunter2"), "{out}");
        let environ =
            "HOME=/root\0AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\0LANG=C\0";
        let out = r.redact(environ);
        assert!(!out.contains("wJalrXUtnFEMI"), "{out}");
        assert!(out.contains("LANG=C"), "{out}");
        let settings = "SECRET_KEY = 'django-insecure-0123456789abcdef'\n";
        assert_eq!(r.redact(settings), "SECRET_KEY = '[REDACTED]'\n");
    }

    #[test]
    fn ordinary_code_is_left_alone() {
        let r = Redactor::new(Vec::new());
        let code = "password = form.cleaned_data.get('password')\ntoken = get_token(request)\nSECRET_KEY = settings.SECRET_KEY\nAPI_KEY=$OPENAI_API_KEY\nsk-learn is a library\nif TOKEN == other_token:\n";
        assert_eq!(r.redact(code), code);
    }

    #[test]
    fn diff_scan_names_file_and_line_of_added_secrets() {
        let r = Redactor::new(Vec::new());
        let diff = format!(
            "diff --git a/app/settings.py b/app/settings.py\n--- a/app/settings.py\n+++ b/app/settings.py\n@@ -10,3 +10,4 @@\n context\n-old = 1\n+old = 2\n+GITHUB = \"{GH}\"\n more\n"
        );
        let found = r.scan_diff(&diff);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].file, "app/settings.py");
        assert_eq!(found[0].line, 12);
        assert_eq!(found[0].kind, "GitHub token");
        let removed = format!("--- a/x\n+++ b/x\n@@ -1,1 +1,0 @@\n-{GH}\n");
        assert!(
            r.scan_diff(&removed).is_empty(),
            "a removed secret is no finding"
        );
    }
}
