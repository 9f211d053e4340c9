"""Billing admins edit scoring models in the admin (an edit of a published version saves a
new draft version); sales reps view them; scores and leads are read-only lists."""

import json

import pytest
from django.contrib.auth.models import Group

from accounts.roles import BILLING_ADMINS, SALES
from pql.models import ScoringModel
from pql.services import scoring_model_new_version, scoring_model_published
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

MODELS = "/admin/pql/scoringmodel/"
RULE_FIELDS = [
    "name",
    "engagement_min",
    "fit_min",
    "daily_activity_cap",
    "decay_after_days",
    "decay_half_life_days",
    "expire_below_days",
    "expire_inactive_days",
]


def _staff(client, group):
    user = UserFactory(email=f"{group.split()[0].lower()}@handoff.test", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    return user


def _form(model: ScoringModel, *, signal_changes=None, **changes) -> dict:
    """The change form of ``model`` as the browser posts it, with ``changes``."""
    data = {field: getattr(model, field) or "" for field in RULE_FIELDS}
    signals = list(model.signals.order_by("id"))
    data |= {
        "signals-TOTAL_FORMS": len(signals),
        "signals-INITIAL_FORMS": len(signals),
        "signals-MIN_NUM_FORMS": 0,
        "signals-MAX_NUM_FORMS": 1000,
    }
    for i, signal in enumerate(signals):
        row = {
            "id": signal.pk,
            "model": model.pk,
            "key": signal.key,
            "weight": "" if signal.weight is None else str(signal.weight),
            "max_points": "" if signal.max_points is None else signal.max_points,
            "bands": "" if signal.bands is None else json.dumps(signal.bands),
        }
        row |= (signal_changes or {}).get(signal.key, {})
        data |= {f"signals-{i}-{name}": value for name, value in row.items()}
    return data | changes


def _signals(model: ScoringModel) -> dict:
    return {s.key: (s.weight, s.max_points, s.bands) for s in model.signals.all()}


def test_saving_a_published_version_makes_a_new_draft_and_leaves_it_unchanged(client):
    admin = _staff(client, BILLING_ADMINS)
    published = scoring_model_published()
    before = _signals(published)

    response = client.post(
        f"{MODELS}{published.pk}/change/",
        _form(
            published,
            engagement_min=50,
            signal_changes={"active_people_7d": {"weight": "4", "max_points": 20}},
        ),
    )

    assert response.status_code == 302
    draft = ScoringModel.objects.get(version=2)
    assert (draft.status, draft.engagement_min, draft.fit_min) == ("draft", 50, 40)
    assert (draft.created_by, draft.derived_from_id) == (admin, published.pk)
    after = _signals(draft)
    assert after["active_people_7d"][:2] == (4, 20)
    assert {k: v for k, v in after.items() if k != "active_people_7d"} == {
        k: v for k, v in before.items() if k != "active_people_7d"
    }
    published.refresh_from_db()
    assert (published.status, published.engagement_min) == ("published", 60)
    assert _signals(published) == before


def test_a_draft_is_edited_in_place(client):
    _staff(client, BILLING_ADMINS)
    draft = scoring_model_new_version(source=scoring_model_published(), actor=None)

    response = client.post(f"{MODELS}{draft.pk}/change/", _form(draft, fit_min=55))

    assert response.status_code == 302
    assert ScoringModel.objects.count() == 2
    draft.refresh_from_db()
    assert (draft.version, draft.fit_min, draft.status) == (2, 55, "draft")


def test_a_billing_admin_publishes_a_draft_from_the_list(client):
    _staff(client, BILLING_ADMINS)
    first = scoring_model_published()
    draft = scoring_model_new_version(source=first, actor=None)

    response = client.post(MODELS, {"action": "publish", "_selected_action": [draft.pk]})

    assert response.status_code == 302
    assert scoring_model_published().pk == draft.pk
    assert ScoringModel.objects.get(pk=first.pk).status == "retired"


def test_bands_out_of_order_are_refused_naming_the_problem_and_nothing_is_saved(client):
    _staff(client, BILLING_ADMINS)
    published = scoring_model_published()

    response = client.post(
        f"{MODELS}{published.pk}/change/",
        _form(published, signal_changes={"usage_share": {"bands": "[[80, 20], [50, 10]]"}}),
    )

    assert response.status_code == 200
    errors = [
        form.errors
        for formset in response.context["inline_admin_formsets"]
        for form in formset.formset.forms
        if form.errors
    ]
    assert "ascending" in str(errors)
    assert ScoringModel.objects.count() == 1


def test_a_rule_without_any_minimum_is_refused(client):
    _staff(client, BILLING_ADMINS)
    draft = scoring_model_new_version(source=scoring_model_published(), actor=None)

    response = client.post(
        f"{MODELS}{draft.pk}/change/", _form(draft, engagement_min="", fit_min="")
    )

    assert response.status_code == 200
    assert "needs a minimum engagement" in str(response.context["adminform"].form.errors)
    draft.refresh_from_db()
    assert (draft.engagement_min, draft.fit_min) == (60, 40)


def test_sales_view_scoring_models_but_cannot_change_or_publish_them(client):
    _staff(client, SALES)
    published = scoring_model_published()
    draft = scoring_model_new_version(source=published, actor=None)

    assert client.get(MODELS).status_code == 200
    assert client.get(f"{MODELS}{published.pk}/change/").status_code == 200
    response = client.post(f"{MODELS}{published.pk}/change/", _form(published, fit_min=10))
    assert response.status_code == 403
    client.post(MODELS, {"action": "publish", "_selected_action": [draft.pk]})
    assert scoring_model_published().pk == published.pk
    assert ScoringModel.objects.count() == 2


@pytest.mark.parametrize(
    ("group", "url", "status"),
    [
        (SALES, "/admin/pql/lead/", 200),
        (SALES, "/admin/pql/score/", 200),
        (SALES, "/admin/pql/lead/add/", 403),
        (SALES, "/admin/pql/scoringrun/", 403),
        (BILLING_ADMINS, "/admin/pql/score/", 200),
        (BILLING_ADMINS, "/admin/pql/scoringrun/", 200),
        (BILLING_ADMINS, "/admin/pql/lead/", 403),
        (BILLING_ADMINS, "/admin/pql/score/add/", 403),
    ],
)
def test_scores_leads_and_runs_are_read_only_lists_for_the_roles_that_see_them(
    client, group, url, status
):
    _staff(client, group)

    assert client.get(url).status_code == status
