"""The one JSON parser of the ingestion endpoints: every way a body can be unreadable is a
400 naming the problem, before any view code runs.

DRF's own JSONParser lets a deeply nested document raise ``RecursionError`` (a 500), reads
any size, and accepts ``NaN``, NUL characters and unpaired surrogates, which PostgreSQL then
refuses to store (another 500). This parser refuses all of them with ``BatchInvalid``.
"""

import json
from typing import Any

from django.conf import settings
from rest_framework.parsers import BaseParser

from usage.ingestion import BatchInvalid, batch_error

# Deeper than any event needs ({"events": [{"properties": {…}}]} is four levels).
MAX_DEPTH = 32


def _invalid(message: str) -> BatchInvalid:
    return BatchInvalid([batch_error(None, "body", message)])


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _string_problem(text: str) -> str | None:
    if "\x00" in text:
        return "text cannot contain the NUL character (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "text cannot contain an unpaired surrogate (\\ud800-\\udfff)"
    return None


def document_check(document: Any) -> None:
    """Walk a decoded document without recursion: refuse nesting deeper than ``MAX_DEPTH``
    and strings (keys or values) that cannot be stored as text."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if problem := _string_problem(node):
                raise _invalid(problem)
            continue
        if not isinstance(node, dict | list):
            continue
        if depth > MAX_DEPTH:
            raise _invalid(f"the JSON is nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, dict):
            stack.extend((key, depth) for key in node)
            stack.extend((value, depth + 1) for value in node.values())
        else:
            stack.extend((item, depth + 1) for item in node)


class IngestionJSONParser(BaseParser):
    """``application/json`` in UTF-8, at most ``HANDOFF_API_MAX_BODY_BYTES``, nested at most
    ``MAX_DEPTH`` levels; anything else is ``BatchInvalid`` (400) and nothing is stored."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        cap = settings.HANDOFF_API_MAX_BODY_BYTES
        too_large = f"the body is over the {cap:,}-byte cap"
        declared = parser_context["request"].META.get("CONTENT_LENGTH") or "0"
        if not declared.isdigit() or int(declared) > cap:
            raise _invalid(too_large)
        raw = stream.read(cap + 1)
        if len(raw) > cap:
            raise _invalid(too_large)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _invalid(f"the body is not UTF-8 text: {exc}") from exc
        try:
            document = json.loads(text, parse_constant=_reject_constant)
        except RecursionError as exc:
            raise _invalid(f"the JSON is nested more than {MAX_DEPTH} levels deep") from exc
        except ValueError as exc:
            raise _invalid(f"malformed JSON: {exc}") from exc
        document_check(document)
        return document
