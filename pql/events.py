"""What happens to leads, announced to the apps above pql (``outbound`` pushes it to Slack
and to the webhook endpoints sales managers register).

Each signal is sent inside the transaction that makes the change, right after the change is
written, so a receiver records what it will do in that same transaction: a rollback undoes
both, and a commit cannot lose the announcement (the transactional-outbox way). Receivers
leave anything slow or external (HTTP, mail) to ``transaction.on_commit``; an exception in a
receiver rolls the change back, so they only write a few rows. A bulk change (a scoring
chunk opening or expiring many leads) sends one signal carrying every lead it changed.

``sender`` is always ``Lead``. Arguments:

- ``lead_opened``: ``leads`` (list of new ``Lead``: type, scores, top reasons, SLA due time).
- ``lead_status_changed``: ``changes`` (list of ``StatusChange``), for every status a lead
  moves to, closing ones (won, lost, disqualified, expired) included.
- ``lead_closed``: ``leads`` (list of ``Lead`` just won or lost: status, closed_at,
  close_reason, won_via, mrr_change_cents), besides their ``lead_status_changed``.
- ``lead_sla_breached``: ``leads`` (list of ``Lead`` whose first contact just became
  overdue: sla_due_at, sla_breached_at).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.dispatch import Signal

from pql.models import Lead, LeadStatus

lead_opened = Signal()
lead_status_changed = Signal()
lead_closed = Signal()
lead_sla_breached = Signal()


@dataclass(frozen=True)
class StatusChange:
    """One lead's move from ``before`` to ``after`` at ``at`` (``actor_id`` None: the system,
    such as the scoring job expiring it or a self-serve upgrade winning it)."""

    lead: Lead
    before: str
    after: str
    at: datetime
    actor_id: int | None = None
    reason: str = ""


def leads_opened(leads: Iterable[Lead]) -> None:
    leads = list(leads)
    if leads:
        lead_opened.send(sender=Lead, leads=leads)


def leads_status_changed(changes: Iterable[StatusChange]) -> None:
    """Announce status changes, and the won and lost leads among them as closed."""
    changes = [change for change in changes if change.before != change.after]
    if not changes:
        return
    lead_status_changed.send(sender=Lead, changes=changes)
    closed = [c.lead for c in changes if c.after in (LeadStatus.WON, LeadStatus.LOST)]
    if closed:
        lead_closed.send(sender=Lead, leads=closed)


def leads_sla_breached(leads: Iterable[Lead]) -> None:
    leads = list(leads)
    if leads:
        lead_sla_breached.send(sender=Lead, leads=leads)
