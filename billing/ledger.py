"""The revenue ledger: one append-only RevenueMovement for every change of a workspace's MRR,
computed from the history of its Stripe subscriptions, not from the order Stripe delivered
the events in.

* **What a state is worth.** Every Stripe subscription object an event carries is recorded
  as a ``RevenueState`` at the event's own time (``created``): what it bills per month
  (``billing.stripe.objects.billed_mrr``: every item, normalised to a month, net of the
  discounts that apply then), counted while active or past due, 0 while trialing or ended.
* **The workspace's MRR over time.** The states in time order (states of the same second
  by their ``order_key``, the event id, so the order is fixed whatever the delivery). At
  each state the workspace's MRR is that of the subscription it mirrors: the most recently
  created of its live subscriptions (a newer one replaces an older one still live), or 0
  when none is live.
* **Movements.** Each change of that MRR is one movement at its state's time: ``new``
  (from 0, the first time), ``reactivation`` (from 0 again), ``expansion``, ``contraction``
  or ``churn`` (to 0). A subscription that replaces a still-live one is one plan change
  (expansion or contraction by the difference, its note naming both subscriptions), the
  old one's later end changes nothing; a change of currency is the old currency's churn and
  the new one's reactivation (or new), never a sum of two currencies.
* **Fetched states.** A checkout or an invoice whose subscription's events have not arrived
  yet fetches the subscription from Stripe; that state is placed provisionally at the
  event's time and leaves the history once the subscription's own events are there.
* **Late events.** An event older than states already placed changes what those states'
  movements should have been. The ledger stays append-only: at each moment where what the
  history calls for (by kind and currency) differs from what is recorded, it appends the
  difference, placed at that moment, linked (``corrects``) to the movement it corrects.
  So the movements by moment, and so by month, and kind are the same whatever order the
  events arrived in.
* **Same second.** Stripe's clock has one-second steps: states of one second are taken in
  the order of their event ids, fixed but not necessarily the order they happened in. The
  mirror settles such a tie by fetching the subscription; should the ledger's last state
  then differ from the mirror's, the next event or ``reconcile_stripe`` (which places
  Stripe's state now) brings them together, and ``ledger_verify`` shows it meanwhile.

For every workspace, the sum of its movements equals ``Subscription.mrr_cents``, which
equals the MRR of its newest state.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Sum

from billing.models import RevenueMovement, RevenueState, StripeEvent, Subscription

COUNTED_STATUSES = frozenset({Subscription.Status.ACTIVE, Subscription.Status.PAST_DUE})


def subscription_mrr(subscription: Subscription) -> int:
    """What the mirror's current state is worth per month: what it bills while active or
    past due."""
    if subscription.status not in COUNTED_STATUSES or not subscription.stripe_subscription_id:
        return 0
    return subscription.billed_mrr_cents


def movement_kind(*, old_mrr: int, new_mrr: int, had_revenue_before: bool) -> str:
    """New (from 0, the first time), reactivation (from 0 again), expansion, contraction or
    churn (to 0)."""
    if old_mrr == 0:
        return RevenueMovement.Kind.REACTIVATION if had_revenue_before else RevenueMovement.Kind.NEW
    if new_mrr == 0:
        return RevenueMovement.Kind.CHURN
    return RevenueMovement.Kind.EXPANSION if new_mrr > old_mrr else RevenueMovement.Kind.CONTRACTION


@dataclass(frozen=True)
class Step:
    """One movement the history calls for at a state."""

    kind: str
    currency: str
    delta: int
    mrr_after: int
    plan_code: str
    stripe_subscription_id: str
    note: str = ""


def history_steps(states: list[RevenueState]) -> tuple[dict[int, list[Step]], dict[int, int]]:
    """The movements a workspace's states call for, by state id, and the workspace's MRR
    after each state: a pure function of the states (taken in time order)."""
    latest: dict[str, RevenueState] = {}
    steps: dict[int, list[Step]] = {}
    after: dict[int, int] = {}
    told = {state.stripe_subscription_id for state in states if not state.provisional}
    mrr, currency, plan_code, mirrored = 0, "", "", ""
    had_revenue = False
    for state in states:
        if state.provisional and state.stripe_subscription_id in told:
            after[state.pk] = mrr  # superseded by the subscription's own events
            continue
        latest[state.stripe_subscription_id] = state
        live = [s for s in latest.values() if s.live]
        current = max(
            live, key=lambda s: (s.stripe_started_at, s.stripe_subscription_id), default=None
        )
        new_mrr = current.mrr_cents if current is not None else 0
        new_currency = current.currency if current is not None else currency
        new_plan = current.plan_code if current is not None else plan_code
        new_id = current.stripe_subscription_id if current is not None else mirrored
        here: list[Step] = []
        if mrr and new_mrr and new_currency != currency:
            here.append(Step("churn", currency, -mrr, 0, plan_code, mirrored, "currency changed"))
            here.append(
                Step(
                    movement_kind(old_mrr=0, new_mrr=new_mrr, had_revenue_before=True),
                    new_currency,
                    new_mrr,
                    new_mrr,
                    new_plan,
                    new_id,
                    "currency changed",
                )
            )
        elif new_mrr != mrr:
            note = ""
            if mrr and new_mrr and new_id != mirrored:
                note = f"{new_id} replaced {mirrored} (still live)"
            here.append(
                Step(
                    movement_kind(old_mrr=mrr, new_mrr=new_mrr, had_revenue_before=had_revenue),
                    new_currency if new_mrr else currency,
                    new_mrr - mrr,
                    new_mrr,
                    new_plan if new_mrr else plan_code,
                    new_id if new_mrr else mirrored,
                    note,
                )
            )
        if here:
            steps[state.pk] = here
        after[state.pk] = new_mrr
        had_revenue = had_revenue or new_mrr > 0
        mrr, currency, plan_code, mirrored = new_mrr, new_currency, new_plan, new_id
    return steps, after


@transaction.atomic
def revenue_state_record(
    *,
    subscription: Subscription,
    stripe_subscription_id: str,
    started_at: datetime,
    at: datetime,
    live: bool,
    mrr_cents: int,
    currency: str,
    plan_code: str,
    stripe_event: StripeEvent | None,
    provisional: bool = False,
) -> RevenueState:
    """Record one state of a Stripe subscription of the workspace (the caller holds the
    workspace's subscription row locked), then bring the ledger up to date. A
    ``provisional`` state (fetched for an event that carries no subscription) counts until
    the subscription's own events arrive."""
    if mrr_cents < 0:
        raise ValueError("MRR cannot be negative.")
    state = RevenueState.objects.create(
        workspace_id=subscription.workspace_id,
        subscription=subscription,
        stripe_subscription_id=stripe_subscription_id,
        stripe_started_at=started_at,
        at=at,
        order_key=stripe_event.stripe_id if stripe_event is not None else "",
        stripe_event=stripe_event,
        provisional=provisional,
        live=live,
        mrr_cents=mrr_cents,
        currency=currency,
        plan_code=plan_code,
    )
    ledger_sync(subscription=subscription, trigger=state)
    return state


def ledger_sync(*, subscription: Subscription, trigger: RevenueState | None = None) -> int:
    """Append the movements that make the workspace's recorded movements equal, moment by
    moment and kind by kind (and currency), what its history calls for; set
    ``Subscription.mrr_cents``. ``trigger`` is the state just recorded: movements at its
    own moment are originals (linked to its event), the others corrections linked to the
    movement they correct. Returns the number of movements appended."""
    workspace_id = subscription.workspace_id
    states = list(RevenueState.objects.filter(workspace_id=workspace_id))
    wanted_steps, mrr_after = history_steps(states)
    Key = tuple[datetime, str, str]
    wanted: dict[Key, int] = defaultdict(int)
    wanted_by: dict[Key, tuple[RevenueState, Step]] = {}
    for state in states:
        for step in wanted_steps.get(state.pk, []):
            key = (state.at, step.kind, step.currency)
            wanted[key] += step.delta
            wanted_by[key] = (state, step)
    recorded: dict[Key, int] = defaultdict(int)
    last_movement: dict[Key, RevenueMovement] = {}
    movements = RevenueMovement.objects.filter(workspace_id=workspace_id).select_related("state")
    for movement in movements.order_by("id"):
        key = (movement.occurred_at, movement.kind, movement.currency)
        recorded[key] += movement.mrr_delta_cents
        last_movement[key] = movement
    originals: list[RevenueMovement] = []
    appended = 0

    def is_original(key: Key) -> bool:
        return trigger is not None and key in wanted_by and wanted_by[key][0].pk == trigger.pk

    # The trigger's own movements first: the corrections link to them.
    for key in sorted(set(wanted) | set(recorded), key=lambda k: (not is_original(k), k)):
        difference = wanted.get(key, 0) - recorded.get(key, 0)
        if difference == 0:
            continue
        at, kind, currency = key
        original = is_original(key)
        if key in wanted_by:
            state, step = wanted_by[key]
            after, plan_code, stripe_id, note = (
                step.mrr_after,
                step.plan_code,
                step.stripe_subscription_id,
                step.note,
            )
        else:  # nothing should have moved at that moment: the recorded movements reversed
            corrected = last_movement[key]
            state = corrected.state
            after = _mrr_at(states, mrr_after, at)
            plan_code, stripe_id, note = (
                corrected.plan_code,
                corrected.stripe_subscription_id,
                "",
            )
        corrects = None
        if not original:
            corrects = last_movement.get(key) or (originals[0] if originals else None)
            note = note or "correction: an earlier state arrived late"
        movement = RevenueMovement.objects.create(
            workspace_id=workspace_id,
            subscription=subscription,
            kind=kind,
            mrr_delta_cents=difference,
            mrr_after_cents=after,
            currency=currency,
            occurred_at=at,
            stripe_event=trigger.stripe_event if original and not originals else None,
            plan_code=plan_code,
            stripe_subscription_id=stripe_id,
            state=state,
            corrects=corrects,
            note=note,
        )
        recorded[key] += difference
        last_movement[key] = movement
        if original:
            originals.append(movement)
        appended += 1
    total = (
        RevenueMovement.objects.filter(workspace_id=workspace_id).aggregate(
            total=Sum("mrr_delta_cents")
        )["total"]
        or 0
    )
    if subscription.mrr_cents != total:
        subscription.mrr_cents = total
        subscription.save(update_fields=["mrr_cents", "updated_at"])
    return appended


def _mrr_at(states: list[RevenueState], mrr_after: dict[int, int], at: datetime) -> int:
    """The workspace's MRR after the states of moment ``at``."""
    result = 0
    for state in states:
        if state.at > at:
            break
        result = mrr_after.get(state.pk, result)
    return result


def history_differences(
    *,
    workspace_id: int,
    states: list[RevenueState],
    movements: list[tuple[datetime, str, str, int]],
    mirror: Subscription | None,
) -> list[str]:
    """What differs between a workspace's recorded ``movements`` (occurred_at, kind,
    currency, delta) and what its history of ``states`` (in time order) calls for, moment
    by moment and kind by kind, and between their sum, the mirror's ``mrr_cents`` and what
    the mirrored state bills; empty when the ledger is right. Pure: no query."""
    steps, _ = history_steps(states)
    wanted: dict[tuple[datetime, str, str], int] = defaultdict(int)
    for state in states:
        for step in steps.get(state.pk, []):
            wanted[(state.at, step.kind, step.currency)] += step.delta
    recorded: dict[tuple[datetime, str, str], int] = defaultdict(int)
    for at, kind, currency, delta in movements:
        recorded[(at, kind, currency)] += delta
    problems = [
        f"workspace {workspace_id}: {kind} at {at.isoformat()} is {recorded.get(key, 0)} "
        f"{currency}, its history says {wanted.get(key, 0)}"
        for key in sorted(set(wanted) | set(recorded))
        if wanted.get(key, 0) != recorded.get(key, 0)
        for at, kind, currency in [key]
    ]
    total = sum(recorded.values())
    if mirror is not None and total != mirror.mrr_cents:
        problems.append(
            f"workspace {workspace_id}: movements sum to {total}, MRR is {mirror.mrr_cents}"
        )
    if mirror is not None and subscription_mrr(mirror) != total:
        problems.append(
            f"workspace {workspace_id}: movements sum to {total}, the mirrored Stripe state "
            f"bills {subscription_mrr(mirror)}"
        )
    return problems


def ledger_differences(*, workspace_id: int) -> list[str]:
    """``history_differences`` of one workspace, read from the database. Reads only."""
    return history_differences(
        workspace_id=workspace_id,
        states=list(RevenueState.objects.filter(workspace_id=workspace_id)),
        movements=list(
            RevenueMovement.objects.filter(workspace_id=workspace_id).values_list(
                "occurred_at", "kind", "currency", "mrr_delta_cents"
            )
        ),
        mirror=Subscription.objects.filter(workspace_id=workspace_id).first(),
    )
