#!/usr/bin/env python3
"""Code-size figures for the workspace's product code (tests excluded).

Prints: functions longer than a limit (default 80 lines, signature to closing brace), the
longest function, and files longer than 600 lines. Test code is left out: `#[cfg(test)]`
modules, files named `*_tests.rs` or `tests.rs`, and everything under a `tests/` or `benches/`
folder, as well as the `agent-tests` crate.

    python3 scripts/code_figures.py [--limit 80] [--files 600] [DIR ...]   (default: agent tools containers harness)
"""
import argparse
import os
import re
import sys


def strip(text):
    """The text with comments, strings and char literals blanked (newlines kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif re.match(r'b?r#*"', text[i:i + 40]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'b?r(#*)"', text[i:])
            if m is None:
                out.append(c)
                i += 1
                continue
            end = '"' + m.group(1)
            j = text.find(end, i + m.end())
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "'":
            m = re.match(r"'(\\.[^']*|[^'\\])'", text[i:])
            if m:
                out.append(" " * m.end())
                i += m.end()
            else:  # a lifetime
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def matching(code, open_at):
    depth = 0
    for j in range(open_at, len(code)):
        if code[j] == "{":
            depth += 1
        elif code[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(code) - 1


def test_ranges(code):
    """Character ranges of `#[cfg(test)]` items."""
    ranges = []
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(pub\s+)?mod\s+\w+\s*\{", code):
        ranges.append((m.start(), matching(code, m.end() - 1)))
    return ranges


def functions(path):
    text = open(path, encoding="utf-8").read()
    code = strip(text)
    skip = test_ranges(code)
    line_of = lambda pos: code.count("\n", 0, pos) + 1
    for m in re.finditer(r"\bfn\s+(\w+)", code):
        if any(a <= m.start() <= b for a, b in skip):
            continue
        # The body: the first `{` after the signature at paren depth 0, unless a `;` comes first.
        depth, j = 0, m.end()
        while j < len(code):
            ch = code[j]
            if ch in "(<[":
                depth += 1
            elif ch in ")>]":
                depth -= 1
            elif ch == ";" and depth <= 0:
                j = -1
                break
            elif ch == "{" and depth <= 0:
                break
            j += 1
        if j < 0 or j >= len(code):
            continue
        end = matching(code, j)
        yield m.group(1), line_of(m.start()), line_of(end) - line_of(m.start()) + 1


def product_files(roots):
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in ("target", "tests", "benches")]
            for f in filenames:
                if f.endswith(".rs") and not (f == "tests.rs" or f.endswith("_tests.rs")):
                    yield os.path.join(dirpath, f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=80)
    ap.add_argument("--files", type=int, default=600)
    ap.add_argument("--list", action="store_true", help="list every long function")
    ap.add_argument("dirs", nargs="*", default=["agent", "tools", "containers", "harness"])
    args = ap.parse_args()
    long, longest, big = [], None, []
    for path in sorted(product_files(args.dirs)):
        lines = open(path, encoding="utf-8").read().count("\n")
        if lines > args.files:
            big.append((lines, path))
        for name, line, length in functions(path):
            if length > args.limit:
                long.append((length, f"{path}:{line} {name}"))
            if longest is None or length > longest[0]:
                longest = (length, f"{path}:{line} {name}")
    long.sort(reverse=True)
    if args.list:
        for length, where in long:
            print(f"  {length:4} {where}")
    print(f"product functions over {args.limit} lines in {' '.join(args.dirs)}: {len(long)}")
    if longest:
        print(f"longest function: {longest[1]} ({longest[0]} lines)")
    print(f"files over {args.files} lines: {len(big)}")
    for lines, path in sorted(big, reverse=True):
        print(f"  {lines:5} {path}")


if __name__ == "__main__":
    sys.exit(main())
