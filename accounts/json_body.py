"""The one strict reader of JSON request bodies: the API's parsers and the Stripe webhook
read every JSON body through it.

Python's ``json`` module reads what PostgreSQL or the code behind it cannot take: a deeply
nested document raises ``RecursionError`` (a 500), ``NaN`` and ``Infinity`` are accepted (and
``1e400`` becomes infinity), a repeated key silently keeps its last value, and NUL characters
and unpaired surrogates decode into strings that PostgreSQL refuses to store. Here each of
them is a ``BodyRefused`` (400) naming the problem, and a body over the size cap is
``BodyTooLarge`` (413), before any of it is decoded.
"""

import json
import math
from typing import Any

from accounts.errors import ApplicationError

# Deeper than any request needs ({"events": [{"properties": {…}}]} is four levels).
MAX_DEPTH = 32
# Integers beyond PostgreSQL's bigint are refused as they are read: no field takes one, and
# Python would otherwise spend time on a 4,000-digit number before anything checks it.
MAX_INTEGER = 2**63 - 1
JSON_MEDIA_TYPE = "application/json"


class BodyRefused(ApplicationError):
    """The request body cannot be read as what the endpoint takes: nothing was stored."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message, field="body")


class BodyTooLarge(BodyRefused):
    """The body is over the size cap."""

    status = 413


class BodyNotJson(BodyRefused):
    """The body is not ``application/json``."""

    status = 415


def json_kind(document: Any) -> str:
    """What a decoded JSON document is, in an error message ("a list", "null")."""
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "true or false"}
    if document is None:
        return "null"
    if isinstance(document, int | float) and not isinstance(document, bool):
        return "a number"
    return kinds.get(type(document), "a JSON value")


def too_large_message(cap: int) -> str:
    return f"The body is too large: this endpoint reads at most {cap:,} bytes."


def declared_length_check(content_length: str | None, *, cap: int) -> None:
    """Refuse a request whose declared ``Content-Length`` is over ``cap`` (or is not a
    number) before a byte of it is read."""
    declared = (content_length or "0").strip() or "0"
    if not declared.isdigit():
        raise BodyRefused(f"The Content-Length header is not a number: {declared[:40]!r}.")
    if int(declared) > cap:
        raise BodyTooLarge(too_large_message(cap))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _int(text: str) -> int:
    digits = text.lstrip("-")
    # The length test first: int() of thousands of digits is slow (and refused past 4,300).
    if len(digits) > 19 or abs(int(text)) > MAX_INTEGER:
        raise ValueError(
            f"the integer {text[:20]}{'…' if len(text) > 20 else ''} is out of range "
            f"(at most {MAX_INTEGER:,} either side of zero)"
        )
    return int(text)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"the key {key[:40]!r} appears twice in one object")
            seen.add(key)
    return document


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
                raise BodyRefused(f"The body is not acceptable: {problem}.")
            continue
        if not isinstance(node, dict | list):
            continue
        if depth > MAX_DEPTH:
            raise BodyRefused(too_deep_message())
        if isinstance(node, dict):
            stack.extend((key, depth) for key in node)
            stack.extend((value, depth + 1) for value in node.values())
        else:
            stack.extend((item, depth + 1) for item in node)


def too_deep_message() -> str:
    return f"The body is not acceptable: the JSON is nested more than {MAX_DEPTH} levels deep."


def json_body_parse(raw: bytes) -> Any:
    """The document in ``raw``: UTF-8 JSON, nested at most ``MAX_DEPTH`` levels, numbers
    finite and integers within 64 bits, no key twice in one object, no NUL or unpaired
    surrogate in any string. Anything else is ``BodyRefused`` naming the problem."""
    if not raw.strip():
        raise BodyRefused("The body is empty: send a JSON document.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyRefused(
            f"The body is not UTF-8 text: byte {exc.start} cannot be decoded."
        ) from exc
    try:
        document = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_float,
            parse_int=_int,
            object_pairs_hook=_object,
        )
    except RecursionError as exc:
        raise BodyRefused(too_deep_message()) from exc
    except ValueError as exc:
        raise BodyRefused(f"The body is not valid JSON: {exc}.") from exc
    document_check(document)
    return document


def json_body_read(stream: Any, *, content_length: str | None, cap: int) -> Any:
    """Read at most ``cap`` bytes from ``stream`` and parse them with ``json_body_parse``;
    ``BodyTooLarge`` when the declared or actual length is over ``cap``."""
    declared_length_check(content_length, cap=cap)
    raw = stream.read(cap + 1) if stream is not None else b""
    if len(raw) > cap:
        raise BodyTooLarge(too_large_message(cap))
    return json_body_parse(raw)
