"""A fake Stripe API on 127.0.0.1: the edge of the world for the Stripe client.

The real ``stripe`` library talks HTTP to it (``STRIPE_API_BASE``), so every layer of the
project runs for real; only Stripe's servers are replaced. It serves the subscriptions and
events a test (or the benchmark) puts in it, in Stripe's shapes, records every request, and
can fail the next requests to a path (with ``Stripe-Should-Retry: false``, as Stripe marks
errors not worth an immediate retry, so the failure reaches the project instead of being
retried inside the library).
"""

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]


@dataclass
class _Failure:
    path: str
    status: int
    remaining: int


@dataclass
class FakeStripe:
    """``subscriptions`` by id and ``events`` (any order) are what Stripe holds."""

    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    _failures: list[_Failure] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # Control -------------------------------------------------------------------------------

    def start(self) -> "FakeStripe":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._handle(self)

            def do_POST(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail_next(self, path: str, *, status: int = 500, times: int = 1) -> None:
        """Answer the next ``times`` requests to ``path`` with ``status``."""
        with self._lock:
            self._failures.append(_Failure(path, status, times))

    def requests_to(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def put_subscription(self, subscription: dict[str, Any]) -> None:
        with self._lock:
            self.subscriptions[subscription["id"]] = json.loads(json.dumps(subscription))

    def put_event(self, event: dict[str, Any]) -> None:
        with self._lock:
            self.events.append(json.loads(json.dumps(event)))

    # Serving -------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        query: dict[str, list[str]] = {}
        for key, value in parse_qsl(url.query, keep_blank_values=True):
            query.setdefault(re.sub(r"\[\d*\]$", "", key), []).append(value)
        length = int(handler.headers.get("Content-Length") or 0)
        if length:
            handler.rfile.read(length)
        with self._lock:
            self.requests.append(Request(handler.command, url.path, query))
            failure = next((f for f in self._failures if f.path == url.path and f.remaining), None)
            if failure is not None:
                failure.remaining -= 1
        if failure is not None:
            self._send(
                handler,
                failure.status,
                {"error": {"type": "api_error", "message": "Stripe is having a bad moment."}},
            )
            return
        status, body = self._route(handler.command, url.path, query)
        self._send(handler, status, body)

    def _route(self, method: str, path: str, query: dict[str, list[str]]) -> tuple[int, dict]:
        with self._lock:
            if method == "GET" and (match := re.fullmatch(r"/v1/subscriptions/([^/]+)", path)):
                subscription = self.subscriptions.get(match.group(1))
                if subscription is None:
                    return 404, _missing("subscription", match.group(1))
                return 200, subscription
            if method == "GET" and path == "/v1/subscriptions":
                return 200, _page(list(self.subscriptions.values()), query, path)
            if method == "GET" and path == "/v1/events":
                gte = int((query.get("created[gte]") or ["0"])[0])
                types = set(query.get("types") or [])
                matching = [
                    e
                    for e in self.events
                    if e["created"] >= gte and (not types or e["type"] in types)
                ]
                matching.sort(key=lambda e: (e["created"], e["id"]), reverse=True)  # newest first
                return 200, _page(matching, query, path)
        return 404, {"error": {"type": "invalid_request_error", "message": f"No route {path}"}}

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Request-Id", "req_fake")
        if status >= 500:
            handler.send_header("Stripe-Should-Retry", "false")
        handler.end_headers()
        handler.wfile.write(data)


def _missing(kind: str, object_id: str) -> dict:
    return {
        "error": {
            "type": "invalid_request_error",
            "code": "resource_missing",
            "message": f"No such {kind}: '{object_id}'",
        }
    }


def _page(items: list[dict], query: dict[str, list[str]], url: str) -> dict:
    limit = int((query.get("limit") or ["10"])[0])
    after = (query.get("starting_after") or [None])[0]
    if after is not None:
        ids = [item["id"] for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    return {
        "object": "list",
        "data": items[:limit],
        "has_more": len(items) > limit,
        "url": url,
    }
