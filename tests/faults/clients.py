"""The clients of the fault tests: a workspace with an API key, usage batches that a client
retries until answered, and Stripe events signed with the real scheme."""

import http.client
import json
import secrets
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.utils import timezone

from accounts import services as accounts_services
from billing.stripe.signing import signature_header
from tests.factories import UserFactory, WorkspaceFactory, on_plan
from tests.faults.servers import WEBHOOK_SECRET, Answer, Gunicorn

USAGE_URL = "/api/v1/usage/events"
WEBHOOK_URL = "/billing/stripe/webhook/"
# What a client sees when the server went away without answering.
NO_ANSWER = (ConnectionError, http.client.HTTPException, TimeoutError, OSError)


def workspace_with_key(name: str, *, plan: str | None = None):
    owner = UserFactory(email=f"owner@{name.lower()}.io")
    workspace = WorkspaceFactory(name=name, created_by=owner)
    if plan:
        on_plan(workspace, plan)
    _, raw_key = accounts_services.api_key_create(workspace=workspace, name="faults", actor=owner)
    return workspace, raw_key


def usage_event(key: str, quantity: int = 1) -> dict[str, Any]:
    at = (timezone.now() - timedelta(seconds=2)).isoformat()
    return {"metric": "api_calls", "quantity": quantity, "idempotency_key": key, "timestamp": at}


def post_usage(web: Gunicorn, raw_key: str, events: list[dict[str, Any]]) -> Answer:
    return web.request(
        USAGE_URL,
        method="POST",
        data={"events": events},
        headers={"Authorization": f"Bearer {raw_key}"},
    )


def signed_event(event_type: str, obj: dict[str, Any], *, created: int | None = None):
    """A Stripe event (its id unique) and its body, signed as Stripe signs."""
    event = {
        "id": f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "type": event_type,
        "created": created or int(time.time()),
        "data": {"object": obj},
    }
    return event, json.dumps(event).encode()


def post_webhook(web: Gunicorn, body: bytes) -> Answer:
    return web.request(
        WEBHOOK_URL,
        method="POST",
        data=body,
        headers={
            "Stripe-Signature": signature_header(body, WEBHOOK_SECRET),
            "Content-Type": "application/json",
        },
    )


class Load:
    """Senders running in threads until ``stop()``; the first error any of them hits is
    raised again by ``stop()``."""

    def __init__(self, send: Callable[[int, threading.Event], None], threads: int) -> None:
        self.halt = threading.Event()
        self.errors: list[BaseException] = []
        self.threads = [
            threading.Thread(target=self._run, args=(send, n), daemon=True) for n in range(threads)
        ]
        for thread in self.threads:
            thread.start()

    def _run(self, send, n: int) -> None:
        try:
            send(n, self.halt)
        except BaseException as exc:  # handed to the test's thread by stop()
            self.errors.append(exc)
            self.halt.set()

    def stop(self) -> None:
        self.halt.set()
        for thread in self.threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in self.threads), "a sender hangs"
        if self.errors:
            raise self.errors[0]
