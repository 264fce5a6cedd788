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

    pub fn warn(&self, text: &str) {
        let _ = writeln!(std::io::stderr().lock(), "warning: {text}");
    }

    pub fn error(&self, text: &str) {
        let _ = writeln!(std::io::stderr().lock(), "error: {text}");
    }
}
