"""Static files: named by their content in production so browsers keep them, and a favicon.

Production settings are read once per process, so that case runs ``manage.py`` in a fresh
process with the documented production environment (see tests/test_config.py)."""

import json
import os
import re
import secrets

from django.templatetags.static import static
from django.urls import reverse

from tests.test_config import MARKER, environment, manage

# Renders a page, then fetches what it links to, through WhiteNoise as production serves it.
FETCH_AS_PRODUCTION = f"""
import json, re
from django.test import Client
client = Client(HTTP_HOST="handoff.example.com")
page = client.get("/login/", secure=True)
css = re.search(r'<link rel="stylesheet" href="([^"]+)"', page.text).group(1)
icon = re.search(r'<link rel="icon" href="([^"]+)"', page.text).group(1)
css_file = client.get(css, secure=True)
favicon = client.get("/favicon.ico", secure=True)
print({MARKER!r} + json.dumps({{
    "page": page.status_code,
    "css": css,
    "icon": icon,
    "css_status": css_file.status_code,
    "css_cache_control": css_file.headers.get("Cache-Control", ""),
    "favicon_status": favicon.status_code,
    "favicon_location": favicon.headers.get("Location", ""),
    "icon_status": client.get(icon, secure=True).status_code,
}}))
"""


def test_production_serves_static_files_under_hashed_names_that_browsers_keep(tmp_path):
    env = environment(
        DEBUG="False",
        SECRET_KEY=secrets.token_urlsafe(48),
        ALLOWED_HOSTS="handoff.example.com",
        DATABASE_URL=os.environ["DATABASE_URL"],
        STRIPE_WEBHOOK_SECRET=f"whsec_{secrets.token_urlsafe(32)}",
        HANDOFF_SITE_URL="https://handoff.example.com",
        STATIC_ROOT=str(tmp_path),
    )
    collected = manage("collectstatic", "--noinput", env=env)
    assert collected.returncode == 0, collected.stderr

    result = manage("shell", "--no-imports", "-c", FETCH_AS_PRODUCTION, env=env)

    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith(MARKER)]
    served = json.loads(line.removeprefix(MARKER))
    assert served["page"] == 200
    assert re.fullmatch(r"/static/css/handoff\.[0-9a-f]{12}\.css", served["css"]), served
    assert re.fullmatch(r"/static/favicon\.[0-9a-f]{12}\.svg", served["icon"]), served
    assert served["css_status"] == 200
    # WhiteNoise marks files named by their hash as cacheable for ten years.
    assert "immutable" in served["css_cache_control"], served
    assert "max-age=315360000" in served["css_cache_control"], served
    assert (served["favicon_status"], served["favicon_location"]) == (302, served["icon"])
    assert served["icon_status"] == 200
    assert (tmp_path / "staticfiles.json").exists()
    assert (tmp_path / served["css"].removeprefix("/static/")).with_suffix(".css.gz").exists()


def test_favicon_ico_redirects_to_the_svg_icon_that_pages_link(client, db):
    response = client.get("/favicon.ico")
    page = client.get(reverse("login"))

    assert response.status_code == 302
    assert response["Location"] == static("favicon.svg")
    assert "max-age=86400" in response["Cache-Control"]
    assert f'<link rel="icon" href="{static("favicon.svg")}" type="image/svg+xml">' in page.text


def test_favicon_refuses_writes(client, db):
    assert client.post("/favicon.ico").status_code == 405
