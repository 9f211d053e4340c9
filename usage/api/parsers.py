"""The one JSON parser of the API: every way a body can be unreadable is a 4xx naming the
problem, before any view code runs (accounts/json_body.py holds the rules).

DRF's own JSONParser lets a deeply nested document raise ``RecursionError`` (a 500), reads
any size, and accepts ``NaN``, NUL characters and unpaired surrogates, which PostgreSQL then
refuses to store (another 500). This parser refuses all of them: a body over
``HANDOFF_API_MAX_BODY_BYTES`` is a 413, any other unreadable body ``BatchInvalid`` (400).
"""

from typing import Any

from django.conf import settings
from rest_framework.parsers import BaseParser

from accounts.json_body import MAX_DEPTH, BodyRefused, BodyTooLarge, json_body_read
from usage.ingestion import BatchInvalid, batch_error

__all__ = ["MAX_DEPTH", "IngestionJSONParser"]


class IngestionJSONParser(BaseParser):
    """``application/json`` in UTF-8, at most ``HANDOFF_API_MAX_BODY_BYTES``, nested at most
    ``MAX_DEPTH`` levels; over the cap is ``BodyTooLarge`` (413), anything else unreadable
    ``BatchInvalid`` (400), and nothing is stored."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        try:
            return json_body_read(
                stream,
                content_length=parser_context["request"].META.get("CONTENT_LENGTH"),
                cap=settings.HANDOFF_API_MAX_BODY_BYTES,
            )
        except BodyTooLarge:
            raise
        except BodyRefused as error:
            raise BatchInvalid([batch_error(None, "body", error.message)]) from None
