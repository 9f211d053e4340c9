"""``manage.py score_pqls``: score every workspace now, chunk by chunk, with a progress bar."""

import sys
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from pql.jobs import pqls_score

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Score every live workspace with the published scoring model, open and expire leads, "
        "and close the leads of workspaces that now pay more. Runs here, chunk by chunk; the "
        "hourly Celery beat job spreads the chunks over the workers instead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--now",
            help="Score as of this time (ISO 8601, with a time zone) instead of now: a rerun "
            "with the same --now on the same data gives the same scores.",
        )
        parser.add_argument(
            "--chunk-size", type=int, help="Workspaces per chunk (HANDOFF_PQL_CHUNK_SIZE)."
        )

    def handle(self, *args: object, **options: object) -> None:
        now = self._now(options["now"])
        chunk_size = options["chunk_size"]
        if chunk_size is not None and chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1.")
        self.verbosity = int(options["verbosity"])
        self.scored = 0
        run = pqls_score(now=now, chunk_size=chunk_size, progress=self._progress)
        if run is None:
            raise CommandError("Another scoring run is going: try again when it has finished.")
        if self.verbosity >= 1:
            self.stdout.write(
                f"Run {run.pk} ({run.status}): scored up to {self.scored:,} workspaces in "
                f"{run.chunk_count:,} chunk{'s' if run.chunk_count != 1 else ''} with scoring "
                f"model version {run.model.version}."
            )

    def _now(self, value: object) -> datetime | None:
        if value is None:
            return None
        now = parse_datetime(str(value))
        if now is None or now.tzinfo is None:
            raise CommandError(f"--now: “{value}” is not an ISO 8601 time with a time zone.")
        return now

    def _progress(self, done: int, total: int, span: int) -> None:
        self.scored += span
        if self.verbosity < 1:
            return
        filled = BAR_WIDTH * done // total
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        end = "\n" if done == total else ""
        sys.stderr.write(f"\r[{bar}] {done}/{total} chunks{end}")
        sys.stderr.flush()
