#!/usr/bin/env python3
"""Figures over evaluation runs of the development set (issue 15), read from the logs that
`agent bench eval` wrote. Prints; asserts nothing.

    python3 harness/scripts/devset_figures.py LOGS/run_evaluation gold1 gold2 gold3 -- wrong1 wrong2

For each run: instances with a report, resolved, unresolved, errors (no report). Over the gold
runs: instances whose verdict flips. Per instance, warm (instance image already there): the
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


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        sys.exit(__doc__)
    root = args[0]
    gold = args[1:args.index("--")] if "--" in args else args[1:]
    other = args[args.index("--") + 1:] if "--" in args else []
    all_warm = []
    gold_verdicts = []
    for run_id in gold + other:
        verdicts, warm = run_verdicts(root, run_id)
        all_warm += warm
        counts = {k: sum(1 for v, _ in verdicts.values() if v == k) for k in ("resolved", "unresolved", "error")}
        print(f"{run_id}: {len(verdicts)} instances: {counts['resolved']} resolved, "
              f"{counts['unresolved']} unresolved, {counts['error']} errors")
        if run_id in gold:
            gold_verdicts.append(verdicts)
    if len(gold_verdicts) > 1:
        common = set.intersection(*(set(v) for v in gold_verdicts))
        flips = sorted(i for i in common if len({v[i][0] for v in gold_verdicts}) > 1)
        print(f"gold over {len(gold_verdicts)} runs: {len(common)} instances in all, {len(flips)} flip: {' '.join(flips)}")
    if gold_verdicts:
        print("listed tests failing under gold (first gold run):")
        for iid, (verdict, entry) in sorted(gold_verdicts[0].items()):
            if verdict == "resolved":
                continue
            if entry is None:
                print(f"  {iid}: error (no report)")
                continue
            ts = entry.get("tests_status", {})
            failing = ts.get("FAIL_TO_PASS", {}).get("failure", []) + ts.get("PASS_TO_PASS", {}).get("failure", [])
            print(f"  {iid}: {len(failing)} failing: {' '.join(failing[:8])}{' ...' if len(failing) > 8 else ''}")
    if all_warm:
        outside = statistics.median(w[0] for w in all_warm)
        total = statistics.median(w[1] for w in all_warm)
        print(f"warm instances: {len(all_warm)}; median time outside the test command {outside:.2f}s, "
              f"median total {total:.2f}s")


if __name__ == "__main__":
    main()
