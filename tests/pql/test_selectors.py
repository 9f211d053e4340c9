"""How a score moved ("+18 since last week"), its history and its reasons in words."""

from datetime import UTC, date, datetime, timedelta

import pytest

from pql.models import Score
from pql.scoring import Component, ScoreResult
from pql.selectors import score_history, scores_with_trend, top_reasons, trend_words
from pql.services import scores_upsert, scoring_model_published, scoring_run_start
from tests.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
USAGE = Component("usage_share", "engagement", 92, 20, "uses 92% of 10,000 API calls")
PEOPLE = Component("active_people_7d", "engagement", 5, 15, "5 active people in the last 7 days")
DOMAIN = Component("company_domain", "fit", "company", 35, "company e-mail domain acme.io")
NOTHING = Component("invitations_30d", "engagement", 0, 0, "sent 0 invitations in the last 30 days")


def _score(workspace_id: int, engagement: int, at: datetime, *components: Component) -> None:
    run = scoring_run_start(model=scoring_model_published(), now=at, chunk_count=1)
    result = ScoreResult(40, engagement, False, "none", components)
    scores_upsert(results={workspace_id: result}, run=run, now=at)


def test_the_trend_compares_with_the_snapshot_a_week_before():
    rising = WorkspaceFactory(name="Rising").pk
    new = WorkspaceFactory(name="New").pk
    _score(rising, 40, NOW - timedelta(days=8))
    _score(rising, 52, NOW - timedelta(days=7))
    _score(rising, 60, NOW - timedelta(days=3))
    _score(rising, 70, NOW)
    _score(new, 30, NOW - timedelta(days=2))

    scores = {s.workspace_id: s for s in scores_with_trend()}

    assert scores[rising].engagement_before == 52  # the latest a week or more before
    assert trend_words(scores[rising].engagement, scores[rising].engagement_before) == (
        "+18 since last week"
    )
    assert scores[new].engagement_before is None
    assert trend_words(scores[new].engagement, None) == "new"


def test_trend_words_say_a_fall_and_no_change():
    assert trend_words(40, 55) == "-15 since last week"
    assert trend_words(40, 40) == "no change since last week"
    assert trend_words(40, 30, days=30) == "+10 in 30 days"


def test_the_history_is_the_days_in_order_within_the_window():
    workspace = WorkspaceFactory(name="Northwind").pk
    for days_ago, engagement in ((100, 10), (9, 20), (1, 30), (0, 35)):
        _score(workspace, engagement, NOW - timedelta(days=days_ago))

    history = score_history(workspace_id=workspace, days=90, now=NOW)

    assert [(p.day, p.engagement) for p in history] == [
        (date(2025, 3, 1), 20),
        (date(2025, 3, 9), 30),
        (date(2025, 3, 10), 35),
    ]


def test_top_reasons_are_the_components_that_earned_most_in_words():
    workspace = WorkspaceFactory(name="Northwind").pk
    _score(workspace, 70, NOW, NOTHING, USAGE, DOMAIN, PEOPLE)

    reasons = top_reasons(Score.objects.get(workspace_id=workspace))

    assert reasons == [
        "company e-mail domain acme.io",
        "uses 92% of 10,000 API calls",
        "5 active people in the last 7 days",
    ]
