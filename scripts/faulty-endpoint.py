#!/usr/bin/env python3
# The endpoint of issue 14's throttling measurement (docs/operations.md): per request,
# 15% HTTP 429 with Retry-After: 1, 5% HTTP 500, 2% HTTP 200 with a body that is not JSON,
# otherwise a chat completion. GET / returns what it sent. NOFAULT=1: answers only.
#   python3 scripts/faulty-endpoint.py PORT [SEED]
import json, random, sys, threading
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
import os
NOFAULT = os.environ.get("NOFAULT") == "1"
counts = {"429": 0, "500": 0, "garbage": 0, "ok": 0}
lock = threading.Lock()
random.seed(int(sys.argv[2]) if len(sys.argv) > 2 else 14)
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        body = json.dumps(counts).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock:
            r = 1.0 if NOFAULT else random.random()
            kind = "429" if r < 0.15 else "500" if r < 0.20 else "garbage" if r < 0.22 else "ok"
            counts[kind] += 1
        if kind == "429":
            status, body, extra = 429, b'{"error":"rate limited"}', [("Retry-After", "1")]
        elif kind == "500":
            status, body, extra = 500, b'{"error":"internal"}', []
        elif kind == "garbage":
            status, body, extra = 200, b'<html>oops</html>', []
        else:
            status, extra = 200, []
            body = json.dumps({"choices":[{"index":0,"message":{"role":"assistant","content":"答案是A"},"finish_reason":"stop"}],"usage":{"prompt_tokens":50,"completion_tokens":3}}).encode()
        self.send_response(status)
        for k, v in extra: self.send_header(k, v)
        self.send_header("Content-Type", "application/json"); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
