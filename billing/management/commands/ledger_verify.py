"""``manage.py ledger_verify``: recompute the revenue ledger from the stored Stripe events and
say where the recorded movements differ; exits with status 1 when they do."""

from django.core.management.base import BaseCommand, CommandError

from billing.stripe.verify import ledger_verify


class Command(BaseCommand):
    help = (
        "Re-read every subscription state the ledger holds from its stored Stripe event, "
        "recompute each workspace's movements from that history, and compare them, moment "
        "by moment and kind by kind, with the movements recorded and with the workspace's "
        "MRR. Prints one line per difference; exits with an error when there is any."
    )

    def handle(self, *args, **options) -> None:
        problems = ledger_verify()
        for problem in problems:
            self.stdout.write(problem)
        if problems:
            raise CommandError(f"{len(problems)} differences in the revenue ledger.")
        self.stdout.write("the revenue ledger agrees with its history")
