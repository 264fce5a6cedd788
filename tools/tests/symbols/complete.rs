//! `complete`: members of modules, classes and receivers, with inheritance and prefixes.

use agent_tools::symbols::complete::{Completion, Context, complete};

use super::support::{Repo, python_repo};

fn names(found: &Completion<'_>) -> Vec<String> {
    found
        .members
        .iter()
        .map(|m| match &m.inherited_from {
            Some(base) => format!(
                "{}<{}",
                m.def.def().name,
                base.split(' ').next().unwrap_or(base)
            ),
            None => m.def.def().name.clone(),
        })
        .collect()
}

#[test]
fn class_members_include_inherited_ones_and_overrides_win() {
    let repo = python_repo();
    let index = repo.index();
    let found = complete(&index, "Session", "", &Context::default()).unwrap();
    assert!(
        found.target.contains("pkg.sessions.Session"),
        "{}",
        found.target
    );
    assert_eq!(
        names(&found),
        vec![
            "trust_env",
            "__init__",
            "headers",
            "verify",
            "request",
            "retries",
            "send",
            "rebuild_auth<SessionRedirectMixin",
            "resolve_redirects<SessionRedirectMixin",
        ]
    );
    // `request` is Session's own, not the mixin's.
    let request = found
        .members
        .iter()
        .find(|m| m.def.def().name == "request")
        .unwrap();
    assert_eq!(request.def.def().line, 33);
}

#[test]
fn prefix_filters_members() {
    let repo = python_repo();
    let index = repo.index();
    let found = complete(&index, "Session", "re", &Context::default()).unwrap();
    assert_eq!(
        names(&found),
        vec![
            "request",
            "retries",
            "rebuild_auth<SessionRedirectMixin",
            "resolve_redirects<SessionRedirectMixin"
        ]
    );
    // Case-insensitive when nothing matches exactly.
    let found = complete(&index, "Session", "RE", &Context::default()).unwrap();
    assert_eq!(found.members.len(), 4);
    let found = complete(&index, "Session", "zzz", &Context::default()).unwrap();
    assert!(found.members.is_empty());
}

#[test]
fn modules_reexports_and_receivers() {
    let repo = python_repo();
    let index = repo.index();

    let module = complete(&index, "pkg.sessions", "", &Context::default()).unwrap();
    assert_eq!(
        names(&module),
        vec![
            "os",
            "DEFAULT_RETRIES",
            "SessionRedirectMixin",
            "Session",
            "session"
        ]
    );
    let by_path = complete(&index, "pkg/adapters.py", "", &Context::default()).unwrap();
    assert_eq!(names(&by_path), vec!["BaseAdapter", "HTTPAdapter"]);

    let package = complete(&index, "pkg", "", &Context::default()).unwrap();
    assert_eq!(names(&package), vec!["Session", "session", "adapters"]);
    let subs: Vec<&str> = package.submodules.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(subs, vec!["adapters", "sessions"]);

    // `pkg.Session` is re-exported by the package: resolved to the class.
    let reexport = complete(&index, "pkg.Session", "se", &Context::default()).unwrap();
    assert_eq!(names(&reexport), vec!["send"]);
    assert!(
        reexport
            .notes
            .iter()
            .any(|n| n.contains("imported in pkg/__init__.py"))
    );

    // `self` inside a method of HTTPAdapter.
    let ctx = Context {
        path: Some("pkg/adapters.py"),
        line: Some(8),
    };
    let receiver = complete(&index, "self", "", &ctx).unwrap();
    assert_eq!(names(&receiver), vec!["close", "send<BaseAdapter"]);
    let outside = Context {
        path: Some("pkg/sessions.py"),
        line: Some(3),
    };
    let miss = complete(&index, "self", "", &outside).unwrap_err();
    assert!(
        miss.message.contains("not inside a class"),
        "{}",
        miss.message
    );
    let no_ctx = complete(&index, "self", "", &Context::default()).unwrap_err();
    assert!(no_ctx.message.contains("give `path`"), "{}", no_ctx.message);
}

#[test]
fn unknown_expressions_suggest_near_names() {
    let repo = python_repo();
    let index = repo.index();
    let miss = complete(&index, "Sesion", "", &Context::default()).unwrap_err();
    assert!(
        miss.message
            .contains("no module, class or type named `Sesion`")
    );
    assert_eq!(
        miss.suggestions.first().map(String::as_str),
        Some("Session")
    );
    let miss = complete(&index, "HTTPAdaptor", "", &Context::default()).unwrap_err();
    assert!(
        miss.suggestions.contains(&"HTTPAdapter".to_string()),
        "{:?}",
        miss.suggestions
    );
}

#[test]
fn rust_go_and_typescript_members() {
    let repo = Repo::new(&[
        (
            "src/pool.rs",
            "pub struct Pool { pub size: usize }\npub trait Named { fn name(&self) -> String; fn shout(&self) -> String { self.name() } }\nimpl Pool { pub fn new() -> Self { Pool { size: 0 } } }\n",
        ),
        (
            "src/named.rs",
            "use crate::pool::{Named, Pool};\nimpl Named for Pool { fn name(&self) -> String { String::new() } }\n",
        ),
        (
            "srv/server.go",
            "package srv\ntype Base struct { ID int }\nfunc (b Base) Describe() string { return \"\" }\ntype Server struct {\n\tBase\n\tName string\n}\n",
        ),
        (
            "srv/run.go",
            "package srv\nfunc (s *Server) Run() error { return nil }\nfunc (s *Server) Stop() {}\n",
        ),
        (
            "web/shapes.ts",
            "interface Shape { area(): number; name: string }\nclass Square implements Shape { name = 'sq'; constructor(public side: number) {} area(): number { return 1; } }\nclass Cube extends Square { volume(): number { return 1; } }\n",
        ),
    ]);
    let index = repo.index();
    let pool = complete(&index, "Pool", "", &Context::default()).unwrap();
    assert_eq!(names(&pool), vec!["size", "new", "name", "shout<Named"]);
    let server = complete(&index, "Server", "", &Context::default()).unwrap();
    assert_eq!(
        names(&server),
        vec!["Name", "Run", "Stop", "ID<Base", "Describe<Base"]
    );
    let cube = complete(&index, "Cube", "", &Context::default()).unwrap();
    assert_eq!(
        names(&cube),
        vec!["volume", "name<Square", "constructor<Square", "area<Square"]
    );
    // `self` in a Rust impl block is the implemented type.
    let ctx = Context {
        path: Some("src/named.rs"),
        line: Some(2),
    };
    let receiver = complete(&index, "self", "sh", &ctx).unwrap();
    assert_eq!(names(&receiver), vec!["shout<Named"]);
}
