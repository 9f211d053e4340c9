"""Secrets must never reach the logs: what the suite's end-of-session check looks for.

tests/settings.py writes every log record of the session (DEBUG level included) through the
production handlers' redacting filter into one file per process. After each test the secrets
it made that can be collected exactly (the tokens of the invitation and password-reset links
it e-mailed) are added to a list beside them; at the end of the session the logs are searched
for those, and for anything shaped like a secret that was not redacted: a workspace API key,
a webhook signing secret, a bearer credential, a link token.
"""

import os
import re
from pathlib import Path

SHAPES = {
    "workspace API key": re.compile(r"\bhk_[A-Za-z0-9]+_[A-Za-z0-9_-]{8,}"),
    "webhook signing secret": re.compile(r"\bwhsec_[A-Za-z0-9_+/=-]{8,}"),
    "bearer credential": re.compile(r"\bBearer\s+(?!\[redacted\])[^\s\"',;]{8,}", re.IGNORECASE),
    "invitation link token": re.compile(r"/invitations/(?!\[redacted\])[^/\s\"'?#]{16,}"),
    "password reset token": re.compile(r"/reset/(?!\[redacted\])[^/\s\"'?#]+/[^/\s\"'?#]{16,}"),
}
LINK_TOKENS = re.compile(r"/(?:invitations|reset/[^/\s]+)/([\w:-]{16,})/")


def log_dir() -> Path:
    return Path(os.environ["HANDOFF_TEST_LOG_DIR"])


def record_sent_secrets(messages: list) -> None:
    """Add the link tokens of these e-mails to this process's list of secrets."""
    tokens = {token for message in messages for token in LINK_TOKENS.findall(message.body)}
    if tokens:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        with (log_dir() / f"secrets-{worker}-{os.getpid()}.txt").open("a") as listing:
            listing.writelines(f"{token}\n" for token in sorted(tokens))


def secrets_in_logs(directory: Path) -> tuple[int, int, list[str]]:
    """(log files read, secrets known, findings) for the session's logs in ``directory``."""
    known = {
        line.strip()
        for listing in directory.glob("secrets-*.txt")
        for line in listing.read_text().splitlines()
        if line.strip()
    }
    logs = sorted(directory.glob("*.log"))
    findings = []
    for log in logs:
        for number, line in enumerate(log.read_text(errors="replace").splitlines(), 1):
            findings += [
                f"{log.name}:{number}: a secret link token the suite e-mailed: {line[:300]}"
                for token in known
                if token in line
            ]
            findings += [
                f"{log.name}:{number}: {name} not redacted: {line[:300]}"
                for name, shape in SHAPES.items()
                if shape.search(line)
            ]
    return len(logs), len(known), findings
