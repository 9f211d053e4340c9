"""``ledger_verify``: recompute every workspace's revenue movements from the stored Stripe
events and report where the ledger differs.

Each state the ledger holds that came from a stored event is read again from that event's
payload (what it bills, whether it is live, its currency); the workspace's history of states,
with those values, gives the movements it calls for (``billing.ledger.history_differences``),
compared moment by moment and kind by kind with the movements recorded, and their sum with
the mirror's MRR. States without an event (a repair by reconciliation) and provisional ones
(fetched for an event that carries no subscription) are taken as recorded.

Set-based: four queries in all (discounts, states with their events, movements, mirrors),
each streamed in workspace order and merged, so the work does not grow a query per
workspace. On PostgreSQL they run in one read-only repeatable-read transaction: one
snapshot, so webhooks processed meanwhile cannot show as differences.
"""

from collections.abc import Callable, Iterator
from typing import Any

from django.db import connection, transaction

from billing.ledger import history_differences
from billing.models import RevenueMovement, RevenueState, StripeDiscount, Subscription
from billing.stripe.objects import StripeDataError, subscription_state

CHUNK = 2000


def _grouped(rows: Iterator[Any], key: Callable[[Any], int]) -> Iterator[tuple[int, list[Any]]]:
    """Consecutive rows with the same key (the rows come ordered by it), as (key, rows)."""
    current: int | None = None
    group: list[Any] = []
    for row in rows:
        value = key(row)
        if value != current and group:
            yield current, group  # type: ignore[misc]
            group = []
        current = value
        group.append(row)
    if group:
        yield current, group  # type: ignore[misc]


def _reread(
    state: RevenueState, discounts: dict[str, dict[str, Any]], problems: list[str]
) -> RevenueState:
    """The state with the values its stored event gives; a difference is a problem."""
    event = state.stripe_event
    if event is None or state.provisional:
        return state
    try:
        read = subscription_state(
            event.object, at=event.created, known_discounts=discounts, catalog=False
        )
    except (StripeDataError, KeyError) as exc:
        problems.append(f"event {event.stripe_id}: cannot be read again ({exc})")
        return state
    if read.mrr_cents != state.mrr_cents:
        problems.append(
            f"event {event.stripe_id}: its subscription is worth {read.mrr_cents}, "
            f"the ledger holds {state.mrr_cents}"
        )
    if read.is_live != state.live:
        problems.append(
            f"event {event.stripe_id}: its subscription is "
            f"{'live' if read.is_live else 'not live'}, the ledger holds the opposite"
        )
    if read.mrr_cents and read.currency != state.currency:
        problems.append(
            f"event {event.stripe_id}: its subscription bills in {read.currency}, "
            f"the ledger holds {state.currency}"
        )
    # An unsaved copy, so nothing read here could ever be written back.
    reread = RevenueState(
        **{field.attname: getattr(state, field.attname) for field in state._meta.concrete_fields}
    )
    reread.mrr_cents, reread.live = read.mrr_cents, read.is_live
    if read.mrr_cents:
        reread.currency = read.currency
    return reread


def ledger_verify() -> list[str]:
    """Every difference between the revenue ledger and what the stored Stripe events call
    for, one line each; empty when there is none. Reads only."""
    snapshot = connection.vendor == "postgresql" and not connection.in_atomic_block
    with transaction.atomic():
        if snapshot:  # (inside an outer transaction, that one's snapshot rules)
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        return _verify()


def _verify() -> list[str]:
    problems: list[str] = []
    discounts = dict(StripeDiscount.objects.values_list("stripe_id", "data"))
    states = (
        RevenueState.objects.select_related("stripe_event")
        .defer(
            "stripe_event__type",
            "stripe_event__status",
            "stripe_event__error",
            "stripe_event__received_at",
            "stripe_event__processed_at",
            "stripe_event__attempts",
        )
        .order_by("workspace_id", "at", "order_key", "id")
        .iterator(chunk_size=CHUNK)
    )
    movements = (
        RevenueMovement.objects.order_by("workspace_id")
        .values_list("workspace_id", "occurred_at", "kind", "currency", "mrr_delta_cents")
        .iterator(chunk_size=CHUNK)
    )
    mirrors = (
        Subscription.objects.order_by("workspace_id")
        .only("workspace_id", "mrr_cents", "status", "stripe_subscription_id", "billed_mrr_cents")
        .iterator(chunk_size=CHUNK)
    )
    streams = {
        "states": _grouped(states, lambda s: s.workspace_id),
        "movements": _grouped(movements, lambda m: m[0]),
        "mirrors": _grouped(mirrors, lambda s: s.workspace_id),
    }
    heads: dict[str, tuple[int, list[Any]] | None] = {
        name: next(stream, None) for name, stream in streams.items()
    }
    while any(head is not None for head in heads.values()):
        workspace_id = min(head[0] for head in heads.values() if head is not None)
        found: dict[str, list[Any]] = {}
        for name, head in heads.items():
            if head is not None and head[0] == workspace_id:
                found[name] = head[1]
                heads[name] = next(streams[name], None)
        mirror = (found.get("mirrors") or [None])[0]
        problems += history_differences(
            workspace_id=workspace_id,
            states=[_reread(state, discounts, problems) for state in found.get("states", [])],
            movements=[row[1:] for row in found.get("movements", [])],
            mirror=mirror,
        )
    return problems
