"""A logging filter that keeps secrets out of every log line.

Workspace API keys (``hk_<prefix>_<secret>``: the prefix stays, it names the key), webhook
signing secrets (``whsec_…``), Stripe secret keys, bearer credentials, and the tokens in
invitation and password-reset links (request paths are logged on every 4xx) are replaced
by ``[redacted]`` before any handler writes the record. Installed on every handler of the
project's LOGGING and of gunicorn's (config/gunicorn_logging.json).
"""

import logging
import re

REDACTED = "[redacted]"

PATTERNS = [
    (re.compile(r"\b(hk_[A-Za-z0-9]+_)[A-Za-z0-9_-]+"), rf"\g<1>{REDACTED}"),
    (re.compile(r"\bwhsec_[A-Za-z0-9_+/=-]+"), f"whsec_{REDACTED}"),
    (re.compile(r"\b((?:sk|rk)_(?:live|test)_)[A-Za-z0-9]+"), rf"\g<1>{REDACTED}"),
    (re.compile(r"\b(Bearer\s+)[^\s\"',;]+", re.IGNORECASE), rf"\g<1>{REDACTED}"),
    (re.compile(r"(/invitations/)[^/\s\"'?#]+"), rf"\g<1>{REDACTED}"),
    (re.compile(r"(/reset/)[^/\s\"'?#]+/[^/\s\"'?#]+"), rf"\g<1>{REDACTED}"),
]


def redact(text: str) -> str:
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites the record's message (and its exception text) with every secret redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
