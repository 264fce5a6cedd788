#!/usr/bin/env python3
"""An oracle-style scripted model for `agent bench run` over a real dataset (a benchmark of the
batch path, not of a model): an OpenAI-compatible /v1/chat/completions server on 127.0.0.1
that recognises each instance by its problem statement in the conversation and answers
`apply_patch` with the instance's gold patch, then `submit`. Safe with any number of workers.

    python3 harness/scripts/oracle_model.py DATASET.jsonl --port 8931 &
    agent bench run --dataset DATASET.jsonl --repos REPOS --output OUT \
        --base-url http://127.0.0.1:8931/v1 --model oracle --workers 2

A conversation whose instance it cannot tell gets HTTP 400 (the run then counts a model error).
"""
import argparse
import http.server
import itertools
import json

COUNTER = itertools.count(1)


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
        applied = any(m.get("role") == "tool" for m in messages)
        if applied:
            name, args = "submit", {"summary": "applied the reference change"}
        else:
            name, args = "apply_patch", {"patch": row["patch"]}
        n = next(COUNTER)
        message = {"role": "assistant", "content": None,
                   "tool_calls": [{"id": f"call_{n}", "type": "function",
                                   "function": {"name": name, "arguments": json.dumps(args)}}]}
        self.reply(200, {"id": f"chatcmpl-{n}", "object": "chat.completion", "created": 1700000000 + n,
                         "model": body.get("model", "oracle"),
                         "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
                         "usage": {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}})

    def reply(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("--port", type=int, default=8931)
    args = ap.parse_args()
    Handler.rows = load(args.dataset)
    http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
