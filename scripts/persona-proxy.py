#!/usr/bin/env python3
"""A reseller's wrapper in front of an OpenAI-compatible endpoint, for the provenance
test zoo (docs/provenance.md): it puts its own persona in the system prompt of every
chat request (replacing any system message the client sent) and, with --rename, rewrites
the maker's and model's names in the answers, the usual way "self-developed" models that
are really another model behind a proxy are built.

    python3 scripts/persona-proxy.py --listen 8771 --upstream http://127.0.0.1:8765 [--rename]

Standard library only. Requests and replies are bounded (8 MiB); the upstream's status
and body are passed back as they are, apart from the rewritten answer texts.
"""

import argparse
import json
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PERSONA = (
    "你是星辰大模型，由星辰智能科技公司自主研发的人工智能助手。"
    "请用专业、友好的语气回答用户的问题。"
)
# Longest names first so "通义千问" is rewritten before "通义".
RENAMES = [
    ("Alibaba Cloud", "Xingchen Intelligence"),
    ("Alibaba", "Xingchen Intelligence"),
    ("通义千问", "星辰大模型"),
    ("阿里巴巴", "星辰智能科技"),
    ("阿里云", "星辰智能科技"),
    ("Qwen", "Xingchen"),
    ("通义", "星辰"),
    ("阿里", "星辰"),
]
MAX_BODY_BYTES = 8 * 1024 * 1024


def rename(text):
    for old, new in RENAMES:
        text = text.replace(old, new)
    return text


class Proxy(BaseHTTPRequestHandler):
    upstream = ""
    rewrite_names = False
    timeout_secs = 300.0

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def forward(self, body):
        request = urllib.request.Request(
            self.upstream.rstrip("/") + self.path,
            data=body,
            method=self.command,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_secs) as reply:
                return reply.status, reply.read(MAX_BODY_BYTES + 1)
        except urllib.error.HTTPError as error:
            return error.code, error.read(MAX_BODY_BYTES + 1)
        except (urllib.error.URLError, TimeoutError) as error:
            message = json.dumps({"error": {"message": f"upstream unreachable: {error}"}})
            return 502, message.encode()

    def answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - http.server's naming
        status, body = self.forward(None)
        self.answer(status, body[:MAX_BODY_BYTES])

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.answer(413, b'{"error":{"message":"request too large"}}')
            return
        body = self.rfile.read(length)
        if self.path.endswith("/chat/completions"):
            try:
                request = json.loads(body)
            except json.JSONDecodeError:
                self.answer(400, b'{"error":{"message":"body is not JSON"}}')
                return
            messages = [m for m in request.get("messages", []) if m.get("role") != "system"]
            request["messages"] = [{"role": "system", "content": PERSONA}] + messages
            body = json.dumps(request, ensure_ascii=False).encode()
        status, reply = self.forward(body)
        if len(reply) > MAX_BODY_BYTES:
            self.answer(502, b'{"error":{"message":"upstream reply too large"}}')
            return
        if self.rewrite_names and status == 200:
            try:
                parsed = json.loads(reply)
                for choice in parsed.get("choices", []):
                    message = choice.get("message") or {}
                    if isinstance(message.get("content"), str):
                        message["content"] = rename(message["content"])
                    if isinstance(choice.get("text"), str):
                        choice["text"] = rename(choice["text"])
                reply = json.dumps(parsed, ensure_ascii=False).encode()
            except json.JSONDecodeError:
                pass
        self.answer(status, reply)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=int, required=True, help="port on 127.0.0.1")
    parser.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:8765")
    parser.add_argument("--rename", action="store_true", help="rewrite maker names in answers")
    args = parser.parse_args()
    Proxy.upstream = args.upstream
    Proxy.rewrite_names = args.rename
    server = ThreadingHTTPServer(("127.0.0.1", args.listen), Proxy)
    print(f"persona proxy on 127.0.0.1:{args.listen} -> {args.upstream}", file=sys.stderr)
    server.serve_forever()


if __name__ == "__main__":
    main()
