#!/usr/bin/env python3
"""Regenerate dataset.jsonl from the repositories in repos/*.fi and the texts in issues.json.

Each commit whose subject ends with "(#N)" is the upstream fix of instance owner__name-N: its
parent is the base commit, its changes under tests/ are the test patch, the rest the gold patch.
FAIL_TO_PASS and PASS_TO_PASS are left empty: fill them with
`agent bench validate --dataset harness/data/mini/dataset.jsonl --write`.
"""
import json
import pathlib
import re
import subprocess
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
VERSIONS = {"minibench/tinyconf": "0.1", "minibench/unitwise": "0.3"}


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout


def main():
    issues = json.loads((HERE / "issues.json").read_text())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for stream in sorted((HERE / "repos").glob("*.fi")):
            slug = stream.stem
            repo = pathlib.Path(tmp) / f"{slug}.git"
            subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
            with stream.open("rb") as f:
                subprocess.run(["git", "-C", str(repo), "fast-import", "--quiet"], stdin=f, check=True)
            name = slug.replace("__", "/")
            first = git(repo, "rev-list", "--max-parents=0", "main").split()[0]
            log = git(repo, "log", "--reverse", "--format=%H%x09%P%x09%cI%x09%s", "main")
            for line in log.splitlines():
                sha, parent, date, subject = line.split("\t", 3)
                match = re.search(r"\(#(\d+)\)$", subject)
                if not match:
                    continue
                instance_id = f"{slug}-{match.group(1)}"
                issue = issues[instance_id]
                rows.append({
                    "repo": name,
                    "instance_id": instance_id,
                    "base_commit": parent,
                    "patch": git(repo, "diff", parent, sha, "--", ".", ":(exclude)tests"),
                    "test_patch": git(repo, "diff", parent, sha, "--", "tests"),
                    "problem_statement": f"{issue['title']}\n\n{issue['body']}",
                    "hints_text": "",
                    "created_at": date.replace("+00:00", "Z"),
                    "version": VERSIONS[name],
                    "FAIL_TO_PASS": "[]",
                    "PASS_TO_PASS": "[]",
                    "environment_setup_commit": first,
                })
    with (HERE / "dataset.jsonl").open("w") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")
    print(f"{len(rows)} instances")


if __name__ == "__main__":
    main()
