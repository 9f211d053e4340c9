"""Settings read from the environment: the embedded default, the suite's services, production.

Settings are read once per process, so each environment is tried in a fresh ``manage.py``
process (about a second each: keep these few).
"""

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from config.celery_app import app as celery_app

BASE_DIR = Path(__file__).resolve().parent.parent
MARKER = "HANDOFF-SETTINGS "

# Every variable that changes what these tests look at; each test starts without them.
SETTINGS_VARIABLES = frozenset(
    {
        "DJANGO_SETTINGS_MODULE",
        "DEBUG",
        "SECRET_KEY",
        "ALLOWED_HOSTS",
        "CSRF_TRUSTED_ORIGINS",
        "DATABASE_URL",
        "REDIS_URL",
        "CELERY_TASK_ALWAYS_EAGER",
        "EMAIL_URL",
        "CONN_MAX_AGE",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD",
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "HANDOFF_DEMO_BILLING",
        "HANDOFF_SITE_URL",
    }
)

# The development values of secrets, published in config/settings.py and the README.
PUBLISHED_SECRETS = {
    "SECRET_KEY": "django-insecure-handoff-embedded-default-do-not-use-in-production",
    "STRIPE_WEBHOOK_SECRET": "whsec_handoff_local_development_only",
}

# Prints the settings under test as one marker-prefixed JSON line, without touching the database.
PRINT_SETTINGS = f"""
import json
from django.conf import settings
from django.db import connection
print({MARKER!r} + json.dumps({{
    "DEBUG": settings.DEBUG,
    "DATABASE_ENGINE": settings.DATABASES["default"]["ENGINE"],
    "DATABASE_NAME": str(settings.DATABASES["default"]["NAME"]),
    "CACHE_BACKEND": settings.CACHES["default"]["BACKEND"],
    "CELERY_TASK_ALWAYS_EAGER": settings.CELERY_TASK_ALWAYS_EAGER,
    "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    "MAIL_BACKEND": settings.MAILERS["default"]["BACKEND"],
    "database_connected": connection.connection is not None,
}}))
"""


def environment(**variables: str) -> dict[str, str]:
    """The current environment without any SETTINGS_VARIABLES, plus ``variables``."""
    dotenv = BASE_DIR / ".env"
    if dotenv.exists():
        names = set(re.findall(r"^\s*(?:export\s+)?(\w+)\s*=", dotenv.read_text(), re.MULTILINE))
        if unset := (names & SETTINGS_VARIABLES) - variables.keys():
            pytest.skip(f"{dotenv} sets {', '.join(sorted(unset))}, which this test needs unset")
    env = {key: value for key, value in os.environ.items() if key not in SETTINGS_VARIABLES}
    return env | variables


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def settings_in(env: dict[str, str]) -> dict:
    result = manage("shell", "--no-imports", "-c", PRINT_SETTINGS, env=env)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith(MARKER)]
    assert len(lines) == 1, result.stdout + result.stderr
    return json.loads(lines[0].removeprefix(MARKER))


def sqlite_file_state() -> tuple[int, int] | None:
    database = BASE_DIR / "db.sqlite3"
    if not database.exists():
        return None
    stat = database.stat()
    return stat.st_mtime_ns, stat.st_size


def production(**variables: str) -> dict[str, str]:
    """The production environment the README documents, without a Stripe key, plus
    ``variables``."""
    documented = {
        "DEBUG": "False",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": "handoff.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://handoff.example.com",
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "REDIS_URL": os.environ["REDIS_URL"],
        # Production needs a real mailer: Django's deploy checks reject the console backend.
        "EMAIL_URL": "smtp+tls://handoff:secret@smtp.example.com:587",
        "STRIPE_WEBHOOK_SECRET": f"whsec_{secrets.token_urlsafe(32)}",
        "HANDOFF_SITE_URL": "https://handoff.example.com",
    }
    return environment(**(documented | variables))


def test_documented_production_environment_passes_deploy_checks_without_warnings():
    secret_key = secrets.token_urlsafe(48)
    assert len(secret_key) == 64
    # Production takes payments through Stripe (without a key billing has no gateway).
    env = production(SECRET_KEY=secret_key, STRIPE_SECRET_KEY=f"sk_live_{secrets.token_hex(24)}")
    del env["DEBUG"]  # unset is production

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output, output
    assert "WARNINGS" not in output, output


def test_the_readme_s_first_hsts_max_age_passes_deploy_checks_and_zero_warns():
    readme = (BASE_DIR / "README.md").read_text()
    advised = re.search(r"start with `SECURE_HSTS_SECONDS=(\d+)`", readme)
    assert advised, "the README advises a first HSTS max-age"
    assert int(advised.group(1)) > 0
    stripe = f"sk_live_{secrets.token_hex(24)}"

    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env=production(SECURE_HSTS_SECONDS=advised.group(1), STRIPE_SECRET_KEY=stripe),
    )
    zero = manage(
        "check", "--deploy", env=production(SECURE_HSTS_SECONDS="0", STRIPE_SECRET_KEY=stripe)
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNINGS" not in output, output
    # What the README says of 0.
    assert "security.W004" in zero.stdout + zero.stderr
    assert "warns at `0` (`security.W004`)" in readme


def test_production_without_a_stripe_key_warns_that_billing_has_no_gateway():
    result = manage("check", "--deploy", env=production())

    output = result.stdout + result.stderr
    assert result.returncode == 0, output  # a warning: the site may run without billing
    assert "billing.W001" in output, output
    assert "Billing has no gateway" in output
    assert "STRIPE_SECRET_KEY" in output
    assert "HANDOFF_DEMO_BILLING=True" in output


def test_production_with_demo_billing_has_a_gateway_and_no_billing_warning():
    result = manage("check", "--deploy", env=production(HANDOFF_DEMO_BILLING="True"))

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "billing.W001" not in output, output


@pytest.mark.parametrize("debug", [None, "False"], ids=["DEBUG unset", "DEBUG=False"])
def test_production_without_secret_key_refuses_to_start(debug):
    # DEBUG unset is production: a deployment that forgets it never runs in debug mode.
    result = manage("check", env=environment(**({"DEBUG": debug} if debug else {})))

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert "needs a long random SECRET_KEY" in result.stderr
    # ... and says how a developer gets development mode instead.
    assert "DEBUG=True in a .env file" in result.stderr
    assert "`make run`" in result.stderr


@pytest.mark.parametrize("debug", [None, "False"], ids=["DEBUG unset", "DEBUG=False"])
@pytest.mark.parametrize("name", sorted(PUBLISHED_SECRETS))
def test_production_refuses_to_start_with_a_published_development_secret(name, debug):
    env = production(**{name: PUBLISHED_SECRETS[name]})
    if debug is None:
        del env["DEBUG"]

    result = manage("check", env=env)

    assert result.returncode != 0, result.stdout
    assert f"{name} is the published development value" in result.stderr
    assert "production (DEBUG off) refuses it" in result.stderr


def test_development_mode_accepts_the_published_development_secrets():
    result = manage("check", env=environment(DEBUG="True", **PUBLISHED_SECRETS))

    assert result.returncode == 0, result.stderr


def test_production_without_a_site_url_refuses_to_start():
    # Links in invitations are built by the worker from its own environment: a default of
    # 127.0.0.1 would send every invitee to their own machine.
    env = production()
    del env["HANDOFF_SITE_URL"]

    result = manage("check", env=env)

    assert result.returncode != 0
    assert "HANDOFF_SITE_URL is not set" in result.stderr
    assert "HANDOFF_SITE_URL=https://handoff.example.com" in result.stderr
    assert "every process" in result.stderr


def test_a_site_url_that_is_not_an_http_url_is_refused():
    result = manage("check", env=production(HANDOFF_SITE_URL="handoff.example.com"))

    assert result.returncode != 0
    assert "HANDOFF_SITE_URL is not an http(s) URL: 'handoff.example.com'" in result.stderr


@pytest.mark.parametrize("demo_billing", ["False", "True"])
def test_production_without_a_webhook_secret_refuses_to_start(demo_billing):
    # The development secret is published in the README: it must never guard production,
    # not even a demo installation's offline gateway.
    env = production(HANDOFF_DEMO_BILLING=demo_billing)
    del env["STRIPE_WEBHOOK_SECRET"]

    result = manage("check", env=env)

    assert result.returncode != 0
    assert "STRIPE_WEBHOOK_SECRET is not set" in result.stderr
    assert "HANDOFF_DEMO_BILLING=True" in result.stderr  # what the offline gateway needs


def test_embedded_default_is_sqlite_eager_celery_local_memory_cache_and_console_email():
    sqlite_before = sqlite_file_state()

    # Development mode, as `make run` and a .env with DEBUG=True turn it on.
    settings = settings_in(environment(DEBUG="True"))

    assert settings["DEBUG"] is True
    assert settings["DATABASE_ENGINE"] == "django.db.backends.sqlite3"
    assert Path(settings["DATABASE_NAME"]) == BASE_DIR / "db.sqlite3"
    assert settings["CELERY_TASK_ALWAYS_EAGER"] is True
    assert settings["CACHE_BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"
    assert settings["MAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"
    # Reading settings neither connected to nor created the developer's SQLite file.
    assert settings["database_connected"] is False
    assert sqlite_file_state() == sqlite_before


def test_database_and_redis_urls_switch_to_postgresql_redis_cache_and_a_celery_broker():
    redis_url = os.environ["REDIS_URL"]

    settings = settings_in(
        environment(DEBUG="True", DATABASE_URL=os.environ["DATABASE_URL"], REDIS_URL=redis_url)
    )

    assert settings["DATABASE_ENGINE"] == "django.db.backends.postgresql"
    assert settings["CACHE_BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert settings["CELERY_TASK_ALWAYS_EAGER"] is False
    assert settings["CELERY_BROKER_URL"] == redis_url


def test_celery_speaks_json_only_and_limits_task_time():
    conf = celery_app.conf

    assert conf.task_serializer == "json"
    assert conf.result_serializer == "json"
    assert list(conf.accept_content) == ["json"]
    assert 0 < conf.task_soft_time_limit < conf.task_time_limit


QUEUE_A_TASK = f"""
from config.celery_app import app

@app.task(name="handoff.config_test.ping")
def ping():
    return "pong"

print({MARKER!r} + ping.delay().get())
"""


def test_the_embedded_default_runs_a_task_eagerly_without_a_broker_warning():
    # kombu warned "No hostname was supplied" for the bare "memory://" broker URL, as if a
    # broker were missing; eager tasks never need one.
    result = manage("shell", "--no-imports", "-c", QUEUE_A_TASK, env=environment(DEBUG="True"))

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"{MARKER}pong" in result.stdout
    assert "WARNING" not in output, output


WORKER_TASKS = f"""
import sys

from config.celery_app import app

app.autodiscover_tasks(force=True)  # import every app's tasks module, as a worker does
assert "billing.urls" not in sys.modules  # not registered by way of some page's import
print({MARKER!r} + " ".join(sorted(app.tasks)))
"""


def test_a_worker_registers_the_offline_gateways_webhook_delivery_task():
    # The task lives in billing.stripe.local.delivery, beside the gateway that emits the
    # events; the apps' tasks modules register it, under the name queued messages carry.
    result = manage("shell", "--no-imports", "-c", WORKER_TASKS, env=environment(DEBUG="True"))

    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith(MARKER)]
    registered = lines[0].removeprefix(MARKER).split()
    assert "billing.tasks_local.local_event_deliver" in registered
    assert "billing.tasks.stripe_event_process" in registered
