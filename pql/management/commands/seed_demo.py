"""``manage.py seed_demo``: demo data and four documented log-ins for the embedded default.

It lives in the top app because it puts together what every app seeds: accounts' log-ins
and workspaces, billing's subscriptions, usage's history."""

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from accounts import demo
from billing import demo as billing_demo
from pql.jobs import pqls_score
from pql.models import OPEN_LEAD_STATUSES, Lead
from usage import demo as usage_demo


class Command(BaseCommand):
    help = (
        "Seed demo data (idempotent): the log-ins of a workspace owner, a sales rep, a sales "
        "manager and a billing admin, the owner's workspace Acme Analytics and a few hundred "
        "workspaces with a year of history; score them, then print the log-ins and a new API "
        "key for Acme Analytics. Runs only with DEBUG on, unless --force."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Seed even with DEBUG off. The log-ins have published passwords: never on a "
            "database that real people use.",
        )

    def handle(self, *args: object, force: bool, **options: object) -> None:
        """Run every seeding step in one transaction (all or nothing), then print the
        log-ins and the new API key."""
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo creates log-ins with published passwords, so it only runs with "
                "DEBUG on (the embedded default). This installation runs with DEBUG off; pass "
                "--force to seed its database anyway."
            )
        self.verbosity = int(options["verbosity"])
        now = timezone.now()
        rng = random.Random(demo.SEED)  # noqa: S311 - reproducible demo data, not secrets
        timed = self._timed
        try:
            with timed("all of it, committed"), transaction.atomic():
                with timed("log-ins and Acme Analytics"):
                    demo.seed_staff()
                    owner, workspace = demo.seed_demo_owner(
                        now=now, on_created=billing_demo.acme_plan_seed
                    )
                with timed("workspaces"):
                    created, users = demo.seed_workspaces(rng=rng, now=now)
                    billing_demo.subscriptions_seed(created)
                workspaces = len(created)
                with timed("usage and product events"):
                    with_usage = usage_demo.seed_usage(
                        rng=rng,
                        now=now,
                        plan_limit=billing_demo.plan_limit_reader(),
                        created=created,
                        also=[workspace],
                    )
                with timed("purchases through the local gateway"):
                    bought = billing_demo.conversions_seed(created, now=now)
                raw_key = demo.demo_api_key_create(workspace=workspace, owner=owner)
        except demo.DemoSetupError as exc:
            raise CommandError(str(exc)) from exc
        # Score everything as of now, once the seeding committed and what it queued on
        # commit (the replayed upgrades' notifications) has run: the queue of leads is
        # filled after `make run`, and follows the clock on every run.
        with timed("scoring"):
            pqls_score(now=now)

        if workspaces:
            self._say(f"Created {workspaces} demo workspaces with {users} users.")
        else:
            self._say("Demo workspaces already there: nothing to add.")
        if with_usage:
            self._say(f"Added {usage_demo.DAYS} days of usage to {with_usage} workspaces.")
        if bought:
            self._say(f"Replayed the purchases of {bought} workspaces through the local gateway.")
        self._say(self._open_leads())
        self._print_log_ins()
        self._print_api_key(workspace_name=workspace.name, raw_key=raw_key)

    @contextmanager
    def _timed(self, step: str) -> Iterator[None]:
        """Say how long ``step`` took (and the CPU time this process spent on it), with
        ``-v 2``."""
        started, cpu = time.monotonic(), time.process_time()
        yield
        if self.verbosity >= 2:
            self.stdout.write(
                f"  {step}: {time.monotonic() - started:.1f} s "
                f"(CPU {time.process_time() - cpu:.1f} s)"
            )

    @staticmethod
    def _open_leads() -> str:
        """How many leads are open, by type: "Open leads: 14 (11 upgrade, 3 expansion)."."""
        by_type = dict(
            Lead.objects.filter(status__in=OPEN_LEAD_STATUSES)
            .values_list("type")
            .annotate(n=Count("id"))
            .order_by("type")
        )
        total = sum(by_type.values())
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(by_type.items()))
        return f"Open leads: {total}" + (f" ({kinds})." if kinds else ".")

    def _say(self, message: str) -> None:
        if self.verbosity >= 1:
            self.stdout.write(message)

    def _print_log_ins(self) -> None:
        site = settings.HANDOFF_SITE_URL.rstrip("/")
        write = self.stdout.write
        write("")
        write(self.style.MIGRATE_HEADING(f"Demo log-ins (log in at {site}{reverse('login')}):"))
        for login in demo.DEMO_LOGINS:
            write(f"  {login.title + ':':<17} {login.email} / {login.password}")
            write(f"  {'':<17} {login.purpose}")
            write(f"  {'':<17} then go to {site}{login.path}")

    def _print_api_key(self, *, workspace_name: str, raw_key: str) -> None:
        site = settings.HANDOFF_SITE_URL.rstrip("/")
        write = self.stdout.write
        write("")
        write(
            self.style.MIGRATE_HEADING(
                f"A new API key for {workspace_name} (a new one on every run, shown once):"
            )
        )
        write(f"  {raw_key}")
        write(f'  curl -H "Authorization: Bearer {raw_key}" {site}{reverse("api_workspace")}')
        write("")
