"""Every error of the API and the Stripe webhook answers JSON, whatever failed; while a
dependency is down the answer is 503 with Retry-After. Pages keep their HTML error pages.

(The database stopped under a running production server: tests/test_database_down.py.)
"""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def anonymous():
    """A client that gets the answer a visitor gets when a view raises (DEBUG is off)."""
    return Client(raise_request_exception=False)


def test_an_unknown_api_url_answers_json_404(anonymous):
    response = anonymous.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found: nothing answers /api/v1/no-such-thing."}


def test_the_webhook_answers_json_405_to_a_get(anonymous):
    response = anonymous.get("/billing/stripe/webhook/")

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json() == {"error": "Method GET not allowed here; allowed: POST."}


def test_an_unknown_host_gets_json_400_from_the_api_and_the_html_page_elsewhere(anonymous):
    api = anonymous.get("/api/v1/workspace", HTTP_HOST="203.0.113.9")
    page = anonymous.get("/login/", HTTP_HOST="203.0.113.9")

    assert api.status_code == 400
    assert api.json() == {"detail": "Bad Request."}
    assert page.status_code == 400
    assert page["Content-Type"].startswith("text/html")


@pytest.mark.urls("tests.error_urls")
def test_a_failing_api_view_answers_json_500_not_the_html_page(anonymous):
    response = anonymous.get("/api/v1/test/bug")

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Server error: the request failed; it has been logged."}
    assert "Retry-After" not in response


@pytest.mark.urls("tests.error_urls")
def test_redis_unreachable_in_an_api_view_answers_json_503_with_retry_after(anonymous):
    response = anonymous.get("/api/v1/test/redis-down")

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response.json() == {
        "detail": "Service unavailable: Handoff cannot reach Redis for a moment. "
        "Retry after 30 seconds."
    }


@pytest.mark.urls("tests.error_urls")
def test_a_page_keeps_its_html_error_pages_and_says_503_while_a_dependency_is_down(anonymous):
    bug = anonymous.get("/test/bug")
    down = anonymous.get("/test/redis-down")

    assert bug.status_code == 500
    assert "Server Error (500)" in bug.text
    assert down.status_code == 503
    assert down["Retry-After"] == "30"
    assert down["Content-Type"].startswith("text/html")
    assert "Handoff cannot reach Redis for a moment" in down.text
