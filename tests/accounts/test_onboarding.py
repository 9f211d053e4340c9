"""The onboarding checklist and activation (time to first value)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import OnboardingStep, Workspace
from tests.factories import UserFactory
from usage.models import ActivationRule
from usage.services import product_events_ingest

pytestmark = pytest.mark.django_db


def _rule(kind: str, value: str) -> None:
    rule = ActivationRule.objects.get(pk=1)
    rule.kind, rule.value = kind, value
    rule.save()


def test_checklist_shows_progress(owner_client, workspace):
    page = owner_client.get(f"/w/{workspace.slug}/")
    assert "0 of 3" in page.text

    services.api_key_create(workspace=workspace, name="k", actor=workspace.created_by)
    services.invitation_create(workspace=workspace, email="a@b.io", actor=workspace.created_by)
    page = owner_client.get(f"/w/{workspace.slug}/")

    assert "2 of 3" in page.text
    assert page.context["checklist"].percent == 67
    done = [item.key for item in page.context["checklist"].items if item.completed_at]
    assert sorted(done) == ["create_api_key", "invite_teammate"]


def test_by_default_the_first_usage_event_activates_once(owner):
    signed_up = timezone.now() - timedelta(days=3)
    workspace = services.workspace_create(name="Initech", owner=owner, now=signed_up)
    services.api_key_create(workspace=workspace, name="k", actor=owner)
    assert Workspace.objects.get(pk=workspace.pk).activated_at is None

    first = signed_up + timedelta(hours=5)
    services.onboarding_step_complete(workspace=workspace, step="first_usage_event", now=first)
    services.onboarding_step_complete(
        workspace=workspace, step="first_usage_event", now=first + timedelta(days=1)
    )

    workspace.refresh_from_db()
    assert workspace.activated_at == first
    assert workspace.time_to_value == timedelta(hours=5)


def test_a_billing_admin_can_make_another_step_the_activation(workspace):
    _rule("checklist_step", "invite_teammate")

    services.invitation_create(workspace=workspace, email="a@b.io", actor=workspace.created_by)

    assert Workspace.objects.get(pk=workspace.pk).activated_at is not None


def test_a_product_event_can_be_the_activation(workspace):
    _rule("product_event", "report_exported")
    at = timezone.now() - timedelta(minutes=3)
    event = {"name": "report_exported", "user_email": "", "properties": {}, "occurred_at": at}

    product_events_ingest(
        workspace_id=workspace.pk,
        events=[{**event, "index": 0, "name": "project_opened", "idempotency_key": "a"}],
    )
    assert Workspace.objects.get(pk=workspace.pk).activated_at is None
    product_events_ingest(
        workspace_id=workspace.pk, events=[{**event, "index": 0, "idempotency_key": "b"}]
    )

    assert Workspace.objects.get(pk=workspace.pk).activated_at == at


def test_a_step_other_than_the_activation_step_does_not_activate(workspace):
    services.onboarding_step_complete(workspace=workspace, step="invite_teammate")

    workspace.refresh_from_db()
    assert workspace.activated_at is None


def test_a_step_is_recorded_once_with_its_first_time(workspace):
    first = timezone.now() - timedelta(days=1)

    assert services.onboarding_step_complete(workspace=workspace, step="invite_teammate", now=first)
    assert not services.onboarding_step_complete(workspace=workspace, step="invite_teammate")

    assert OnboardingStep.objects.get(workspace=workspace).completed_at == first


def test_steps_of_one_workspace_do_not_show_in_another(owner_client, workspace):
    other = services.workspace_create(name="Other", owner=UserFactory(email="o@other.io"))
    services.api_key_create(workspace=other, name="k", actor=other.created_by)

    page = owner_client.get(f"/w/{workspace.slug}/")

    assert "0 of 3" in page.text
