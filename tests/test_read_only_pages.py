"""Pages that only show something answer 405 to a POST (and to any other unsafe method), for
everyone, before looking at who asks; HEAD works as GET does."""

import pytest
from django.urls import reverse

from tests.factories import on_plan

pytestmark = pytest.mark.django_db

WORKSPACE_PAGES = [
    "workspace_onboarding",
    "workspace_members",
    "workspace_api_keys",
    "workspace_projects",
    "workspace_audit_log",
    "workspace_plan",
    "workspace_usage",
]


@pytest.mark.parametrize("name", WORKSPACE_PAGES)
def test_a_workspace_page_that_only_shows_answers_405_to_a_post(owner_client, workspace, name):
    on_plan(workspace, "business")
    url = reverse(name, kwargs={"workspace_slug": workspace.slug})

    assert owner_client.get(url).status_code == 200
    assert owner_client.head(url).status_code == 200
    for method in ("post", "put", "patch", "delete"):
        response = getattr(owner_client, method)(url, {"name": "x"})
        assert response.status_code == 405, method
        assert set(response["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}


@pytest.mark.parametrize("path", ["/", "/pricing/", "/healthz"])
def test_the_home_page_pricing_and_the_health_check_answer_405_to_a_post(owner_client, path):
    assert owner_client.get(path).status_code in (200, 302)

    response = owner_client.post(path)

    assert response.status_code == 405


def test_the_backtest_of_a_scoring_model_answers_405_to_a_post(client):
    from pql.services import scoring_model_published
    from tests.pql.conftest import staff

    client.force_login(staff("root@handoff.test", superuser=True))
    url = reverse("admin:pql_scoringmodel_backtest", args=[scoring_model_published().pk])

    assert client.post(url).status_code == 405
