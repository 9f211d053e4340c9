"""Production answers with HSTS, secure cookies and a content security policy that allows no
inline script; no template holds one (pages load their scripts from static/js/).

Production settings are read once per process: the pages are fetched by ``manage.py shell``
in a fresh process with the documented production environment (tests/test_config.py).
"""

import json
import re
from pathlib import Path

from tests.test_config import BASE_DIR, MARKER, manage, production

FETCH = f"""
import json, re
from django.test import Client
client = Client(HTTP_HOST="handoff.example.com")
answers = {{}}
for path in ["/login/", "/signup/", "/api/docs/", "/api/docs/?script="]:
    response = client.get(path, secure=True)
    answers[path] = {{
        "status": response.status_code,
        "csp": response.headers.get("Content-Security-Policy", ""),
        "csp_report_only": response.headers.get("Content-Security-Policy-Report-Only", ""),
        "hsts": response.headers.get("Strict-Transport-Security", ""),
        "content_type": response.headers.get("Content-Type", ""),
        "inline_scripts": len(re.findall(r"<script(?![^>]*\\bsrc=)[^>]*>", response.text)),
        "cookies": {{
            name: {{"secure": bool(morsel["secure"]), "samesite": morsel["samesite"]}}
            for name, morsel in response.cookies.items()
        }},
    }}
print({MARKER!r} + json.dumps(answers))
"""


def test_production_pages_carry_hsts_secure_cookies_and_a_policy_without_inline_script(
    tmp_path,
):
    env = production(STATIC_ROOT=str(tmp_path), HANDOFF_DEMO_BILLING="True")
    collected = manage("collectstatic", "--noinput", env=env)
    assert collected.returncode == 0, collected.stderr

    result = manage("shell", "--no-imports", "-c", FETCH, env=env)

    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith(MARKER)]
    answers = json.loads(line.removeprefix(MARKER))
    for path, answer in answers.items():
        assert answer["status"] == 200, (path, answer)
        policy = {
            directive.split()[0]: directive.split()[1:] for directive in answer["csp"].split("; ")
        }
        assert policy["script-src"] == ["'self'"], (path, answer["csp"])
        assert policy["default-src"] == ["'self'"]
        assert policy["object-src"] == ["'none'"]
        assert policy["frame-ancestors"] == ["'none'"]
        assert answer["csp_report_only"] == ""
        assert answer["hsts"] == "max-age=31536000; includeSubDomains; preload"
        assert answer["inline_scripts"] == 0, path
    assert answers["/api/docs/?script="]["content_type"].startswith("application/javascript")
    assert answers["/login/"]["cookies"]["csrftoken"] == {"secure": True, "samesite": "Lax"}


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/(?:ld\+)?json)[^>]*>")
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=\s*[\"']|javascript:", re.IGNORECASE)


def _templates() -> list[Path]:
    return sorted(
        path
        for path in BASE_DIR.rglob("templates/**/*.html")
        if not {".venv", "node_modules", "staticfiles"} & set(path.parts)
    )


def test_no_template_has_an_inline_script_or_event_handler():
    templates = _templates()
    assert len(templates) > 50

    offenders = {
        str(path.relative_to(BASE_DIR)): found
        for path in templates
        if (
            found := INLINE_SCRIPT.findall(path.read_text())
            + INLINE_HANDLER.findall(path.read_text())
        )
    }

    assert offenders == {}
