#!/usr/bin/env python3
"""An oracle-style scripted model for `agent bench run` over a real dataset (a benchmark of the
batch path, not of a model): an OpenAI-compatible /v1/chat/completions server on 127.0.0.1
that recognises each instance by its problem statement in the conversation and answers
`apply_patch` with the instance's gold patch, then `submit`. Safe with any number of workers.

    python3 harness/scripts/oracle_model.py DATASET.jsonl --port 8931 &
    agent bench run --dataset DATASET.jsonl --repos REPOS --output OUT \
        --base-url http://127.0.0.1:8931/v1 --model oracle --workers 2

A conversation whose instance it cannot tell gets HTTP 400 (the run then counts a model error).

With --probe, between the patch and the submit it also calls `run` twice in the agent's sandbox:
importing the repository's package (named as the repository, e.g. sympy) and opening a
connection to PyPI. Then `--summarize OUT/trajectories` reads what came back: the package
imported from the mounted checkout, and the network was off.
"""
import argparse
import glob
import http.server
import itertools
import json
import os

COUNTER = itertools.count(1)
PROBE_IMPORT = "probe-imported-from"
PROBE_ONLINE = "probe-network-reachable"
PROBE_OFFLINE = "probe-network-unreachable"


def load(path):
    with open(path) as f:
        text = f.read()
    rows = json.loads(text) if path.endswith(".json") else [json.loads(l) for l in text.splitlines() if l.strip()]
    return rows


def text_of(message):
    content = message.get("content")
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


class Handler(http.server.BaseHTTPRequestHandler):
    rows = []
    probe = False

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        messages = body.get("messages", [])
        conversation = "\n".join(text_of(m) for m in messages if m.get("role") in ("user", "system"))
        # The longest matching statement wins (one statement may contain another's prefix).
        matches = [r for r in self.rows if r["problem_statement"].strip()[:2000] in conversation]
        if not matches:
            return self.reply(400, {"error": {"message": "oracle: no instance's problem statement in this conversation",
                                              "type": "invalid_request_error"}})
        row = max(matches, key=lambda r: len(r["problem_statement"]))
        name, args = self.next_call(row, sum(1 for m in messages if m.get("role") == "tool"))
        n = next(COUNTER)
        message = {"role": "assistant", "content": None,
                   "tool_calls": [{"id": f"call_{n}", "type": "function",
                                   "function": {"name": name, "arguments": json.dumps(args)}}]}
        self.reply(200, {"id": f"chatcmpl-{n}", "object": "chat.completion", "created": 1700000000 + n,
                         "model": body.get("model", "oracle"),
                         "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
                         "usage": {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}})

    def next_call(self, row, tool_results):
        """apply_patch, then (with --probe) the two probes, then submit."""
        package = row["repo"].split("/")[1]
        calls = [("apply_patch", {"patch": row["patch"]})]
        if self.probe:
            calls += [("run", {"command": f"python -c 'import {package}; print(\"{PROBE_IMPORT}\", {package}.__file__)'"}),
                      ("run", {"command": "python -c 'import urllib.request\ntry:\n"
                                          "    urllib.request.urlopen(\"https://pypi.org/simple/\", timeout=10)\n"
                                          f"    print(\"{PROBE_ONLINE}\")\n"
                                          f"except OSError as e:\n    print(\"{PROBE_OFFLINE}\", type(e).__name__)'"})]
        calls.append(("submit", {"summary": "applied the reference change"}))
        return calls[min(tool_results, len(calls) - 1)]

    def reply(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def summarize(trajectories):
    """Per instance: where the package was imported from, whether the network answered."""
    imported, offline, total = 0, 0, 0
    for path in sorted(glob.glob(os.path.join(trajectories, "*.traj.json"))):
        total += 1
        texts = [json.loads(l).get("text", "") for l in open(path) if '"observation"' in l]
        origin = next((t.split(PROBE_IMPORT, 1)[1].split()[0] for t in texts if PROBE_IMPORT in t), None)
        # Off only when the probe ran and its connection failed; a probe that never ran is unknown.
        network = ("ON" if any(PROBE_ONLINE in t for t in texts)
                   else "off" if any(PROBE_OFFLINE in t for t in texts) else "not probed")
        imported += origin is not None
        offline += network == "off"
        print(f"{os.path.basename(path).split('.traj')[0]}: imported from {origin}; network {network}")
    print(f"{total} trajectories: package imported in {imported}, network off in {offline}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", nargs="?")
    ap.add_argument("--port", type=int, default=8931)
    ap.add_argument("--probe", action="store_true", help="run the import and network probes before submitting")
    ap.add_argument("--summarize", metavar="TRAJECTORIES", help="print the probes' outcomes and exit")
    args = ap.parse_args()
    if args.summarize:
        return summarize(args.summarize)
    Handler.probe = args.probe
    Handler.rows = load(args.dataset)
    http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
