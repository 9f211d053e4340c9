"""What reps and managers do with leads: status moves (the refused ones too), claims (two
reps at once on PostgreSQL), who may assign, release, snooze, log contacts and add notes,
bulk actions all or none, and round robin."""

import threading
from datetime import timedelta

import pytest
from django.db import connections

from accounts.errors import ApplicationError, Conflict, PermissionDenied
from pql.models import Lead, LeadActivity, QueueSettings, SalesRep
from pql.services import (
    NEXT_STATUSES,
    lead_assign,
    lead_claim,
    lead_contact_log,
    lead_note_add,
    lead_release,
    lead_snooze,
    lead_status_change,
    leads_bulk_assign,
    leads_bulk_status,
    round_robin_reps,
)
from tests.pql.conftest import MONDAY, leads_open, staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead(db):
    """A lead opened on a Monday at 9:00 UTC, the start of the default working week."""
    return leads_open(1)[0]


OPEN = ("new", "working", "contacted", "qualified")
ORDER = {status: i for i, status in enumerate(OPEN)}
CLOSING = ("won", "lost", "disqualified")


def _at(lead, status, actor):
    """Put a claimed lead at ``status`` by the allowed moves."""
    Lead.objects.filter(pk=lead.pk).update(status=status)
    lead.refresh_from_db()
    return lead


def _kinds(lead):
    return list(LeadActivity.objects.filter(lead=lead).values_list("kind", flat=True))


# Status moves ----------------------------------------------------------------------------------

FORWARD = [(a, b) for a in OPEN for b in (*OPEN, *CLOSING) if b in NEXT_STATUSES[a]]
BACKWARD = [(a, b) for a in OPEN for b in OPEN if ORDER[b] < ORDER[a]]


def test_the_transition_table_is_forward_only_and_every_open_status_can_close():
    assert all(ORDER[b] > ORDER[a] for a, b in FORWARD if b in OPEN)
    assert all(set(CLOSING) <= set(NEXT_STATUSES[a]) for a in OPEN)
    assert len(FORWARD) == 6 + 5 + 4 + 3


@pytest.mark.parametrize(("before", "after"), FORWARD)
def test_every_forward_move_is_made_and_recorded(lead, rep, before, after):
    lead_claim(lead=lead, actor=rep)
    _at(lead, before, rep)

    moved = lead_status_change(
        lead=lead, status=after, reason="Signed" if after in CLOSING else "", actor=rep, now=MONDAY
    )

    assert moved.status == after
    entry = LeadActivity.objects.filter(lead=lead).order_by("id").last()
    assert (entry.actor, entry.data["before"], entry.data["after"]) == (rep, before, after)
    assert entry.kind == {"won": "won", "lost": "lost"}.get(after, "status_changed")
    if after in CLOSING:
        assert (moved.closed_at, moved.close_reason) == (MONDAY, "Signed")
        assert moved.won_via == ("sales" if after == "won" else "")


@pytest.mark.parametrize(("before", "after"), BACKWARD)
def test_a_backward_move_is_refused_and_nothing_changes(lead, rep, before, after):
    lead_claim(lead=lead, actor=rep)
    _at(lead, before, rep)

    with pytest.raises(Conflict, match=f"cannot go back to {after}") as refused:
        lead_status_change(lead=lead, status=after, actor=rep)

    assert refused.value.field == "status"
    lead.refresh_from_db()
    assert lead.status == before
    assert _kinds(lead) == ["opened", "claimed"]


@pytest.mark.parametrize("closed", [*CLOSING, "expired"])
@pytest.mark.parametrize("to", ["working", "qualified", "won"])
def test_a_closed_lead_does_not_move_again(lead, rep, closed, to):
    lead_claim(lead=lead, actor=rep)
    Lead.objects.filter(pk=lead.pk).update(status=closed, closed_at=MONDAY)

    with pytest.raises(Conflict, match="it is closed"):
        lead_status_change(lead=lead, status=to, reason="again", actor=rep)


@pytest.mark.parametrize("status", CLOSING)
@pytest.mark.parametrize("reason", ["", "   "])
def test_closing_without_a_reason_is_refused(lead, rep, status, reason):
    lead_claim(lead=lead, actor=rep)

    with pytest.raises(ApplicationError, match="Say why") as refused:
        lead_status_change(lead=lead, status=status, reason=reason, actor=rep)

    assert (refused.value.status, refused.value.field) == (400, "reason")
    lead.refresh_from_db()
    assert (lead.status, lead.closed_at) == ("new", None)


def test_an_unknown_status_or_expired_is_refused(lead, rep):
    lead_claim(lead=lead, actor=rep)

    with pytest.raises(ApplicationError, match="is not a lead status") as unknown:
        lead_status_change(lead=lead, status="promoted", actor=rep)
    with pytest.raises(Conflict, match="expires by itself"):
        lead_status_change(lead=lead, status="expired", actor=rep)

    assert (unknown.value.status, unknown.value.field) == (400, "status")
    lead.refresh_from_db()
    assert lead.status == "new"


def test_a_reason_over_255_characters_is_refused(lead, rep):
    lead_claim(lead=lead, actor=rep)

    with pytest.raises(ApplicationError, match="255 characters"):
        lead_status_change(lead=lead, status="lost", reason="x" * 256, actor=rep)


def test_only_the_owner_or_a_manager_moves_a_lead(lead, rep, rep2, manager):
    with pytest.raises(Conflict, match="Claim this lead before you move it"):
        lead_status_change(lead=lead, status="working", actor=rep)
    lead_claim(lead=lead, actor=rep)

    with pytest.raises(PermissionDenied, match=r"rep@handoff\.test owns this lead"):
        lead_status_change(lead=lead, status="working", actor=rep2)
    lead_status_change(lead=lead, status="working", actor=manager)

    lead.refresh_from_db()
    assert lead.status == "working"


# Claims ---------------------------------------------------------------------------------------


def test_a_claimed_lead_tells_the_second_rep_who_has_it(lead, rep, rep2):
    lead_claim(lead=lead, actor=rep)

    with pytest.raises(Conflict, match=r"rep@handoff\.test has already claimed this lead"):
        lead_claim(lead=lead, actor=rep2)
    assert lead_claim(lead=lead, actor=rep).owner == rep  # again: nothing changes
    assert _kinds(lead) == ["opened", "claimed"]


@pytest.mark.parametrize("who", ["billing_admin", "workspace_owner"])
def test_people_who_are_not_reps_cannot_claim(lead, billing_admin, owner, who):
    actor = billing_admin if who == "billing_admin" else owner

    with pytest.raises(PermissionDenied, match="Only sales reps"):
        lead_claim(lead=lead, actor=actor)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_reps_claiming_at_once_end_with_one_owner_and_the_other_is_told_who():
    lead = leads_open(1)[0]
    reps = [staff(f"racer{i}@handoff.example", "Sales") for i in range(2)]
    barrier = threading.Barrier(2)
    outcomes = {}

    def claim(rep):
        try:
            barrier.wait(timeout=10)
            lead_claim(lead=lead.pk, actor=rep)
            outcomes[rep.email] = "claimed"
        except Conflict as error:
            outcomes[rep.email] = error.message
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim, args=(rep,)) for rep in reps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    lead.refresh_from_db()
    winner = lead.owner.email
    loser = next(email for email in outcomes if email != winner)
    assert outcomes[winner] == "claimed"
    assert outcomes[loser] == f"{winner} has already claimed this lead."
    assert list(
        LeadActivity.objects.filter(lead=lead, kind="claimed").values_list(
            "actor__email", flat=True
        )
    ) == [winner]


# Assign, release, snooze, contacts and notes ---------------------------------------------------


def test_a_manager_assigns_and_unassigns_a_rep_does_not(lead, rep, rep2, manager):
    with pytest.raises(PermissionDenied, match="Only sales managers assign"):
        lead_assign(lead=lead, owner=rep2, actor=rep)

    lead_assign(lead=lead, owner=rep2, actor=manager)
    assert Lead.objects.get(pk=lead.pk).owner == rep2
    lead_assign(lead=lead, owner=None, actor=manager)

    assert Lead.objects.get(pk=lead.pk).owner is None
    entries = LeadActivity.objects.filter(lead=lead, kind="assigned").order_by("id")
    assert [(e.data["before"], e.data["owner"]) for e in entries] == [
        (None, "rep2@handoff.test"),
        ("rep2@handoff.test", None),
    ]


def test_a_lead_cannot_be_assigned_to_someone_not_in_sales(lead, manager, billing_admin):
    with pytest.raises(ApplicationError, match="is not a sales rep") as refused:
        lead_assign(lead=lead, owner=billing_admin, actor=manager)

    assert refused.value.field == "owner"
    assert Lead.objects.get(pk=lead.pk).owner is None


def test_the_owner_or_a_manager_releases_another_rep_cannot(lead, rep, rep2, manager):
    lead_claim(lead=lead, actor=rep)
    with pytest.raises(PermissionDenied, match="only they or a manager can release"):
        lead_release(lead=lead, actor=rep2)

    lead_release(lead=lead, actor=rep)
    assert Lead.objects.get(pk=lead.pk).owner is None
    lead_claim(lead=lead, actor=rep2)
    lead_release(lead=lead, actor=manager)

    assert Lead.objects.get(pk=lead.pk).owner is None
    assert _kinds(lead).count("released") == 2


def test_snoozing_is_for_the_owner_or_a_manager_and_in_the_future(lead, rep, rep2, manager):
    until = MONDAY + timedelta(days=2)
    with pytest.raises(Conflict, match="Claim this lead before you snooze"):
        lead_snooze(lead=lead, until=until, actor=rep, now=MONDAY)
    lead_claim(lead=lead, actor=rep)
    with pytest.raises(PermissionDenied):
        lead_snooze(lead=lead, until=until, actor=rep2, now=MONDAY)
    with pytest.raises(ApplicationError, match="in the future"):
        lead_snooze(lead=lead, until=MONDAY, actor=rep, now=MONDAY)
    with pytest.raises(ApplicationError, match="a year at the most"):
        lead_snooze(lead=lead, until=MONDAY + timedelta(days=400), actor=rep, now=MONDAY)

    lead_snooze(lead=lead, until=until, actor=rep, now=MONDAY)
    assert Lead.objects.get(pk=lead.pk).snoozed_until == until
    lead_snooze(lead=lead, until=None, actor=manager, now=MONDAY)
    assert Lead.objects.get(pk=lead.pk).snoozed_until is None


def test_the_first_contact_stops_the_sla_clock_and_only_the_owner_or_a_manager_logs_one(
    lead, rep, rep2, manager
):
    lead_claim(lead=lead, actor=rep)
    with pytest.raises(PermissionDenied):
        lead_contact_log(lead=lead, channel="call", actor=rep2)
    with pytest.raises(ApplicationError, match="Choose how you made contact") as bad:
        lead_contact_log(lead=lead, channel="pigeon", actor=rep)
    assert bad.value.field == "channel"

    lead_contact_log(lead=lead, channel="call", summary="Intro", actor=rep, now=MONDAY)
    later = MONDAY + timedelta(hours=1)
    lead_contact_log(lead=lead, channel="email", actor=manager, now=later)

    lead.refresh_from_db()
    assert (lead.first_contact_at, lead.status) == (MONDAY, "contacted")
    assert _kinds(lead).count("contact") == 2


def test_any_rep_adds_a_note_others_cannot_and_an_empty_note_is_refused(
    lead, rep, rep2, billing_admin
):
    lead_claim(lead=lead, actor=rep)

    note = lead_note_add(lead=lead, text="  Wants SSO.  ", actor=rep2)

    assert (note.kind, note.actor, note.data) == ("note", rep2, {"text": "Wants SSO."})
    with pytest.raises(ApplicationError, match="Write the note first"):
        lead_note_add(lead=lead, text="   ", actor=rep)
    with pytest.raises(ApplicationError, match="5,000 characters"):
        lead_note_add(lead=lead, text="x" * 5001, actor=rep)
    with pytest.raises(PermissionDenied):
        lead_note_add(lead=lead, text="hi", actor=billing_admin)


# Bulk ------------------------------------------------------------------------------------------


def test_bulk_assign_changes_every_lead_or_none(rep, manager):
    leads = leads_open(3)
    ids = [lead.pk for lead in leads]

    assert leads_bulk_assign(lead_ids=ids, owner=rep, actor=manager) == 3
    assert set(Lead.objects.filter(pk__in=ids).values_list("owner", flat=True)) == {rep.pk}

    Lead.objects.filter(pk=ids[2]).update(status="lost", closed_at=MONDAY)
    with pytest.raises(Conflict, match="closed"):
        leads_bulk_assign(lead_ids=ids, owner=None, actor=manager)
    assert set(Lead.objects.filter(pk__in=ids).values_list("owner", flat=True)) == {rep.pk}
    with pytest.raises(PermissionDenied):
        leads_bulk_assign(lead_ids=ids[:2], owner=None, actor=rep)


def test_bulk_status_moves_every_lead_or_none_and_only_for_managers(rep, manager):
    leads = leads_open(3)
    ids = [lead.pk for lead in leads]
    lead_status_change(lead=ids[1], status="qualified", actor=manager)

    with pytest.raises(Conflict, match="cannot go back to working"):
        leads_bulk_status(lead_ids=ids, status="working", actor=manager)
    assert list(
        Lead.objects.filter(pk__in=ids).order_by("pk").values_list("status", flat=True)
    ) == [
        "new",
        "qualified",
        "new",
    ]
    with pytest.raises(PermissionDenied, match="Only sales managers"):
        leads_bulk_status(lead_ids=ids, status="lost", reason="No budget", actor=rep)

    assert leads_bulk_status(lead_ids=ids, status="lost", reason="No budget", actor=manager) == 3
    assert set(Lead.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"lost"}


@pytest.mark.parametrize(
    ("lead_ids", "message"),
    [([], "at least one"), (["x"], "by their numbers"), (range(501), "500 leads at the most")],
)
def test_bulk_actions_refuse_a_bad_selection(manager, lead_ids, message):
    with pytest.raises(ApplicationError, match=message):
        leads_bulk_status(lead_ids=lead_ids, status="lost", reason="r", actor=manager)


def test_bulk_with_a_missing_lead_changes_nothing(manager):
    leads = leads_open(2)
    ids = [lead.pk for lead in leads]

    with pytest.raises(ApplicationError, match="There is no lead"):
        leads_bulk_status(lead_ids=[*ids, 10**9], status="working", actor=manager)

    assert set(Lead.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"new"}


# Round robin -----------------------------------------------------------------------------------


@pytest.fixture
def round_robin(db):
    QueueSettings.objects.filter(pk=1).update(round_robin=True)


def test_round_robin_gives_new_leads_in_turn_least_loaded_first_never_to_the_unavailable(
    round_robin, rep, rep2, manager
):
    SalesRep.objects.create(user=rep, capacity=5)
    SalesRep.objects.create(user=rep2, capacity=5)
    SalesRep.objects.create(user=manager, available=False)
    for lead in leads_open(2, prefix="Busy"):
        lead_assign(lead=lead, owner=rep, actor=manager)

    leads = leads_open(3, now=MONDAY + timedelta(hours=1))

    assert [lead.owner.email for lead in leads] == [
        "rep2@handoff.test",
        "rep@handoff.test",
        "rep2@handoff.test",
    ]


def test_round_robin_orders_reps_least_loaded_first_and_leaves_out_full_or_away_ones(
    round_robin, rep, rep2, manager
):
    SalesRep.objects.create(user=rep, capacity=3)
    SalesRep.objects.create(user=rep2, capacity=3)
    SalesRep.objects.create(user=manager, available=False)
    for lead in leads_open(2, prefix="Busy"):
        lead_assign(lead=lead, owner=rep, actor=manager)

    reps = round_robin_reps(QueueSettings.objects.get())

    assert [(u.email, u.room) for u in reps] == [
        ("rep2@handoff.test", 3),
        ("rep@handoff.test", 1),
    ]
    lead_assign(lead=leads_open(1, prefix="Full")[0], owner=rep, actor=manager)
    assert [u.email for u in round_robin_reps(QueueSettings.objects.get())] == ["rep2@handoff.test"]


def test_round_robin_leaves_leads_beyond_everyones_capacity_unassigned(round_robin, rep, rep2):
    SalesRep.objects.create(user=rep, capacity=1)
    SalesRep.objects.create(user=rep2, capacity=2)

    leads = leads_open(5)

    owners = [lead.owner.email if lead.owner else None for lead in leads]
    assert owners.count("rep@handoff.test") == 1
    assert owners.count("rep2@handoff.test") == 2
    assert owners.count(None) == 2
    assigned = LeadActivity.objects.filter(kind="assigned", data__round_robin=True)
    assert assigned.count() == 3


def test_round_robin_off_assigns_nobody(rep):
    SalesRep.objects.create(user=rep)

    leads = leads_open(2)

    assert round_robin_reps(QueueSettings.objects.get()) == []
    assert [lead.owner for lead in leads] == [None, None]
