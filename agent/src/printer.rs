//! The one place user-facing output is written.
//!
//! Results (a diff, a report) go to stdout; progress and errors go to stderr, so that
//! `agent fix ... > fix.patch` captures only the patch.

use std::io::Write;

#[derive(Debug, Clone, Copy)]
pub struct Printer {
    quiet: bool,
}

impl Printer {
    pub fn stderr() -> Self {
        Self { quiet: false }
    }

    pub fn quiet() -> Self {
        Self { quiet: true }
    }

    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// A result for stdout (a diff, JSON). Never suppressed.
    pub fn result(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    /// A progress line on stderr.
    pub fn status(&self, text: &str) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        }
    }

    /// A diff for stdout: coloured when stdout is a terminal and `NO_COLOR` is unset, plain
    /// otherwise (so `agent fix > fix.patch` stays a valid patch).
    pub fn diff(&self, diff: &str) {
        use std::io::IsTerminal;
        let colour = std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        if colour {
            self.result(&colour_diff(diff));
        } else {
            self.result(diff);
        }
    }

    /// A progress bar of `len` steps on stderr, drawn with `template` (indicatif's syntax) when
    /// stderr is a terminal and the printer is not quiet; hidden otherwise.
    pub fn bar(&self, len: u64, template: &str) -> indicatif::ProgressBar {
        let bar = if self.quiet {
            indicatif::ProgressBar::hidden()
        } else {
            indicatif::ProgressBar::new(len)
        };
        bar.set_length(len);
        let style = indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        bar
    }

    pub fn warn(&self, text: &str) {
        let _ = writeln!(std::io::stderr().lock(), "warning: {text}");
    }

    pub fn error(&self, text: &str) {
        let _ = writeln!(std::io::stderr().lock(), "error: {text}");
    }
}

/// ANSI colours for a unified diff: file headers bold, hunks cyan, additions green, removals red.
pub fn colour_diff(diff: &str) -> String {
    let mut out = String::with_capacity(diff.len() + diff.len() / 8);
    for line in diff.split_inclusive('\n') {
        let (body, newline) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        let code = if ["+++", "---", "diff ", "index "]
            .iter()
            .any(|p| body.starts_with(p))
        {
            "1"
        } else if body.starts_with("@@") {
            "36"
        } else if body.starts_with('+') {
            "32"
        } else if body.starts_with('-') {
            "31"
        } else {
            ""
        };
        if code.is_empty() {
            out.push_str(line);
        } else {
            out.push_str(&format!("\x1b[{code}m{body}\x1b[0m{newline}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_are_coloured_line_by_line_and_keep_their_text() {
        let diff = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new\n same\n";
        let coloured = colour_diff(diff);
        assert!(coloured.contains("\x1b[32m+new\x1b[0m\n"), "{coloured:?}");
        assert!(coloured.contains("\x1b[31m-old\x1b[0m\n"), "{coloured:?}");
        assert!(coloured.contains(" same\n"));
        let plain: String = coloured
            .replace("\x1b[0m", "")
            .replace("\x1b[1m", "")
            .replace("\x1b[36m", "")
            .replace("\x1b[32m", "")
            .replace("\x1b[31m", "");
        assert_eq!(plain, diff);
    }
}
