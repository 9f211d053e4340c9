"""``manage.py ledger_verify``: recompute the revenue ledger from the stored events and say
where the recorded movements differ."""

from django.core.management.base import BaseCommand, CommandError

from billing.ledger import ledger_differences
from billing.models import RevenueState, Subscription
from billing.stripe.objects import StripeDataError, subscription_state


class Command(BaseCommand):
    help = (
        "Re-read every subscription state the ledger holds from its stored Stripe event, "
        "recompute each workspace's movements from that history, and compare them, moment "
        "by moment and kind by kind, with the movements recorded and with the workspace's "
        "MRR. Prints one line per difference; exits with an error when there is any."
    )

    def handle(self, *args, **options) -> None:
        problems = []
        # A provisional state was fetched for an event that carries no subscription.
        states = RevenueState.objects.filter(
            stripe_event__isnull=False, provisional=False
        ).select_related("stripe_event")
        for state in states.iterator(chunk_size=500):
            event = state.stripe_event
            try:
                read = subscription_state(event.object, at=event.created)
            except (StripeDataError, KeyError) as exc:
                problems.append(f"event {event.stripe_id}: cannot be read again ({exc})")
                continue
            if read.mrr_cents != state.mrr_cents:
                problems.append(
                    f"event {event.stripe_id}: its subscription is worth {read.mrr_cents}, "
                    f"the ledger holds {state.mrr_cents}"
                )
        workspaces = Subscription.objects.order_by("workspace_id").values_list(
            "workspace_id", flat=True
        )
        for workspace_id in workspaces.iterator(chunk_size=500):
            problems += ledger_differences(workspace_id=workspace_id)
        for problem in problems:
            self.stdout.write(problem)
        if problems:
            raise CommandError(f"{len(problems)} differences in the revenue ledger.")
        self.stdout.write("the revenue ledger agrees with its history")
