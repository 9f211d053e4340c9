"""Fixtures of the outbound tests: a real HTTP server on 127.0.0.1 in a thread, standing in
for a CRM's webhook receiver or Slack, which checks each request's signature itself and
answers the statuses a test queues; and people in each sales role."""

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from accounts.roles import BILLING_ADMINS, SALES, SALES_MANAGERS
from tests.pql.conftest import staff


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool | None

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook receiver: records every request, checks ``Handoff-Signature`` with
    ``secret`` the way Stripe's docs tell receivers to (HMAC-SHA256 of "t.body", constant
    time compare, a timestamp within 5 minutes), and answers the queued statuses (then 200)."""

    server: ThreadingHTTPServer
    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    secret: str | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks/handoff"

    def check(self, header: str | None, body: bytes) -> bool | None:
        if self.secret is None:
            return None
        if not header:
            return False
        pairs = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
        timestamp = pairs.get("t", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
            return False
        expected = hmac.new(
            self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(expected, pairs.get("v1", ""))


def _handler(receiver: Receiver):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            receiver.received.append(
                Received(
                    self.path,
                    dict(self.headers.items()),
                    body,
                    receiver.check(self.headers.get("Handoff-Signature"), body),
                )
            )
            status = receiver.statuses.pop(0) if receiver.statuses else 200
            answer = b"ok" if status < 300 else b"receiver is down: try again later"
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver listening on 127.0.0.1 (a free port) until the test ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    box = Receiver(server)
    server.RequestHandlerClass = _handler(box)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield box
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def loopback_allowed(settings):
    """Development mode for this test only: endpoints on 127.0.0.1 (the receiver) are
    allowed, as they are with DEBUG on."""
    settings.DEBUG = True


@pytest.fixture
def manager(db):
    return staff("manager@handoff.test", SALES, SALES_MANAGERS)


@pytest.fixture
def rep(db):
    return staff("rep@handoff.test", SALES)


@pytest.fixture
def billing_admin(db):
    return staff("billing@handoff.test", BILLING_ADMINS)


ALL_TYPES = [
    "lead.opened",
    "lead.status_changed",
    "lead.won",
    "lead.lost",
    "lead.sla_breached",
    "workspace.upgraded",
    "revenue.expansion",
    "revenue.churn",
]
