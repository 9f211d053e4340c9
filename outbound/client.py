"""The one place outbound speaks HTTP: a POST of a JSON body to an endpoint, through
``addresses.guarded_connection`` (no private address reached, whatever DNS says by then),
without following redirects or using proxies from the environment, with a timeout."""

import http.client
import logging
import ssl
from dataclasses import dataclass

from outbound.addresses import UnsafeAddress, guarded_connection, url_parse

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
EXCERPT_CHARS = 500
USER_AGENT = "Handoff-Webhooks/1"


@dataclass(frozen=True)
class Answer:
    """What an endpoint answered (``status`` None: no answer, ``error`` says why)."""

    status: int | None
    excerpt: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _Guarded:
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = guarded_connection


class _HTTPConnection(_Guarded, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_Guarded, http.client.HTTPSConnection):
    pass


def post_json(url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POST ``body`` to ``url``; never raises for a network problem (it is in the answer)."""
    try:
        parts = url_parse(url)
    except UnsafeAddress as exc:
        return Answer(None, error=exc.message)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    if parts.scheme == "https":
        connection = _HTTPSConnection(
            parts.hostname,
            parts.port,
            timeout=TIMEOUT_SECONDS,
            context=ssl.create_default_context(),
        )
    else:
        connection = _HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT_SECONDS)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **headers,
    }
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        excerpt = response.read(EXCERPT_CHARS * 4).decode("utf-8", "replace")[:EXCERPT_CHARS]
        return Answer(response.status, excerpt=excerpt)
    except UnsafeAddress as exc:
        return Answer(None, error=exc.message)
    except (OSError, http.client.HTTPException) as exc:
        return Answer(None, error=f"{type(exc).__name__}: {exc}"[:300])
    finally:
        connection.close()
