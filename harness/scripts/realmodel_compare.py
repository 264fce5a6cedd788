#!/usr/bin/env python3
"""Our agent and mini-swe-agent on the same OpenAI-compatible server, tasks and step limit.

A benchmark, not a test: with a real model on 2 cores each task takes minutes. Runs are
alternated (ours, mini, ours --samples, ...) so that load on the machine hits them alike.

    python3 harness/scripts/realmodel_compare.py --agent target/release/agent \
        --mini /path/to/minivenv/bin/mini --server http://127.0.0.1:8080/v1 \
        --steps 20 --runs 1 --configs ours,mini,ours-s3 --out /tmp/compare

For each configuration and run it writes a predictions file, grades it with
`agent bench eval` (the official grading), and reads the trajectories for the intermediate
signals: the gold patch's files opened, a valid edit made, a failing test reproduced, actions
repeated (steps wasted in loops), tokens and wall time per instance. The table goes to stdout
(Markdown) and `summary.json` in --out.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
MINI_DATA = HERE.parent / "data" / "mini"


def load_dataset(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def gold_files(patch):
    return sorted(set(re.findall(r"^diff --git a/(\S+) b/", patch, re.M)))


def materialize(instance, dest):
    """The repository at base_commit as a one-commit repository: no later history to peek at."""
    stream = MINI_DATA / "repos" / (instance["repo"].replace("/", "__") + ".fi")
    with tempfile.TemporaryDirectory() as bare:
        subprocess.run(["git", "init", "-q", "--bare", bare], check=True)
        with open(stream, "rb") as f:
            subprocess.run(["git", "-C", bare, "fast-import", "--quiet"], stdin=f, check=True)
        dest.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "-C", bare, "archive", instance["base_commit"]], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    git = ["git", "-C", str(dest), "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "base"], check=True)


def run_ours(args, instances, out, samples):
    # With --parallel the server has slots for every attempt: a sample's attempts run together.
    workers = samples if args.parallel else 1
    cmd = [
        args.agent, "bench", "run", "--dataset", str(args.dataset), "--output", str(out),
        "--base-url", args.server, "--model", "local", "--max-steps", str(args.steps),
        "--workers", str(workers), "--max-tokens", str(args.max_tokens),
        "--instances", *[i["instance_id"] for i in instances],
    ]
    if samples > 1:
        cmd += ["--samples", str(samples), "--select"]
    cmd += args.agent_args.split()
    started = time.time()
    log = open(out.parent / (out.name + ".log"), "w")
    rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode
    return rc, time.time() - started


def mini_config(args, text_mode=False):
    # `mini-text`: mini-swe-agent's text-action mode, for models whose calls come back as text.
    mode = ["--model-class", "litellm_textbased", "-c", "mini_textbased.yaml"] if text_mode \
        else ["-c", "mini.yaml"]
    return mode + ["-c", f"agent.step_limit={args.steps}", "-c", "agent.cost_limit=0",
        "-c", f"model.model_kwargs.api_base={args.server}",
        "-c", "model.model_kwargs.api_key=sk-x", "-c", "model.model_kwargs.temperature=0.2",
        "-c", f"model.model_kwargs.max_tokens={args.max_tokens}",
        "-c", "model.cost_tracking=ignore_errors",
    ]


def run_mini(args, instances, out, text_mode=False):
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, MSWEA_CONFIGURED="true", MSWEA_COST_TRACKING="ignore_errors",
               LITELLM_LOCAL_MODEL_COST_MAP="True")
    if args.mini_path:
        env["PATH"] = args.mini_path + os.pathsep + env["PATH"]
    predictions, times = [], {}
    for instance in instances:
        iid = instance["instance_id"]
        work = out / "workspaces" / iid
        if work.exists():
            shutil.rmtree(work)
        materialize(instance, work)
        traj = out / "trajectories" / f"{iid}.traj.json"
        traj.parent.mkdir(parents=True, exist_ok=True)
        started = time.time()
        with open(out / f"{iid}.log", "w") as log:
            subprocess.run(
                [args.mini, "-m", "openai/local", "-t", instance["problem_statement"], "-y",
                 "--exit-immediately", *mini_config(args, text_mode), "-o", str(traj)],
                cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                timeout=args.instance_timeout,
            )
        times[iid] = time.time() - started
        diff = subprocess.run(["git", "-C", str(work), "diff"], capture_output=True, text=True).stdout
        predictions.append({"instance_id": iid, "model_name_or_path": "mini-swe-agent",
                            "model_patch": diff})
    with open(out / "predictions.jsonl", "w") as f:
        for p in predictions:
            f.write(json.dumps(p) + "\n")
    return times


def grade(args, predictions, run_id, log_dir):
    log_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [args.agent, "bench", "eval", "--dataset", str(args.dataset), "--predictions",
         str(predictions), "--run-id", run_id, "--log-dir", str(log_dir)],
        cwd=log_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    reports = list(log_dir.glob(f"*.{run_id}.json"))
    if not reports:
        return set()
    return set(json.load(open(reports[0])).get("resolved_ids", []))


def read_jsonl(path):
    events = []
    with open(path) as f:
        for line in f:
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return events


def ours_signals(traj, instance):
    """Signals from one of our JSON Lines trajectories."""
    events = read_jsonl(traj)
    actions, tokens, reproduced = [], 0, False
    for e in events:
        kind = e.get("event") or e.get("type")
        if kind == "tool_call":
            actions.append(json.dumps([e.get("name"), e.get("arguments")]))
        elif kind == "model_response":
            usage = e.get("usage") or {}
            tokens += (usage.get("prompt_tokens") or 0) + (usage.get("completion_tokens") or 0)
        elif kind == "notice" and e.get("kind") == "reproduction":
            reproduced = True
    return actions, tokens, reproduced


def mini_signals(traj):
    data = json.load(open(traj)) if traj.exists() else {}
    actions, tokens, reproduced, edited = [], 0, False, False
    for m in data.get("messages", []):
        extra = m.get("extra") or {}
        usage = (extra.get("response") or {}).get("usage") or {}
        tokens += (usage.get("prompt_tokens") or 0) + (usage.get("completion_tokens") or 0)
        if m.get("role") == "assistant":
            for a in extra.get("actions") or []:
                command = a.get("command") if isinstance(a, dict) else str(a)
                actions.append(command)
                edited = edited or bool(re.search(r"sed -i|cat\s*<<|>\s*\S+\.py", command or ""))
        if m.get("role") in ("tool", "user") and not edited:
            text = m.get("content") if isinstance(m.get("content"), str) else json.dumps(m.get("content"))
            if re.search(r"(\d+ failed|Traceback|Error)", text or "") and len(actions) > 0:
                reproduced = reproduced or "pytest" in (actions[-1] or "") or "python" in (actions[-1] or "")
    return actions, tokens, reproduced


def signals(config, out, instance, diff):
    iid = instance["instance_id"]
    files = gold_files(instance["patch"])
    if config.startswith("mini"):
        actions, tokens, reproduced = mini_signals(out / "trajectories" / f"{iid}.traj.json")
    else:
        actions, tokens, reproduced = [], 0, False
        for traj in sorted((out / "trajectories").glob(f"{iid}*.traj.json")):
            a, t, r = ours_signals(traj, instance)
            actions += a
            tokens += t
            reproduced = reproduced or r
    opened = any(f in (a or "") or Path(f).name in (a or "") for a in actions for f in files)
    repeated = len(actions) - len(set(actions))
    edited = any(f"b/{f}" in diff for f in files) or bool(diff.strip())
    return {"opened_gold_file": opened, "valid_edit": edited, "reproduced": reproduced,
            "repeated_actions": repeated, "tokens": tokens, "actions": len(actions)}


def predictions_of(out):
    path = out / "predictions.jsonl"
    if not path.exists():
        return {}
    return {p["instance_id"]: p.get("model_patch") or "" for p in read_jsonl(path)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agent", required=True)
    parser.add_argument("--mini", required=True, help="mini-swe-agent's `mini` executable")
    parser.add_argument("--mini-path", help="PATH prefix for mini's commands (python, pytest)")
    parser.add_argument("--server", default="http://127.0.0.1:8080/v1")
    parser.add_argument("--dataset", default="mini",
                        help="`mini` (the bundled dataset; the only one mini-swe-agent's side can "
                             "materialize here)")
    parser.add_argument("--instances", nargs="*")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=300,
                        help="reply length cap for both agents (default: %(default)s; a 1.5B model "
                             "on a busy CPU writes under one token a second)")
    parser.add_argument("--configs", default="ours,mini")
    parser.add_argument("--instance-timeout", type=int, default=3600)
    # A reply of a few hundred tokens at 1-2 tokens/s outlives the default 300 s request
    # timeout; streamed, the timeout bounds each read instead of the whole reply.
    parser.add_argument("--agent-args", default="--stream --request-timeout 600",
                        help="extra flags for our agent (default: %(default)s)")
    parser.add_argument("--parallel", action="store_true",
                        help="run the configurations at the same time (start the server with a "
                             "slot per concurrent request, e.g. llama-server -np 5): on a CPU "
                             "server batched decoding costs little more than one stream")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    args.agent = str(Path(args.agent).resolve())
    if args.dataset != "mini":
        sys.exit("only --dataset mini is supported: its repositories are bundled")
    instances = load_dataset(MINI_DATA / "dataset.jsonl")
    if args.instances:
        instances = [i for i in instances if i["instance_id"] in set(args.instances)]
    args.out.mkdir(parents=True, exist_ok=True)
    rows, lock = [], threading.Lock()
    for run in range(1, args.runs + 1):
        configs = args.configs.split(",")
        if args.parallel:
            with ThreadPoolExecutor(len(configs)) as pool:
                list(pool.map(lambda c: run_config(args, instances, c, run, rows, lock), configs))
        else:
            for config in configs:
                run_config(args, instances, config, run, rows, lock)
    print_table(rows)


def run_config(args, instances, config, run, rows, lock):
    """One configuration's run over the tasks, graded; its rows join `rows`."""
    out = args.out / f"{config}-r{run}"
    started = time.time()
    if config.startswith("mini"):
        per_instance = run_mini(args, instances, out, text_mode=config == "mini-text")
    else:
        samples = int(config.split("-s")[1]) if "-s" in config else 1
        run_ours(args, instances, out, samples)
        per_instance = None
    wall = time.time() - started
    resolved = grade(args, out / "predictions.jsonl", f"{config}-r{run}", out / "eval")
    diffs = predictions_of(out)
    for instance in instances:
        iid = instance["instance_id"]
        row = {"config": config, "run": run, "instance": iid,
               "resolved": iid in resolved,
               "wall_s": round(per_instance[iid] if per_instance else wall / len(instances), 1)}
        row.update(signals(config, out, instance, diffs.get(iid, "")))
        with lock:
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
            json.dump(rows, open(args.out / "summary.json", "w"), indent=1)


def print_table(rows):
    configs = sorted({r["config"] for r in rows}, key=lambda c: (c != "ours", c))
    print("| config | runs×tasks | resolved | gold file opened | valid edit | reproduced | "
          "repeated actions (mean) | tokens/instance (median) | wall s/instance (median) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for c in configs:
        rs = [r for r in rows if r["config"] == c]
        med = lambda xs: sorted(xs)[len(xs) // 2]
        print(f"| {c} | {len(rs)} | {sum(r['resolved'] for r in rs)} | "
              f"{sum(r['opened_gold_file'] for r in rs)} | {sum(r['valid_edit'] for r in rs)} | "
              f"{sum(r['reproduced'] for r in rs)} | "
              f"{sum(r['repeated_actions'] for r in rs) / len(rs):.1f} | "
              f"{med([r['tokens'] for r in rs])} | {med([r['wall_s'] for r in rs])} |")


if __name__ == "__main__":
    main()
