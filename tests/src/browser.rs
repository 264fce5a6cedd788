//! Headless Chromium (Debian's `chromium` package) for checking pages in a real browser: the DOM
//! after the page's scripts ran (`--dump-dom`) and screenshots.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

pub struct Browser {
    program: PathBuf,
    /// A profile directory of its own, so that parallel runs never share one.
    profile: tempfile::TempDir,
}

impl Browser {
    /// Finds `chromium` (or `$CHROMIUM`); an error names the package to install.
    pub fn find() -> Result<Self> {
        let program = match std::env::var_os("CHROMIUM") {
            Some(p) => PathBuf::from(p),
            None => ["chromium", "chromium-browser", "google-chrome"]
                .iter()
                .flat_map(|name| {
                    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                        .map(move |dir| dir.join(name))
                        .collect::<Vec<_>>()
                })
                .find(|p| p.is_file())
                .context(
                    "no headless browser: install Debian's chromium package \
                     (apt-get install -y chromium; .ci/run does) or set CHROMIUM",
                )?,
        };
        Ok(Self {
            program,
            profile: tempfile::tempdir()?,
        })
    }

    /// Runs the browser on `page` with `extra` flags; the page (a file URL) goes last.
    fn run(&self, page: &Path, window: (u32, u32), extra: &str) -> Result<Vec<u8>> {
        let page = std::fs::canonicalize(page)?;
        let out = Command::new(&self.program)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", self.profile.path().display()))
            .arg(format!("--window-size={},{}", window.0, window.1))
            .arg(extra)
            .arg(format!("file://{}", page.display()))
            .env_remove("DISPLAY")
            .output()?;
        if !out.status.success() {
            bail!(
                "{} {extra} failed: {}",
                self.program.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(out.stdout)
    }

    /// The serialized DOM once the page has loaded and its scripts ran.
    pub fn dump_dom(&self, page: &Path) -> Result<String> {
        let out = self.run(page, (1280, 900), "--dump-dom")?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// A PNG of the page at `window` size (width, height).
    pub fn screenshot(&self, page: &Path, png: &Path, window: (u32, u32)) -> Result<()> {
        let _ = std::fs::remove_file(png);
        self.run(page, window, &format!("--screenshot={}", png.display()))?;
        if !png.is_file() {
            bail!("the browser wrote no screenshot at {}", png.display());
        }
        Ok(())
    }
}

/// Appends `script` to a copy of `page` (beside it), so that it runs in the page after the
/// page's own scripts: it can click elements and record what it saw.
pub fn with_probe(page: &Path, name: &str, script: &str) -> Result<PathBuf> {
    let html = std::fs::read_to_string(page)?;
    let at = html.rfind("</body>").context("the page has no </body>")?;
    let probed = format!("{}<script>{script}</script>{}", &html[..at], &html[at..]);
    let path = page.with_file_name(name);
    std::fs::write(&path, probed)?;
    Ok(path)
}

/// The text of the element with `id` in a dumped DOM (the probe writes its findings there).
pub fn element_text(dom: &str, id: &str) -> Option<String> {
    let open = format!("id=\"{id}\">");
    let start = dom.find(&open)? + open.len();
    let end = dom[start..].find('<')? + start;
    Some(
        dom[start..end]
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}
