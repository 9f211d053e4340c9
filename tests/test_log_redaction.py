"""Secrets never reach a log line: the redacting filter on every handler, checked on the
records the project really writes, and the end-of-session search of the suite's logs."""

import json
import logging
import sys
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import Role
from config.celery_app import _json_log_lines
from config.log_redaction import RedactSecrets, redact
from tests import log_secrets
from tests.test_config import BASE_DIR


def _session_log_text() -> str:
    (handler,) = [h for h in logging.getLogger().handlers if h.get_name() == "session_file"]
    handler.flush()
    return open(handler.baseFilename).read()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key hk_a1b2c3d4_Zx9-Qw_er7TyUi0 refused", "key hk_a1b2c3d4_[redacted] refused"),
        ("secret whsec_AbC123xyz/+= sent", "secret whsec_[redacted] sent"),
        ("Authorization: Bearer hk_ab_cdefgh", "Authorization: Bearer [redacted]"),
        ("Bad Request: /invitations/Q2xh-c3_Zw/", "Bad Request: /invitations/[redacted]/"),
        ("GET /reset/MQ/cz8k1x-2f0e6b1c9d/ 200", "GET /reset/[redacted]/ 200"),
        ("stripe key sk_live_4eC39HqLyjWDarjtT1", "stripe key sk_live_[redacted]"),
        ("GET /w/northwind/members/ 200", "GET /w/northwind/members/ 200"),
    ],
)
def test_redact_replaces_each_kind_of_secret_and_leaves_the_rest(text, expected):
    assert redact(text) == expected


def test_the_filter_redacts_arguments_and_tracebacks():
    try:
        raise ValueError("bad key hk_abcd_0123456789abcdef")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "called with %s", ("whsec_abcdefghijkl",), None
        )
        record.exc_info = sys.exc_info()
    RedactSecrets().filter(record)

    assert record.getMessage() == "called with whsec_[redacted]"
    assert "hk_abcd_[redacted]" in record.exc_text
    assert "0123456789abcdef" not in record.exc_text


@pytest.mark.django_db
def test_a_refused_invitation_link_is_logged_without_its_token(client, workspace):
    _, token = services.invitation_create(
        workspace=workspace,
        email="late@northwind.io",
        role=Role.MEMBER,
        actor=workspace.created_by,
        now=timezone.now() - timedelta(days=30),
    )

    response = client.get(f"/invitations/{token}/")

    assert response.status_code == 409  # expired: logged as a refused request, with its path
    logged = _session_log_text()
    assert "/invitations/[redacted]/" in logged
    assert token not in logged


@pytest.mark.django_db
def test_a_wrong_api_key_is_logged_without_its_secret(client, workspace):
    client.get("/api/v1/workspace", HTTP_AUTHORIZATION="Bearer hk_zz99_thisisnotakey1234")
    logging.getLogger("handoff.test").warning("client sent Bearer hk_zz99_thisisnotakey1234")

    logged = _session_log_text()
    assert "thisisnotakey1234" not in logged
    assert "Bearer [redacted]" in logged


def test_every_configured_handler_redacts(settings):
    handlers = settings.LOGGING["handlers"]
    assert all("redact_secrets" in handler.get("filters", []) for handler in handlers.values())
    gunicorn = json.loads((BASE_DIR / "config" / "gunicorn_logging.json").read_text())
    assert all("redact_secrets" in h.get("filters", []) for h in gunicorn["handlers"].values())


def test_celery_worker_handlers_get_the_filter():
    handler = logging.StreamHandler()
    _json_log_lines(SimpleNamespace(handlers=[handler]))

    assert any(isinstance(f, RedactSecrets) for f in handler.filters)


def test_the_end_of_session_search_finds_a_leaked_secret(tmp_path):
    (tmp_path / "gw0-1.log").write_text(
        "INFO fine line\nWARNING Bad Request: /invitations/s3cr3t-t0ken-abcdefghij/\n"
    )
    (tmp_path / "gw1-2.log").write_text("DEBUG sent hk_ab12_cdefghijklmnop\nDEBUG x leaked\n")
    (tmp_path / "secrets-gw1-2.txt").write_text("leaked\n")

    logs, known, findings = log_secrets.secrets_in_logs(tmp_path)

    assert (logs, known) == (2, 1)
    assert len(findings) == 3
    assert any("invitation link token" in f for f in findings)
    assert any("workspace API key" in f for f in findings)
    assert any("e-mailed" in f and "gw1-2.log:2" in f for f in findings)
