#!/usr/bin/env python3
"""Figures over evaluation runs of the development set (issue 15), read from the logs that
`agent bench eval` wrote. Prints; asserts nothing.

    python3 harness/scripts/devset_figures.py LOGS/run_evaluation gold1 gold2 gold3 -- wrong1 wrong2 wrong3

For each run: instances with a report, resolved, unresolved, errors (no report). Over each group
of repeats (runs between `--`; the first group is gold): instances whose verdict flips. Per instance, warm (instance image already there): the
median time outside the test command (total minus the test command) and the median total.
Listed tests that failed under gold are printed per instance: with the tests that need the
internet, they are what the dev set's gold run cannot pass offline.
"""
import glob
import json
import os
import re
import statistics
import sys

TIMINGS = re.compile(r"Timings: setup ([\d.]+)s \(image built: (\w+)\), container ([\d.]+)s, apply ([\d.]+)s, "
                     r"eval script ([\d.]+)s, tests ([\d.]+|-)s?, total ([\d.]+)s")


def run_verdicts(root, run_id):
    verdicts, warm = {}, []
    for directory in glob.glob(os.path.join(root, run_id, "*", "*")):
        iid = os.path.basename(directory)
        report = os.path.join(directory, "report.json")
        if os.path.exists(report):
            entry = json.load(open(report))[iid]
            verdicts[iid] = ("resolved" if entry["resolved"] else "unresolved", entry)
        else:
            verdicts[iid] = ("error", None)
        log = os.path.join(directory, "run_instance.log")
        if os.path.exists(log):
            for m in TIMINGS.finditer(open(log, errors="replace").read()):
                if m.group(2) == "false" and m.group(6) != "-":
                    total, tests = float(m.group(7)), float(m.group(6))
                    warm.append((total - tests, total))
    return verdicts, warm


def groups_of(run_ids):
    """Runs split at each `--`: the first group is the gold runs, each group repeats one set of
    predictions (its verdicts should not flip)."""
    groups = [[]]
    for run_id in run_ids:
        if run_id == "--":
            groups.append([])
        else:
            groups[-1].append(run_id)
    return [g for g in groups if g]


def print_flips(group, verdicts_of):
    common = set.intersection(*(set(verdicts_of[r]) for r in group))
    flips = sorted(i for i in common if len({verdicts_of[r][i][0] for r in group}) > 1)
    print(f"{' '.join(group)}: {len(common)} instances in all, {len(flips)} flip: {' '.join(flips)}")


def print_gold_failures(verdicts):
    print("listed tests failing under gold (first gold run):")
    for iid, (verdict, entry) in sorted(verdicts.items()):
        if verdict == "resolved":
            continue
        if entry is None:
            print(f"  {iid}: error (no report)")
            continue
        ts = entry.get("tests_status", {})
        failing = ts.get("FAIL_TO_PASS", {}).get("failure", []) + ts.get("PASS_TO_PASS", {}).get("failure", [])
        print(f"  {iid}: {len(failing)} failing: {' '.join(failing[:8])}{' ...' if len(failing) > 8 else ''}")


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        sys.exit(__doc__)
    root, groups = args[0], groups_of(args[1:])
    all_warm, verdicts_of = [], {}
    for run_id in (r for g in groups for r in g):
        verdicts, warm = run_verdicts(root, run_id)
        verdicts_of[run_id] = verdicts
        all_warm += warm
        counts = {k: sum(1 for v, _ in verdicts.values() if v == k) for k in ("resolved", "unresolved", "error")}
        print(f"{run_id}: {len(verdicts)} instances: {counts['resolved']} resolved, "
              f"{counts['unresolved']} unresolved, {counts['error']} errors")
    for group in groups:
        if len(group) > 1:
            print_flips(group, verdicts_of)
    print_gold_failures(verdicts_of[groups[0][0]])
    if all_warm:
        outside = statistics.median(w[0] for w in all_warm)
        total = statistics.median(w[1] for w in all_warm)
        print(f"warm instances: {len(all_warm)}; median time outside the test command {outside:.2f}s, "
              f"median total {total:.2f}s")


if __name__ == "__main__":
    main()
