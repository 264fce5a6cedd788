//! Python indentation errors that tree-sitter-python tolerates without an `ERROR` node but
//! Python itself rejects: a block with no statements (`if x:` followed by a dedent) and a
//! statement indented differently from the others in its block. Without this check, an edit
//! that drops a block's body or misplaces a line passes the syntax gate.

use tree_sitter::{Node, Tree};

use crate::lang::{SyntaxErrorInfo, SyntaxErrorKind};

/// Indentation errors in a Python tree that otherwise parsed cleanly.
pub(crate) fn layout_errors(tree: &Tree, source: &str) -> Vec<SyntaxErrorInfo> {
    let root = tree.root_node();
    if root.has_error() {
        // The parser's own errors describe the problem better.
        return Vec::new();
    }
    let mut errors = Vec::new();
    let mut cursor = root.walk();
    loop {
        let node = cursor.node();
        match node.kind() {
            "module" => check_block(node, source, Some(0), &mut errors),
            "block" => check_block(node, source, None, &mut errors),
            _ => {}
        }
        if cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return errors;
            }
        }
    }
}

/// Checks that `block` holds a statement and that its statements that start a line all start
/// at the same column (`required` for the module: column 0).
fn check_block(
    block: Node<'_>,
    source: &str,
    required: Option<usize>,
    errors: &mut Vec<SyntaxErrorInfo>,
) {
    let mut cursor = block.walk();
    let statements: Vec<Node<'_>> = block
        .named_children(&mut cursor)
        .filter(|n| n.kind() != "comment")
        .collect();
    if statements.is_empty() {
        if block.kind() == "block" {
            let header_line = block
                .parent()
                .map(|p| p.start_position().row)
                .unwrap_or(block.start_position().row);
            errors.push(error(
                block,
                header_line,
                format!("expected an indented block after line {}", header_line + 1),
            ));
        }
        return;
    }
    let mut expected = required;
    for statement in statements {
        let start = statement.start_position();
        if !starts_its_line(source, statement) {
            continue;
        }
        match expected {
            None => expected = Some(start.column),
            Some(column) if column == start.column => {}
            Some(column) => {
                let message = if start.column > column {
                    "unexpected indent"
                } else {
                    "unindent does not match the block's indentation"
                };
                errors.push(error(statement, start.row, message.to_string()));
                return;
            }
        }
    }
}

/// Whether only whitespace precedes `node` on its line.
fn starts_its_line(source: &str, node: Node<'_>) -> bool {
    let start = node.start_byte();
    let line_start = start - node.start_position().column;
    source
        .get(line_start..start)
        .is_some_and(|prefix| prefix.chars().all(char::is_whitespace))
}

fn error(node: Node<'_>, row: usize, message: String) -> SyntaxErrorInfo {
    SyntaxErrorInfo {
        line: row + 1,
        column: node.start_position().column + 1,
        end_line: node.end_position().row.max(row) + 1,
        kind: SyntaxErrorKind::Indentation,
        message,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::lang::syntax_errors;

    fn messages(src: &str) -> Vec<String> {
        syntax_errors(Path::new("m.py"), src)
            .unwrap()
            .into_iter()
            .map(|e| format!("{}: {}", e.line, e.message))
            .collect()
    }

    #[test]
    fn an_empty_block_is_an_error() {
        let src = "def f(x):\n    if x:\n    if y:\n        z = 1\n    return 2\n";
        assert_eq!(
            messages(src),
            ["2: expected an indented block after line 2"]
        );
        let only_comment =
            "class A:\n    def f(self):\n        # todo\n\n    def g(self):\n        pass\n";
        assert_eq!(
            messages(only_comment),
            ["2: expected an indented block after line 2"]
        );
    }

    #[test]
    fn a_statement_indented_deeper_than_its_block_is_an_error() {
        let src = "def f(x):\n    try:\n        raise err\n            if a:\n                b()\n    except E:\n        pass\n";
        assert_eq!(messages(src), ["4: unexpected indent"]);
    }

    #[test]
    fn valid_layouts_pass() {
        for src in [
            "if x: pass\nelse:\n    y = 1\n",
            "def f():\n    ...\n",
            "def f():\n    # comment\n    return (1 +\n            2)\n",
            "x = 1; y = 2\n@dec\nclass A:\n    \"\"\"Doc.\"\"\"\n\n    a = 1\n",
            "match x:\n    case 1:\n        pass\n    case _:\n        pass\n",
            "def f():\n\tif x:\n\t\treturn 1\n\treturn 2\n",
        ] {
            assert_eq!(messages(src), Vec::<String>::new(), "{src}");
        }
    }
}
