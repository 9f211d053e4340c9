"""Seat limits hold under concurrency: real threads against PostgreSQL."""

import threading

import pytest
from django.db import connection

from accounts import services
from accounts.models import Invitation, Membership
from billing import services as billing_services
from billing.limits import LimitExceeded
from tests.factories import UserFactory, WorkspaceFactory
from usage.models import ProductEvent

INVITEES = 50
FREE_SEATS = 5


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_fifty_concurrent_acceptances_with_five_free_seats_leave_exactly_five_new_members():
    owner = UserFactory(email="owner@race.io")
    workspace = WorkspaceFactory(name="Race", created_by=owner)
    # Invitations sent while a trial override gave unlimited seats …
    trial = billing_services.override_grant(
        workspace=workspace, actor=owner, reason="trial", metric="seats", limit=None
    )
    invitations = []
    for n in range(INVITEES):
        user = UserFactory(email=f"invitee{n}@race.io")
        _, token = services.invitation_create(workspace=workspace, email=user.email, actor=owner)
        invitations.append((user, token))
    # … then the trial ended: the owner plus five free seats.
    billing_services.override_revoke(override=trial, actor=owner)
    billing_services.override_grant(
        workspace=workspace, actor=owner, reason="deal", metric="seats", limit=1 + FREE_SEATS
    )

    barrier = threading.Barrier(INVITEES)
    outcomes: list[str] = []
    lock = threading.Lock()

    def accept(user, token: str) -> None:
        try:
            barrier.wait()
            services.invitation_accept(token=token, user=user)
            result = "joined"
        except LimitExceeded:
            result = "refused"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=accept, args=pair) for pair in invitations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes.count("joined") == FREE_SEATS
    assert outcomes.count("refused") == INVITEES - FREE_SEATS
    assert Membership.objects.filter(workspace=workspace).count() == 1 + FREE_SEATS
    assert Invitation.objects.filter(accepted_at__isnull=False).count() == FREE_SEATS
    assert ProductEvent.objects.filter(name="paywall_hit").count() == INVITEES - FREE_SEATS
