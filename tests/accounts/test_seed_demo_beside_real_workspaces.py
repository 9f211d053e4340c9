"""``manage.py seed_demo`` on the embedded default's database, where people already signed
up: their workspaces are not demo data, even one named like the demo workspace. The module
seeds once, after two real sign-ups."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts import services
from accounts.models import (
    ApiKey,
    AuditEvent,
    Invitation,
    Membership,
    OnboardingStep,
    Workspace,
)
from tests.seeding import SEED_SETTINGS, demo_seeded
from usage.models import ProductEvent, UsageCounter, UsageDaily, UsageEvent

PASSWORD = "an-unguessable-passphrase-42"
_MODELS = (
    UsageEvent,
    UsageCounter,
    UsageDaily,
    ProductEvent,
    ApiKey,
    Membership,
    Invitation,
    OnboardingStep,
    AuditEvent,
)


def _rows_of(workspace: Workspace) -> dict[str, int]:
    return {m.__name__: m.objects.filter(workspace=workspace).count() for m in _MODELS}


def _real_sign_ups() -> None:
    """Two people signed up and activated their workspaces before the first seeding; one
    named theirs like the demo workspace, at the demo workspace's domain."""
    for email, name in (
        ("ada@lovelace.dev", "Lovelace Labs"),
        ("ceo@acme-analytics.com", "Acme Analytics"),
    ):
        _, workspace = services.user_sign_up(email=email, password=PASSWORD, workspace_name=name)
        services.workspace_activate(workspace_id=workspace.pk, now=timezone.now())


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    with demo_seeded(django_db_blocker, before=_real_sign_ups) as run:
        yield run


pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("seeded")]


def _real(name: str) -> Workspace:
    return Workspace.objects.get(is_demo=False, name=name)


def test_real_workspaces_stay_real_beside_the_three_hundred_and_one_demo_ones():
    assert set(Workspace.objects.filter(is_demo=False).values_list("name", flat=True)) == {
        "Lovelace Labs",
        "Acme Analytics",
    }
    assert Workspace.objects.filter(is_demo=True).count() == 301


def test_a_real_workspace_named_like_the_demo_one_is_left_alone():
    real = _real("Acme Analytics")
    assert real.created_by.email == "ceo@acme-analytics.com"
    assert not UsageEvent.objects.filter(workspace=real).exists()
    demo_acme = Workspace.objects.get(is_demo=True, name="Acme Analytics")
    assert demo_acme.created_by.email == "owner@demo.handoff.test"
    assert demo_acme.slug != real.slug
    assert UsageEvent.objects.filter(workspace=demo_acme).exists()


def test_a_real_users_activated_workspace_gains_nothing_from_seed_demo_run_twice(settings):
    for key, value in SEED_SETTINGS.items():
        setattr(settings, key, value)
    real = _real("Lovelace Labs")
    # The first seeding gave it nothing: one owner, the audit of its sign-up, no usage.
    assert not UsageEvent.objects.filter(workspace=real).exists()
    assert not ProductEvent.objects.filter(workspace=real).exists()
    before = _rows_of(real)

    for _ in range(2):
        call_command("seed_demo", stdout=StringIO())

    real.refresh_from_db()
    assert not real.is_demo
    assert _rows_of(real) == before
