//! Definitions found per language: lines, kinds, containers, signatures, docs.

use agent_tools::symbols::{Definition, FileSymbols, SymbolKind};

use super::support::{Repo, python_repo};

fn def<'a>(file: &'a FileSymbols, qualified: &str) -> &'a Definition {
    file.defs
        .iter()
        .find(|d| d.qualified_name() == qualified)
        .unwrap_or_else(|| {
            let names: Vec<String> = file.defs.iter().map(|d| d.qualified_name()).collect();
            panic!("no `{qualified}` in {}: {names:?}", file.path)
        })
}

#[test]
fn python_definitions_with_lines_signatures_and_docstrings() {
    let repo = python_repo();
    let index = repo.index();
    let file = index.file("pkg/sessions.py").unwrap();

    let session = def(file, "Session");
    assert_eq!(session.kind, SymbolKind::Class);
    assert_eq!((session.line, session.end_line), (20, 48));
    assert_eq!(session.signature, "class Session(SessionRedirectMixin)");
    assert_eq!(session.doc.as_deref(), Some("A Requests session."));
    assert_eq!(session.bases, vec!["SessionRedirectMixin"]);

    let request = def(file, "Session.request");
    assert_eq!(request.kind, SymbolKind::Method);
    assert_eq!((request.line, request.end_line), (33, 39));
    assert_eq!(
        request.signature,
        "def request(self, method, url, params=None, data=None)"
    );
    assert_eq!(
        request.doc.as_deref(),
        Some("Constructs a request and sends it.")
    );

    assert_eq!(def(file, "Session.retries").kind, SymbolKind::Property);
    assert_eq!(def(file, "Session.trust_env").kind, SymbolKind::Field);
    // Fields assigned in the constructor, also inside an `if`.
    assert_eq!(def(file, "Session.headers").line, 29);
    assert_eq!(def(file, "Session.verify").line, 31);
    let constant = def(file, "DEFAULT_RETRIES");
    assert_eq!(constant.kind, SymbolKind::Constant);
    assert_eq!(constant.signature, "DEFAULT_RETRIES = 3");
    let function = def(file, "session");
    assert_eq!(function.kind, SymbolKind::Function);
    assert_eq!(function.doc.as_deref(), Some("Returns a Session."));
    // Locals inside functions are not definitions.
    assert!(file.defs.iter().all(|d| d.name != "text" && d.name != "p"));

    let init = index.file("pkg/__init__.py").unwrap();
    let reexport = def(init, "Session");
    assert_eq!(reexport.kind, SymbolKind::Import);
    assert_eq!(reexport.signature, "from .sessions import Session, session");
}

#[test]
fn rust_definitions() {
    let repo = Repo::new(&[(
        "src/lib.rs",
        r#"/// A connection pool.
#[derive(Debug)]
pub struct Pool {
    pub size: usize,
    name: String,
}

pub trait Named {
    /// The name.
    fn name(&self) -> &str;
    fn shout(&self) -> String {
        self.name().to_uppercase()
    }
}

impl Pool {
    pub const MAX: usize = 8;

    /// Makes a pool.
    pub fn new(size: usize) -> Self {
        let local = 1;
        Pool { size, name: String::new() }
    }
}

impl Named for Pool {
    fn name(&self) -> &str {
        &self.name
    }
}

pub enum State { Idle, Busy { since: u64 } }

pub mod util {
    pub fn helper() {}
}
"#,
    )]);
    let index = repo.index();
    let file = index.file("src/lib.rs").unwrap();
    let pool = def(file, "Pool");
    assert_eq!(pool.kind, SymbolKind::Struct);
    assert_eq!(pool.line, 3);
    assert_eq!(pool.signature, "pub struct Pool");
    assert_eq!(pool.doc.as_deref(), Some("A connection pool."));
    assert_eq!(def(file, "Pool.size").signature, "pub size: usize");
    let new = def(file, "Pool.new");
    assert_eq!(new.kind, SymbolKind::Method);
    assert_eq!(new.line, 20);
    assert_eq!(new.signature, "pub fn new(size: usize) -> Self");
    assert_eq!(new.doc.as_deref(), Some("Makes a pool."));
    assert_eq!(def(file, "Pool.MAX").kind, SymbolKind::Constant);
    assert_eq!(def(file, "Named.name").doc.as_deref(), Some("The name."));
    assert_eq!(def(file, "Named").kind, SymbolKind::Trait);
    assert_eq!(def(file, "State.Busy.since").kind, SymbolKind::Field);
    assert_eq!(def(file, "util.helper").kind, SymbolKind::Function);
    let impls: Vec<_> = file
        .defs
        .iter()
        .filter(|d| d.kind == SymbolKind::Impl)
        .map(|d| (d.name.as_str(), d.bases.clone()))
        .collect();
    assert_eq!(
        impls,
        vec![("Pool", vec![]), ("Pool", vec!["Named".to_string()])]
    );
    assert!(file.defs.iter().all(|d| d.name != "local"));
}

#[test]
fn go_java_and_typescript_definitions() {
    let repo = Repo::new(&[
        (
            "server/server.go",
            "package server\n\n// Server serves.\ntype Server struct {\n\tBase\n\tName string\n}\n\n// Run runs it.\nfunc (s *Server) Run(port int) error {\n\treturn nil\n}\n\nconst Timeout = 5\n",
        ),
        (
            "src/main/java/app/Shape.java",
            "package app;\n\n/** A shape. */\npublic class Shape extends Base implements Drawable {\n    private int sides = 3;\n\n    /** Area of it. */\n    public double area(double scale) {\n        return 0;\n    }\n}\n",
        ),
        (
            "web/store.ts",
            "/** The store. */\nexport class Store<T> extends Base implements Readable {\n  items: T[] = [];\n  get size(): number { return this.items.length; }\n  add(item: T): void { this.items.push(item); }\n}\n\nexport interface Readable { read(): string; }\n\nexport const makeStore = (n: number): Store<number> => new Store();\n",
        ),
        (
            "web/legacy.js",
            "// Widget docs.\nfunction Widget(el) { this.el = el; }\nWidget.prototype.render = function (opts) { return opts; };\n",
        ),
    ]);
    let index = repo.index();

    let go = index.file("server/server.go").unwrap();
    let server = def(go, "Server");
    assert_eq!(
        (server.kind, server.line, server.doc.as_deref()),
        (SymbolKind::Struct, 4, Some("Server serves."))
    );
    assert_eq!(server.bases, vec!["Base"]);
    let run = def(go, "Server.Run");
    assert_eq!(run.kind, SymbolKind::Method);
    assert_eq!(run.signature, "func (s *Server) Run(port int) error");
    assert_eq!(run.doc.as_deref(), Some("Run runs it."));
    assert_eq!(def(go, "Timeout").kind, SymbolKind::Constant);

    let java = index.file("src/main/java/app/Shape.java").unwrap();
    let shape = def(java, "Shape");
    assert_eq!(shape.bases, vec!["Base", "Drawable"]);
    assert_eq!(shape.doc.as_deref(), Some("A shape."));
    let area = def(java, "Shape.area");
    assert_eq!(
        (area.line, area.signature.as_str(), area.doc.as_deref()),
        (8, "public double area(double scale)", Some("Area of it."))
    );
    assert_eq!(def(java, "Shape.sides").kind, SymbolKind::Field);

    let ts = index.file("web/store.ts").unwrap();
    let store = def(ts, "Store");
    assert_eq!(store.doc.as_deref(), Some("The store."));
    assert_eq!(store.bases, vec!["Base", "Readable"]);
    assert_eq!(def(ts, "Store.size").kind, SymbolKind::Property);
    assert_eq!(def(ts, "Store.add").signature, "add(item: T): void");
    assert_eq!(def(ts, "Readable.read").kind, SymbolKind::Method);
    let make = def(ts, "makeStore");
    assert_eq!(make.kind, SymbolKind::Function);
    assert_eq!(
        make.signature,
        "const makeStore = (n: number): Store<number> =>"
    );

    let js = index.file("web/legacy.js").unwrap();
    assert_eq!(def(js, "Widget").doc.as_deref(), Some("Widget docs."));
    assert_eq!(def(js, "Widget.render").kind, SymbolKind::Method);
}

#[test]
fn references_skip_strings_and_comments() {
    let repo = python_repo();
    let index = repo.index();
    let file = index.file("pkg/sessions.py").unwrap();
    // `Session` appears on line 20 (class), in a comment and a string (lines 46-47), and on
    // line 53 (the call); only code lines count.
    assert_eq!(file.refs.lines_of("Session"), &[20, 53]);
    assert_eq!(file.refs.lines_of("DEFAULT_RETRIES"), &[3, 43]);
    // Keywords and `self` are not recorded.
    assert!(file.refs.lines_of("self").is_empty());
    assert!(file.refs.lines_of("return").is_empty());
}
