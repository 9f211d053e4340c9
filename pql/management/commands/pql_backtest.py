"""``manage.py pql_backtest``: replay a scoring model over past days against what happened
next, per engagement threshold and beside a naive baseline."""

from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from pql.backtest import Backtest, backtest_run, percent, times
from pql.models import ScoringModel
from pql.services import scoring_model_published

DEFAULT_DAYS = 90


class Command(BaseCommand):
    help = (
        "Replay a scoring model version over past days: at each day, score every workspace "
        "as of then and compare with whether its MRR rose in the horizon after. Prints "
        "precision, recall, lift and the conversion rate above and below each engagement "
        "threshold, beside the naive baseline “used ≥ 80% of a limit”."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--model-version", type=int, help="The version to replay (default: published)."
        )
        parser.add_argument("--from", dest="start", help="First day replayed (YYYY-MM-DD).")
        parser.add_argument(
            "--to",
            dest="end",
            help="Last day replayed (YYYY-MM-DD; default: the horizon before today).",
        )
        parser.add_argument(
            "--days",
            type=int,
            help=f"Days replayed back from --to, when --from is not given (default "
            f"{DEFAULT_DAYS}).",
        )
        parser.add_argument("--step-days", type=int, default=7, help="Days between replays.")
        parser.add_argument(
            "--horizon-days", type=int, default=30, help="Days after each replay watched."
        )

    def handle(self, *args: object, **options: object) -> None:
        model = self._model(options["model_version"])
        step, horizon = options["step_days"], options["horizon_days"]
        if step < 1:
            raise CommandError("--step-days must be at least 1.")
        if horizon < 1:
            raise CommandError("--horizon-days must be at least 1.")
        today = timezone.now().date()
        end = self._day("--to", options["end"]) or today - timedelta(days=horizon)
        if options["start"] is not None and options["days"] is not None:
            raise CommandError("Give --from or --days, not both.")
        days = options["days"] if options["days"] is not None else DEFAULT_DAYS
        if days < 0:
            raise CommandError("--days must be 0 or more.")
        start = self._day("--from", options["start"]) or end - timedelta(days=days)
        if start > end:
            raise CommandError(f"--from ({start}) is after --to ({end}).")
        result = backtest_run(
            model=model, start=start, end=end, step_days=step, horizon_days=horizon
        )
        self.stdout.write(
            f"Scoring model v{model.version} (PQL: engagement ≥ {model.engagement_min}, "
            f"fit ≥ {model.fit_min}) replayed from {start} to {end} every {step} days; "
            f"converted: MRR rose within {horizon} days."
        )
        self.stdout.write(report_lines(result))

    def _model(self, version: object) -> ScoringModel:
        if version is None:
            return scoring_model_published()
        model = ScoringModel.objects.filter(version=version).first()
        if model is None:
            raise CommandError(f"--model-version: there is no version {version}.")
        return model

    def _day(self, name: str, value: object) -> date | None:
        if value is None:
            return None
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise CommandError(f"{name}: “{value}” is not a date (YYYY-MM-DD).") from None


def report_lines(result: Backtest) -> str:
    header = (
        f"{'rule':<24}{'flagged':>9}{'converted':>11}{'precision':>11}{'recall':>9}"
        f"{'lift':>8}{'conv. above':>13}{'conv. below':>13}"
    )
    lines = [
        f"{result.total:,} workspace-days, {result.converted:,} converted "
        f"({percent(result.base_rate)}).",
        header,
    ]
    for row in (*result.rows, result.baseline):
        lines.append(
            f"{row.label:<24}{row.flagged:>9,}{row.flagged_converted:>11,}"
            f"{percent(row.precision):>11}{percent(row.recall):>9}{times(row.lift):>8}"
            f"{percent(row.precision):>13}{percent(row.rate_below):>13}"
        )
    return "\n".join(lines)
