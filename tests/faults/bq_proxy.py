"""A reverse proxy in front of the BigQuery emulator that fails chosen requests on command.

    proxy = FaultProxy("http://127.0.0.1:9050").start()   # listens on 127.0.0.1 only
    rule = proxy.fail(r"POST /bigquery/v2/projects/[^/]+/jobs$", status=503, times=2)
    ... point a destination block's api_endpoint at proxy.url, run the job ...
    assert rule.fired == 2

Everything is forwarded as is, except that a request matching an armed rule (regex over
"METHOD /path", query string left out) is answered by the proxy with a BigQuery-shaped error:
500 backendError, 503 backendError, 429 rateLimitExceeded, or 403 rateLimitExceeded (what
BigQuery itself answers for most rate limits). With `forward_first=True` the request reaches the
emulator and takes effect, and only the answer is replaced by the error: the client sees a
failure for something that happened (a lost response). `after` arms a rule only once a request
matching that regex has gone through (e.g. fail job polling only after the job was submitted).
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "host",
}

# What BigQuery answers, as the Google client parses it (status + errors[0].reason).
ERRORS: dict[str, tuple[int, str, str]] = {
    "500": (500, "backendError", "INTERNAL"),
    "503": (503, "backendError", "UNAVAILABLE"),
    "429": (429, "rateLimitExceeded", "RESOURCE_EXHAUSTED"),
    "403-rate-limit": (403, "rateLimitExceeded", "PERMISSION_DENIED"),
}


@dataclass
class Rule:
    pattern: re.Pattern[str]
    error: str
    times: int
    forward_first: bool = False
    after: re.Pattern[str] | None = None
    duration: float | None = None
    """With `for_seconds`: every match fails during that long after the first one."""
    started: float | None = None
    armed: bool = True
    fired: int = 0
    seen: list[str] = field(default_factory=list)

    def body(self) -> bytes:
        status, reason, text = ERRORS[self.error]
        message = f"Injected by the fault proxy ({self.error})"
        return json.dumps(
            {
                "error": {
                    "code": status,
                    "message": message,
                    "errors": [{"message": message, "domain": "global", "reason": reason}],
                    "status": text,
                }
            }
        ).encode()


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream_host = parsed.hostname or "127.0.0.1"
        self.upstream_port = parsed.port or 80
        self.rules: list[Rule] = []
        self.log: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the proxy first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="bq-fault-proxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def fail(
        self,
        pattern: str,
        *,
        status: int | str = 503,
        times: int = 1,
        forward_first: bool = False,
        after: str | None = None,
        for_seconds: float | None = None,
    ) -> Rule:
        """Answer the next `times` requests matching `pattern` with the error `status`
        (500, 503, 429 or "403-rate-limit"); with `for_seconds`, every match during that many
        seconds from the first one (an outage)."""
        error = str(status)
        if error not in ERRORS:
            raise ValueError(f"unknown error {status!r}; one of {sorted(ERRORS)}")
        rule = Rule(
            re.compile(pattern),
            error,
            times,
            forward_first=forward_first,
            after=re.compile(after) if after else None,
            armed=after is None,
            duration=for_seconds,
        )
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def requests(self, pattern: str = ".*") -> list[tuple[str, int]]:
        regex = re.compile(pattern)
        with self._lock:
            return [(line, status) for line, status in self.log if regex.search(line)]

    def _decide(self, line: str) -> Rule | None:
        with self._lock:
            now = time.monotonic()
            for rule in self.rules:
                if not (rule.armed and rule.pattern.search(line)):
                    continue
                if rule.duration is not None:
                    if rule.started is None:
                        rule.started = now  # the outage starts with its first match
                    if now - rule.started > rule.duration:
                        continue
                elif rule.fired >= rule.times:
                    continue
                rule.fired += 1
                rule.seen.append(line)
                return rule
            return None

    def _passed(self, line: str, status: int) -> None:
        with self._lock:
            self.log.append((line, status))
            for rule in self.rules:
                if not rule.armed and rule.after is not None and rule.after.search(line):
                    rule.armed = True


class _Handler(BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _handle(self) -> None:
        proxy = self.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = urllib.parse.urlsplit(self.path).path
        line = f"{self.command} {path}"
        rule = proxy._decide(line)
        if rule is not None and not rule.forward_first:
            self._answer(rule.body(), ERRORS[rule.error][0], {"Content-Type": "application/json"})
            proxy._passed(line, ERRORS[rule.error][0])
            return
        try:
            status, headers, payload = self._forward(body)
        except OSError as error:
            message = json.dumps({"error": {"code": 502, "message": str(error)}}).encode()
            self._answer(message, 502, {"Content-Type": "application/json"})
            proxy._passed(line, 502)
            return
        if rule is not None:  # forwarded, took effect; the client sees the error anyway
            self._answer(rule.body(), ERRORS[rule.error][0], {"Content-Type": "application/json"})
            proxy._passed(line, ERRORS[rule.error][0])
            return
        self._answer(payload, status, headers)
        proxy._passed(line, status)

    def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        proxy = self.owner
        conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=600)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            headers["Host"] = f"{proxy.upstream_host}:{proxy.upstream_port}"
            if body or self.command in ("POST", "PUT", "PATCH"):
                headers["Content-Length"] = str(len(body))
            conn.request(self.command, self.path, body=body or None, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            kept = {k: v for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP}
            return response.status, kept, payload
        finally:
            conn.close()

    def _answer(self, payload: bytes, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = _handle
    do_POST = _handle
    do_PUT = _handle
    do_PATCH = _handle
    do_DELETE = _handle
    do_HEAD = _handle
