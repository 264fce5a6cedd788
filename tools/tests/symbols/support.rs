use std::path::Path;
use std::sync::Arc;

use agent_tools::builtin::StrReplace;
use agent_tools::symbols::{self, SymbolIndex, SymbolService};
use agent_tools::{LocalExecutor, PathJail, ToolContext, ToolRegistry};
use serde_json::Value;

/// A temporary repository.
pub struct Repo {
    pub dir: tempfile::TempDir,
}

impl Repo {
    pub fn new(files: &[(&str, &str)]) -> Self {
        let repo = Repo {
            dir: tempfile::tempdir().unwrap(),
        };
        for (path, content) in files {
            repo.write(path, content);
        }
        repo
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, content: &str) {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    /// The index without a cache.
    pub fn index(&self) -> SymbolIndex {
        SymbolIndex::open(self.root(), None).unwrap()
    }
}

/// A repository with the symbol tools (index cached in `cache`) and `str_replace` registered.
pub struct ToolRepo {
    pub repo: Repo,
    pub cache: tempfile::TempDir,
    pub ctx: ToolContext,
    pub registry: ToolRegistry,
    pub service: Arc<SymbolService>,
}

impl ToolRepo {
    pub fn new(files: &[(&str, &str)]) -> Self {
        let repo = Repo::new(files);
        let cache = tempfile::tempdir().unwrap();
        let jail = PathJail::new(repo.root()).unwrap();
        let ctx = ToolContext::new(jail, Arc::new(LocalExecutor::new(repo.root())));
        let mut registry = ToolRegistry::new();
        registry.register(StrReplace);
        let service = Arc::new(SymbolService::with_cache_dir(Some(
            cache.path().to_path_buf(),
        )));
        symbols::register_with(&mut registry, service.clone());
        ToolRepo {
            repo,
            cache,
            ctx,
            registry,
            service,
        }
    }

    pub async fn call(&self, tool: &str, args: Value) -> Result<String, String> {
        self.registry
            .call(&self.ctx, tool, args)
            .await
            .map(|o| o.text)
            .map_err(|e| e.to_string())
    }
}

/// A small Python package modelled on `requests`, with a test file and a re-export.
pub fn python_repo() -> Repo {
    Repo::new(&[
        (
            "pkg/__init__.py",
            "\"\"\"The package.\"\"\"\nfrom .sessions import Session, session\nfrom . import adapters\n\n__version__ = '1.0'\n",
        ),
        (
            "pkg/sessions.py",
            r#"import os

DEFAULT_RETRIES = 3


class SessionRedirectMixin:
    """Redirect handling for sessions."""

    def rebuild_auth(self, prepared_request, response):
        """Rebuild the auth header."""
        return None

    def resolve_redirects(self, resp, req):
        yield resp

    def request(self, method):
        return "mixin"


class Session(SessionRedirectMixin):
    """A Requests session.

    Provides cookie persistence.
    """

    trust_env = True

    def __init__(self, headers=None):
        self.headers = headers or {}
        if headers:
            self.verify = True

    def request(self, method, url,
                params=None, data=None):
        """Constructs a request and sends it."""
        if params:
            for p in params:
                print(p)
        return self.send(method)

    @property
    def retries(self):
        return DEFAULT_RETRIES

    def send(self, request, **kwargs):
        # request is sent here; "Session" in a string is not a reference
        text = "Session"
        return request


def session():
    """Returns a Session."""
    return Session()
"#,
        ),
        (
            "pkg/adapters.py",
            "class BaseAdapter:\n    def send(self, request):\n        raise NotImplementedError\n\n\nclass HTTPAdapter(BaseAdapter):\n    def close(self):\n        pass\n",
        ),
        (
            "tests/test_sessions.py",
            "from pkg import Session\n\n\ndef Session_factory():\n    return Session()\n\n\nclass TestSession:\n    def test_request(self):\n        s = Session()\n        s.request('GET', 'x')\n",
        ),
        ("docs/notes.txt", "Session is documented here.\n"),
    ])
}
