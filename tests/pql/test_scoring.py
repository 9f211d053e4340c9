"""The scoring math on hand-built workspaces: exact points, the words that explain them, the
PQL rule, the lead type and decay for inactivity."""

from dataclasses import replace
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from pql.models import Signal, validate_bands
from pql.scoring import (
    ModelConfig,
    SignalConfig,
    WorkspaceSignals,
    score,
    signal_points,
)
from pql.services import scoring_model_published


def bands(key, *pairs):
    return SignalConfig(key=key, bands=tuple(pairs))


def weight(key, per_unit, most):
    return SignalConfig(key=key, weight=Decimal(per_unit), max_points=most)


MODEL = ModelConfig(
    version=7,
    signals=(
        bands("company_domain", ("company", 35), ("free_mail", 0)),
        bands("team_size", (1, 0), (5, 10), (20, 20)),
        bands("use_case", ("team", 15)),
        bands("signup_source", ("paid", 10), ("direct", 5)),
        bands("region", ("europe", 10)),
        bands("usage_share", (50, 10), (80, 20), (100, 25)),
        bands("seats_share", (67, 5), (100, 10)),
        weight("active_people_7d", "3", 15),
        bands("usage_growth", (25, 5), (100, 10)),
        weight("paywall_people_14d", "4", 10),
        bands("recency", (0, 6), (7, 1)),
    ),
    engagement_min=40,
    fit_min=40,
    decay_after_days=7,
    decay_half_life_days=7,
)

GROWING = WorkspaceSignals(
    workspace_id=1,
    company_domain="Northwind.io",
    team_size=12,
    use_case="team",
    utm_source="google",
    utm_medium="cpc",
    time_zone="Europe/Paris",
    limits={"seats": 3, "projects": 3, "api_calls": 10_000},
    usage={"api_calls": 9_200, "projects": 1},
    metric_names={"api_calls": "API calls"},
    seats_used=3,
    seats_allowed=3,
    active_people_7d=5,
    active_people_prev_7d=2,
    paywall_people_14d=3,
    days_since_last_activity=1,
)


def by_signal(result):
    return {c.signal: (c.raw, c.points, c.text) for c in result.components}


def test_a_growing_free_workspace_scores_each_signal_and_says_why():
    result = score(GROWING, MODEL)

    assert by_signal(result) == {
        "company_domain": ("company", 35, "company e-mail domain northwind.io"),
        "team_size": (12, 10, "a team of 12 or more people"),
        "use_case": ("team", 15, "use case: team"),
        "signup_source": ("paid", 10, "signed up from a paid campaign (google / cpc)"),
        "region": ("europe", 10, "europe (time zone Europe/Paris)"),
        "usage_share": (92, 20, "uses 92% of 10,000 API calls"),
        "seats_share": (100, 10, "3 of 3 seats used"),
        "active_people_7d": (5, 15, "5 active people in the last 7 days"),
        "usage_growth": (150, 10, "5 active people this week, up from 2"),
        "paywall_people_14d": (3, 10, "3 people hit a paywall in the last 14 days"),
        "recency": (1, 6, "last active 1 day ago"),
    }
    assert (result.fit, result.engagement) == (80, 71)
    assert result.is_pql
    assert result.lead_type == "upgrade"


def test_top_reasons_are_the_components_with_most_points_ties_by_signal():
    reasons = score(GROWING, MODEL).top_reasons()

    assert [r["signal"] for r in reasons] == ["company_domain", "usage_share", "active_people_7d"]
    assert reasons[1] == {
        "signal": "usage_share",
        "group": "engagement",
        "raw": 92,
        "points": 20,
        "text": "uses 92% of 10,000 API calls",
    }


def test_inactivity_decays_engagement_and_the_decay_is_a_component():
    idle = replace(GROWING, days_since_last_activity=21)

    result = score(idle, MODEL)

    # 66 points before decay (recency now earns 1); 14 idle days past 7 = two halvings.
    assert by_signal(result)["inactivity_decay"] == (
        21,
        17 - 66,
        "idle 21 days: engagement counts 25%",
    )
    assert result.engagement == 17
    assert result.fit == 80
    assert (result.is_pql, result.lead_type) == (False, "none")
    assert result.idle_days == 21


def test_a_paying_workspace_near_a_limit_is_an_expansion_pql():
    result = score(replace(GROWING, is_paid=True), MODEL)

    assert (result.is_pql, result.lead_type) == (True, "expansion")


def test_a_paying_workspace_with_room_left_is_not_a_lead_whatever_its_scores():
    roomy = replace(
        GROWING,
        is_paid=True,
        limits={"seats": 10, "api_calls": 10_000},
        usage={"api_calls": 100},
        seats_used=1,
        seats_allowed=10,
    )

    result = score(roomy, MODEL)

    assert (result.fit, result.engagement) == (80, 41)  # the rule is met…
    assert (result.is_pql, result.lead_type) == (False, "none")  # …but nothing to expand


def test_a_paying_workspace_at_its_seats_is_an_expansion_pql_with_usage_low():
    seats_full = replace(
        GROWING,
        is_paid=True,
        limits={"seats": 10, "api_calls": 10_000},
        usage={"api_calls": 100},
        seats_used=8,
        seats_allowed=10,
    )

    assert score(seats_full, MODEL).lead_type == "expansion"


def test_the_rule_needs_both_scores_when_both_minimums_are_set():
    free_mail = replace(GROWING, company_domain="gmail.com", team_size=None, use_case=None)

    result = score(free_mail, MODEL)

    assert by_signal(result)["company_domain"] == ("free_mail", 0, "free e-mail domain gmail.com")
    assert by_signal(result)["team_size"] == (None, 0, "team size not given")
    assert result.fit == 20
    assert result.engagement == 71
    assert not result.is_pql


def test_a_rule_on_fit_alone_ignores_engagement():
    fit_only = replace(MODEL, engagement_min=None, fit_min=40)
    quiet = replace(GROWING, active_people_7d=0, active_people_prev_7d=0, usage={})

    result = score(quiet, fit_only)

    assert result.fit == 80
    assert result.is_pql


def test_scoring_is_deterministic_whatever_the_order_of_limits():
    shuffled = replace(
        GROWING,
        limits={"api_calls": 10_000, "projects": 10, "seats": 3},
        usage={"projects": 9, "api_calls": 9_000},
    )
    first = score(shuffled, MODEL)

    assert score(shuffled, MODEL) == first
    # 90% of both: the tie goes to the first metric key, api_calls.
    assert by_signal(first)["usage_share"][2] == "uses 90% of 10,000 API calls"


def test_signup_sources_and_regions_in_words():
    direct = replace(GROWING, utm_source=None, utm_medium=None, time_zone="UTC")
    referred = replace(direct, referrer="news.ycombinator.com")

    assert by_signal(score(direct, MODEL))["signup_source"] == ("direct", 5, "signed up directly")
    assert by_signal(score(direct, MODEL))["region"] == (
        "unknown",
        0,
        "region unknown (time zone UTC)",
    )
    assert by_signal(score(referred, MODEL))["signup_source"] == (
        "referral",
        0,
        "signed up from a link on news.ycombinator.com",
    )


def test_a_weight_rounds_half_up_and_stops_at_its_maximum():
    config = weight("invitations_30d", "2.5", 10)

    assert signal_points(config, "number", 3) == 8  # 7.5
    assert signal_points(config, "number", 9) == 10
    assert signal_points(config, "number", None) == 0


def test_bands_earn_the_points_of_the_highest_threshold_reached():
    config = bands("time_to_first_value", (0, 5), (24, 3), (168, 1))

    assert [signal_points(config, "number", h) for h in (2.5, 24, 100, 500)] == [5, 3, 3, 1]


def test_bands_out_of_order_or_with_bad_points_are_refused_with_the_reason():
    with pytest.raises(ValidationError, match="ascending"):
        validate_bands([[80, 20], [50, 10]], kind="number")
    with pytest.raises(ValidationError, match="from 0 to 100"):
        validate_bands([[50, 150]], kind="number")
    with pytest.raises(ValidationError, match="listed twice"):
        validate_bands([["paid", 1], ["paid", 2]], kind="category")
    assert validate_bands([[0, 5], [24.5, 3]], kind="number") == [[0, 5], [24.5, 3]]


def test_a_signal_has_a_weight_or_bands_and_a_category_needs_bands():
    with pytest.raises(ValidationError, match="one of them"):
        Signal(key="team_size", weight=Decimal(1), max_points=5, bands=[[1, 1]]).clean()
    with pytest.raises(ValidationError, match="is a category"):
        Signal(key="region", weight=Decimal(1), max_points=5).clean()
    signal = Signal(key="region", bands=[["europe", 10]])
    signal.clean()
    assert signal.group == "fit"


@pytest.mark.django_db
def test_the_published_default_model_makes_a_growing_free_workspace_an_upgrade_pql():
    model = scoring_model_published()

    result = score(replace(GROWING, activated=True, hours_to_first_value=3.0), model.config())

    assert model.version == 1
    assert {c.signal for c in result.components} >= {"usage_share", "time_to_first_value"}
    assert result.fit >= 40
    assert result.engagement >= 60
    assert result.lead_type == "upgrade"
