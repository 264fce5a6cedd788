//! The four tools through the registry, and the index following edits made by another tool.

use serde_json::json;

use super::support::ToolRepo;

fn python_tool_repo() -> ToolRepo {
    ToolRepo::new(&[
        (
            "app/models.py",
            "class Model:\n    \"\"\"Base model.\"\"\"\n\n    def save(self, force=False):\n        \"\"\"Save it.\"\"\"\n        return force\n\n\nclass User(Model):\n    name = 'x'\n\n    def greet(self):\n        return self.save()\n",
        ),
        (
            "app/views.py",
            "from app.models import User\n\n\ndef show():\n    user = User()\n    return user.greet()\n",
        ),
        ("README.md", "# readme\n"),
    ])
}

#[tokio::test]
async fn outline_of_a_file_and_a_directory() {
    let repo = python_tool_repo();
    let out = repo
        .call("outline", json!({"path": "app/models.py"}))
        .await
        .unwrap();
    assert!(
        out.starts_with("app/models.py (13 lines, 5 definitions)"),
        "{out}"
    );
    assert!(
        out.contains("        1-6  class Model  # Base model."),
        "{out}"
    );
    assert!(
        out.contains("        4-6    def save(self, force=False)  # Save it."),
        "{out}"
    );
    assert!(out.contains("         10    name = 'x'  [field]"), "{out}");

    let dir = repo.call("outline", json!({"path": "app"})).await.unwrap();
    assert!(dir.starts_with("2 source files under `app`"), "{dir}");
    assert!(
        dir.contains("app/views.py (6 lines)\n        4-6  def show()"),
        "{dir}"
    );
    assert!(!dir.contains("def save"), "top-level only: {dir}");

    let err = repo
        .call("outline", json!({"path": "README.md"}))
        .await
        .unwrap_err();
    assert!(
        err.contains("not a source file in a supported language"),
        "{err}"
    );
    let err = repo
        .call("outline", json!({"path": "../etc"}))
        .await
        .unwrap_err();
    assert!(err.contains("outside the repository"), "{err}");
}

#[tokio::test]
async fn find_definition_and_references_outputs() {
    let repo = python_tool_repo();
    let out = repo
        .call("find_definition", json!({"name": "User.greet"}))
        .await
        .unwrap();
    assert!(out.starts_with("1 definition of `User.greet`:"), "{out}");
    assert!(
        out.contains("app/models.py:12  method User.greet\n    def greet(self)"),
        "{out}"
    );

    let none = repo
        .call("find_definition", json!({"name": "Usr"}))
        .await
        .unwrap();
    assert!(
        none.starts_with("no definition of `Usr` in the index (2 files)"),
        "{none}"
    );
    assert!(none.contains("similar names: User"), "{none}");

    let refs = repo
        .call("find_references", json!({"name": "User"}))
        .await
        .unwrap();
    assert!(refs.starts_with("`User`: 3 lines in 2 files"), "{refs}");
    assert!(
        refs.contains("app/models.py (1)\n      9* class User(Model):"),
        "{refs}"
    );
    assert!(
        refs.contains(
            "app/views.py (2)\n      1  from app.models import User\n      5  user = User()"
        ),
        "{refs}"
    );

    let scoped = repo
        .call(
            "find_references",
            json!({"name": "Model.save", "path": "app/views.py"}),
        )
        .await
        .unwrap();
    assert!(scoped.contains("searching for `save`"), "{scoped}");
    assert!(
        scoped.contains("no references to `save` under `app/views.py`"),
        "{scoped}"
    );
}

#[tokio::test]
async fn complete_through_the_tool() {
    let repo = python_tool_repo();
    let out = repo
        .call(
            "complete",
            json!({"expression": "self", "path": "app/models.py", "line": 13, "prefix": "s"}),
        )
        .await
        .unwrap();
    assert!(
        out.starts_with("class `app.models.User` (app/models.py:9): 1 member starting with `s`"),
        "{out}"
    );
    assert!(out.contains("inherited from Model (app/models.py:1):\n  method      def save(self, force=False)  (line 4)  # Save it."), "{out}");

    let miss = repo
        .call("complete", json!({"expression": "Usr"}))
        .await
        .unwrap();
    assert!(
        miss.contains("no module, class or type named `Usr`"),
        "{miss}"
    );
    assert!(miss.contains("did you mean: User"), "{miss}");
}

#[tokio::test]
async fn index_follows_edits_made_through_the_registry() {
    let repo = python_tool_repo();
    // Build the index first.
    let before = repo
        .call("find_definition", json!({"name": "greet"}))
        .await
        .unwrap();
    assert!(before.contains("app/models.py:12"), "{before}");

    // An edit by another tool: the registry reports the changed file to the symbol tools.
    repo.call(
        "str_replace",
        json!({
            "path": "app/models.py",
            "old_str": "    def greet(self):\n",
            "new_str": "    def welcome(self, other):\n        pass\n\n    def greet(self):\n",
        }),
    )
    .await
    .unwrap();
    let after = repo
        .call("find_definition", json!({"name": "greet"}))
        .await
        .unwrap();
    assert!(after.contains("app/models.py:15"), "{after}");
    let added = repo
        .call("find_definition", json!({"name": "welcome"}))
        .await
        .unwrap();
    assert!(
        added.contains("app/models.py:12  method User.welcome\n    def welcome(self, other)"),
        "{added}"
    );

    // The persisted index has the edit too (once the background write is done): a new index
    // re-parses nothing.
    repo.service.flush().await;
    let index =
        agent_tools::symbols::SymbolIndex::open(repo.repo.root(), Some(repo.cache.path())).unwrap();
    assert_eq!(index.last_stats().reparsed_files, 0);
    assert!(
        index
            .file("app/models.py")
            .unwrap()
            .defs
            .iter()
            .any(|d| d.name == "welcome")
    );
}

#[test]
fn tools_have_schemas_and_descriptions() {
    let repo = python_tool_repo();
    let defs = repo.registry.openai_definitions();
    let find = |name: &str| {
        defs.iter()
            .find(|d| d["function"]["name"] == name)
            .unwrap_or_else(|| panic!("{name} not registered"))
            .clone()
    };
    let complete = find("complete");
    let props = &complete["function"]["parameters"]["properties"];
    for key in ["expression", "prefix", "path", "line"] {
        assert!(
            props.get(key).is_some(),
            "complete lacks `{key}`: {complete}"
        );
    }
    assert_eq!(
        complete["function"]["parameters"]["required"],
        json!(["expression"])
    );
    assert_eq!(
        find("outline")["function"]["parameters"]["required"],
        json!(["path"])
    );
    assert_eq!(
        find("find_definition")["function"]["parameters"]["required"],
        json!(["name"])
    );
    assert_eq!(
        find("find_references")["function"]["parameters"]["required"],
        json!(["name"])
    );
}
