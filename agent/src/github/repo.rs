//! Which GitHub repository a checkout belongs to, and where its API and HTTPS remote are.
//!
//! Remotes come as `https://github.com/o/n.git`, `git@github.com:o/n.git`,
//! `ssh://git@ghe.example.com/o/n`, or any URL whose last two path segments are `owner/name`
//! (GitHub Enterprise, and the tests' local server).

use std::fmt;

use url::Url;

use super::GitHubError;

/// `owner/name` of a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSlug {
    pub owner: String,
    pub name: String,
}

impl RepoSlug {
    /// Parses `owner/name` as given to `--github-repo`.
    pub fn parse(text: &str) -> Result<Self, GitHubError> {
        let bad = || GitHubError::BadRepoSlug(text.to_string());
        let text = text.trim().trim_end_matches(".git");
        let (owner, name) = text.split_once('/').ok_or_else(bad)?;
        let valid = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if !valid(owner) || !valid(name) {
            return Err(bad());
        }
        Ok(Self {
            owner: owner.to_string(),
            name: name.to_string(),
        })
    }

    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// Whether an API `repository_url` (`…/repos/owner/name`) names this repository.
    pub fn matches_api_url(&self, repository_url: &str) -> bool {
        let tail: Vec<&str> = repository_url
            .trim_end_matches('/')
            .rsplit('/')
            .take(2)
            .collect();
        tail.len() == 2
            && tail[1].eq_ignore_ascii_case(&self.owner)
            && tail[0].eq_ignore_ascii_case(&self.name)
    }
}

impl fmt::Display for RepoSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// A parsed git remote: host (with port when given), scheme, and repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// `https`, `http` or `ssh`.
    pub scheme: String,
    /// Host, plus `:port` for HTTP(S) remotes with an explicit port.
    pub host: String,
    /// Path before `owner/name` (e.g. `/git` for a server that mounts repositories under it).
    pub prefix: String,
    pub slug: RepoSlug,
}

impl Remote {
    pub fn parse(url: &str) -> Result<Self, GitHubError> {
        let bad = || GitHubError::NotGitHubRemote(url.to_string());
        let url = url.trim();
        // scp-like syntax: git@host:owner/name.git
        if !url.contains("://")
            && let Some((user_host, path)) = url.split_once(':')
        {
            let host = user_host.rsplit('@').next().unwrap_or(user_host);
            let (prefix, slug) = split_slug(path).ok_or_else(bad)?;
            return Ok(Self {
                scheme: "ssh".into(),
                host: host.to_string(),
                prefix,
                slug,
            });
        }
        let parsed = Url::parse(url).map_err(|_| bad())?;
        let scheme = match parsed.scheme() {
            "https" | "http" => parsed.scheme().to_string(),
            "ssh" | "git" | "git+ssh" | "ssh+git" => "ssh".to_string(),
            _ => return Err(bad()),
        };
        let host = parsed.host_str().ok_or_else(bad)?;
        let host = match (scheme.as_str(), parsed.port()) {
            ("http" | "https", Some(port)) => format!("{host}:{port}"),
            _ => host.to_string(),
        };
        let (prefix, slug) = split_slug(parsed.path()).ok_or_else(bad)?;
        Ok(Self {
            scheme,
            host,
            prefix,
            slug,
        })
    }

    fn is_github_com(&self) -> bool {
        let host = self.host.split(':').next().unwrap_or("");
        host.eq_ignore_ascii_case("github.com") || host.eq_ignore_ascii_case("www.github.com")
    }

    /// The REST API root: `https://api.github.com/` for github.com, `<scheme>://host/api/v3/`
    /// for GitHub Enterprise Server.
    pub fn api_url(&self) -> String {
        if self.is_github_com() {
            return "https://api.github.com/".to_string();
        }
        let scheme = if self.scheme == "http" {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{}/api/v3/", self.host)
    }

    /// The HTTPS URL to push to (an SSH remote is pushed to over HTTPS, where the token works).
    pub fn https_url(&self) -> String {
        let scheme = if self.scheme == "http" {
            "http"
        } else {
            "https"
        };
        format!(
            "{scheme}://{}{}/{}/{}.git",
            self.host, self.prefix, self.slug.owner, self.slug.name
        )
    }
}

/// Splits `/prefix/owner/name.git` into (`/prefix`, owner/name).
fn split_slug(path: &str) -> Option<(String, RepoSlug)> {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    if segments.len() < 2 {
        return None;
    }
    let (prefix, tail) = segments.split_at(segments.len() - 2);
    let slug = RepoSlug::parse(&format!("{}/{}", tail[0], tail[1])).ok()?;
    let prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("/{}", prefix.join("/"))
    };
    Some((prefix, slug))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_parse_and_refuse_nonsense() {
        let s = RepoSlug::parse("acme/stats").unwrap();
        assert_eq!((s.owner.as_str(), s.name.as_str()), ("acme", "stats"));
        assert_eq!(RepoSlug::parse("acme/stats.git").unwrap().name, "stats");
        for bad in ["acme", "/stats", "acme/", "a b/c", "acme/stats/extra"] {
            assert!(RepoSlug::parse(bad).is_err(), "{bad}");
        }
        assert!(s.matches_api_url("https://api.github.com/repos/ACME/Stats"));
        assert!(!s.matches_api_url("https://api.github.com/repos/acme/other"));
    }

    #[test]
    fn github_com_remotes_in_every_syntax() {
        for url in [
            "https://github.com/acme/stats.git",
            "https://github.com/acme/stats",
            "https://user@github.com/acme/stats/",
            "git@github.com:acme/stats.git",
            "ssh://git@github.com/acme/stats.git",
            "ssh://git@github.com:22/acme/stats",
        ] {
            let r = Remote::parse(url).unwrap();
            assert_eq!(r.slug.full_name(), "acme/stats", "{url}");
            assert_eq!(r.api_url(), "https://api.github.com/", "{url}");
            assert_eq!(r.https_url(), "https://github.com/acme/stats.git", "{url}");
        }
    }

    #[test]
    fn enterprise_hosts_get_their_own_api_root() {
        let r = Remote::parse("git@ghe.example.com:team/tool.git").unwrap();
        assert_eq!(r.api_url(), "https://ghe.example.com/api/v3/");
        assert_eq!(r.https_url(), "https://ghe.example.com/team/tool.git");
        let r = Remote::parse("http://127.0.0.1:8080/git/team/tool.git").unwrap();
        assert_eq!(r.api_url(), "http://127.0.0.1:8080/api/v3/");
        assert_eq!(r.https_url(), "http://127.0.0.1:8080/git/team/tool.git");
    }

    #[test]
    fn non_github_remotes_are_refused() {
        for url in [
            "/srv/git/stats.git",
            "file:///srv/stats.git",
            "https://example.com/x",
        ] {
            assert!(Remote::parse(url).is_err(), "{url}");
        }
    }
}
