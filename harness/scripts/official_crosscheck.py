#!/usr/bin/env python3
"""Check this harness against the official SWE-bench harness (4.1.0 or 5.x), run from its wheel.

A 5.x wheel (it has swebench/harness/infra_failure.py) is graded with 5.x rules; compare it with
our reports from `agent bench eval --harness-version 5`.

    pip download --no-deps swebench==4.1.0 -d /tmp/swebench && cd /tmp/swebench && unzip -q *.whl
    python3 official_crosscheck.py --official /tmp/swebench parsers 300
        random logs: our log parsers (examples/parse_log) vs the official ones
    python3 official_crosscheck.py --official /tmp/swebench reports DATASET.jsonl LOGS/run_evaluation/RUN_ID
        each report.json we wrote vs the official get_eval_report on the same test_output.txt
    (cd LOGS_PARENT && python3 official_crosscheck.py --official /tmp/swebench summary DATASET.jsonl PREDICTIONS|gold RUN_ID OURS.json)
        our MODEL.RUN_ID.json vs the official make_run_report over the same logs (run it where
        logs/ is; the official file is left beside ours as MODEL.RUN_ID.json.official.json)

Only the official parser and grading functions are loaded (their package imports Docker and
network clients, which are stubbed out here).
"""
import argparse
import enum
import glob
import json
import os
import random
import re
import subprocess
import sys
import tempfile

PARSERS = {
    "pytest": "parse_log_pytest", "pytest-options": "parse_log_pytest_options",
    "pytest-v2": "parse_log_pytest_v2", "django": "parse_log_django", "sympy": "parse_log_sympy",
    "matplotlib": "parse_log_matplotlib", "seaborn": "parse_log_seaborn",
}


class TestStatus(enum.Enum):
    FAILED = "FAILED"
    PASSED = "PASSED"
    SKIPPED = "SKIPPED"
    ERROR = "ERROR"
    XFAIL = "XFAIL"


def is_v5(root):
    return os.path.exists(os.path.join(root, "swebench", "harness", "infra_failure.py"))


def load_official(root):
    harness = os.path.join(root, "swebench", "harness")
    src = open(os.path.join(harness, "log_parsers", "python.py")).read()
    src = src.replace("from swebench.harness.constants import TestStatus", "")
    src = src.replace("from swebench.harness.test_spec.test_spec import TestSpec", "TestSpec = object")
    src = src.replace("from swebench.types import TestSpec", "TestSpec = object")
    parsers = {"TestStatus": TestStatus, "re": re}
    exec(src, parsers)
    grading = open(os.path.join(harness, "grading.py")).read()
    start = "SUITE_RAN = re.compile" if is_v5(root) else "# MARK: Utility functions"
    grading = grading[grading.index(start):]
    return parsers, grading


def v5_namespace(root, parsers):
    """What 5.x grading imports besides 4.1.0's names."""
    infra = {"__name__": "infra_failure"}
    exec(open(os.path.join(root, "swebench", "harness", "infra_failure.py")).read(), infra)
    return dict(re=re, TEST_EXIT_CODE=">>>>> Test Exit Code", TIER_ENVIRONMENT=infra["TIER_ENVIRONMENT"],
                classify_logs=infra["classify_logs"],
                PARSER_REGISTRY={f: parsers[f] for f in PARSERS.values()})


def random_log(seed):
    rng = random.Random(seed)
    words = ["PASSED", "FAILED", "SKIPPED", "ERROR", "XFAIL", "XPASS", "ERRORS", "ok", "OK", " ok", " F",
             " E", "FAIL:", "ERROR:", " ... ", " ... ok", " ... FAIL", " ... ERROR", " ... skipped 'x'",
             " ...  OK", " - ", "tests/test_a.py::test_b", "test_x[a b]", "test_y[/tmp/a/b/c]", "[//x/y]",
             "[/a/*/b]", "\x1b[32m", "\x1b[0m", "\x1b[1;31m", "[33m", "\t", " ", "\x1f", "\xa0",
             "MouseButton.LEFT", "MouseButton.RIGHT", "____", " sympy/core/test_x.py:test_y ", "_ a.py:b _",
             "test_", "test_case (mod.Class)", "--version is equivalent to version",
             "Applying sites.0002_alter_domain_unique...test_no_migrations", " PASSED ", "::", "\u00e9", "\r",
             "Testing against Django installed in 'x' (0 silenced).",
             "System check identified no issues (0 silenced)", "Internal Server Error: /a/b/", "\n", "\n", "\n"]
    out = []
    for _ in range(400):
        out.append(rng.choice(words))
        if rng.random() < 0.15:
            out.append("\n")
    return "".join(out)


def check_parsers(parsers, count, binary, v5=False):
    differ = crashed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(count):
            path = os.path.join(tmp, "log.txt")
            text = random_log(seed)
            open(path, "w", encoding="utf-8").write(text)
            for name, function in PARSERS.items():
                try:
                    want = parsers[function](text, None)
                except Exception:
                    crashed += 1  # the official parser raises (e.g. IndexError): no verdict to compare
                    continue
                command = [binary, name, path] + (["5"] if v5 else [])
                got = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
                if got != want:
                    differ += 1
                    print(f"seed {seed} parser {name}: maps differ")
    print(f"{count} logs x {len(PARSERS)} parsers: {differ} differ ({crashed} official crashes skipped)")
    return differ == 0


def check_reports(parsers, grading, dataset_path, run_dir, extra=None):
    class Spec:
        pass

    class ResolvedStatus(enum.Enum):
        NO = "RESOLVED_NO"
        PARTIAL = "RESOLVED_PARTIAL"
        FULL = "RESOLVED_FULL"

    class EvalType(enum.Enum):
        PASS_AND_FAIL = "pass_and_fail"
        FAIL_ONLY = "fail_only"

    dataset = {}
    for line in open(dataset_path):
        if line.strip():
            row = json.loads(line)
            dataset[row["instance_id"]] = row
    specs = json.load(open(os.path.join(os.path.dirname(__file__), "..", "data", "specs.json")))["repos"]
    specs.update(json.load(open(os.path.join(os.path.dirname(__file__), "..", "data", "mini", "specs.json")))["repos"])
    namespace = dict(
        APPLY_PATCH_FAIL=">>>>> Patch Apply Failed", RESET_FAILED=">>>>> Reset Failed",
        TESTS_ERROR=">>>>> Tests Errored", TESTS_TIMEOUT=">>>>> Tests Timed Out",
        START_TEST_OUTPUT=">>>>> Start Test Output", END_TEST_OUTPUT=">>>>> End Test Output",
        FAIL_TO_PASS="FAIL_TO_PASS", PASS_TO_PASS="PASS_TO_PASS", FAIL_TO_FAIL="FAIL_TO_FAIL",
        PASS_TO_FAIL="PASS_TO_FAIL", KEY_INSTANCE_ID="instance_id", KEY_PREDICTION="model_patch",
        FAIL_ONLY_REPOS=set(), TestStatus=TestStatus, ResolvedStatus=ResolvedStatus, EvalType=EvalType,
        Any=object, TestSpec=Spec,
        MAP_REPO_TO_PARSER={repo: parsers[PARSERS[s["log_parser"]]] for repo, s in specs.items()},
        MAP_REPO_VERSION_TO_SPECS={repo: s["versions"] for repo, s in specs.items()},
    )
    namespace.update(extra or {})
    exec(grading, namespace)
    same = differ = 0
    for report_path in sorted(glob.glob(os.path.join(run_dir, "*", "*", "report.json"))):
        directory = os.path.dirname(report_path)
        instance = dataset[os.path.basename(directory)]
        spec = Spec()
        spec.repo, spec.version, spec.instance_id = instance["repo"], instance["version"], instance["instance_id"]
        spec.log_parser = instance.get("log_parser") or PARSERS[specs[spec.repo]["log_parser"]]
        spec.eval_type = instance.get("eval_type") or "pass_and_fail"
        for key in ("FAIL_TO_PASS", "PASS_TO_PASS"):
            value = instance.get(key, [])
            setattr(spec, key, json.loads(value) if isinstance(value, str) else value)
        prediction = {"instance_id": spec.instance_id, "model_patch": open(os.path.join(directory, "patch.diff")).read()}
        official = namespace["get_eval_report"](spec, prediction, os.path.join(directory, "test_output.txt"), True)
        if json.dumps(official, indent=4) == open(report_path).read():
            same += 1
        else:
            differ += 1
            print(f"{report_path}: differs from the official report")
    print(f"reports: {same} byte-identical, {differ} different")
    return differ == 0


def check_summary(root, dataset_path, predictions_path, run_id, ours_path):
    import types
    from pathlib import Path
    src = open(os.path.join(root, "swebench", "harness", "reporting.py")).read()
    src = src[src.index("def make_run_report"):]

    class Listing:
        def list(self, all=True):
            return []

    class Client:
        images = Listing()
        containers = Listing()

    def make_test_spec(instance, **_):
        return types.SimpleNamespace(instance_image_key="")

    namespace = dict(
        KEY_INSTANCE_ID="instance_id", KEY_MODEL="model_name_or_path", KEY_PREDICTION="model_patch",
        RUN_EVALUATION_LOG_DIR=Path("logs/run_evaluation"), LOG_REPORT="report.json",
        LOG_INSTANCE="run_instance.log", LOG_TEST_OUTPUT="test_output.txt",
        list_images=lambda client: set(), make_test_spec=make_test_spec, json=json, Path=Path,
        Optional=type("Optional", (), {"__class_getitem__": classmethod(lambda cls, item: object)}),
        docker=types.SimpleNamespace(DockerClient=object),
    )
    if is_v5(root):
        infra = {"__name__": "infra_failure"}
        exec(open(os.path.join(root, "swebench", "harness", "infra_failure.py")).read(), infra)
        namespace.update(classify_logs=infra["classify_logs"], TIER_ENVIRONMENT=infra["TIER_ENVIRONMENT"])
    exec(src, namespace)
    dataset = [json.loads(line) for line in open(dataset_path) if line.strip()]
    if predictions_path == "gold":
        predictions = {d["instance_id"]: {"instance_id": d["instance_id"], "model_patch": d["patch"],
                                          "model_name_or_path": "gold"} for d in dataset}
    else:
        predictions = {}
        for line in open(predictions_path):
            if line.strip():
                p = json.loads(line)
                predictions[p["instance_id"]] = p
    ours = open(ours_path).read()
    import contextlib
    import io
    # The official function writes MODEL.RUN_ID.json here, where our own summary usually is:
    # keep ours, and leave the official one beside it as .official.json.
    model = next(iter(predictions.values()))["model_name_or_path"].replace("/", "__")
    target = f"{model}.{run_id}.json"
    before = open(target).read() if os.path.exists(target) else None
    with contextlib.redirect_stdout(io.StringIO()):
        if is_v5(root):
            path = namespace["make_run_report"](predictions, dataset, run_id, None, tempfile.mkdtemp())
        else:
            path = namespace["make_run_report"](predictions, dataset, run_id, Client())
    official = open(path).read()
    if before is not None and os.path.abspath(path) == os.path.abspath(target):
        with open(target, "w") as f:
            f.write(before)
        path = target + ".official.json"
        with open(path, "w") as f:
            f.write(official)
    same = official == ours
    print(f"summary {path}: {'byte-identical' if same else 'DIFFERENT'}")
    return same


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--official", required=True, help="directory with the unpacked swebench wheel")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("parsers")
    p.add_argument("count", type=int)
    p.add_argument("--binary", default="target/debug/examples/parse_log")
    r = sub.add_parser("reports")
    r.add_argument("dataset")
    r.add_argument("run_dir")
    m = sub.add_parser("summary")
    m.add_argument("dataset")
    m.add_argument("predictions")
    m.add_argument("run_id")
    m.add_argument("ours")
    args = parser.parse_args()
    if args.command == "summary":
        sys.exit(0 if check_summary(args.official, args.dataset, args.predictions, args.run_id, args.ours) else 1)
    parsers, grading = load_official(args.official)
    extra = v5_namespace(args.official, parsers) if is_v5(args.official) else None
    ok = (check_parsers(parsers, args.count, args.binary, extra is not None) if args.command == "parsers"
          else check_reports(parsers, grading, args.dataset, args.run_dir, extra))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
