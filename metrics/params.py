"""The metrics pages' address parameters, checked: a bad one is a 400 that names it."""

import re
from dataclasses import dataclass
from datetime import date, datetime

from django.http import QueryDict

from accounts.errors import ApplicationError
from metrics import selectors
from metrics.models import MetricsSettings

MONTH = re.compile(r"^(\d{4})-(\d{2})$")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CURRENCY = re.compile(r"^[a-z]{3}$")
MAX_MONTHS = 60


class BadParameter(ApplicationError):
    status = 400


def month_param(params: QueryDict, name: str) -> date | None:
    value = params.get(name, "").strip()
    if not value:
        return None
    match = MONTH.match(value)
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1970:
        raise BadParameter(
            f"“{name}” must be a month written YYYY-MM, such as 2026-03.", field=name
        )
    return date(int(match.group(1)), int(match.group(2)), 1)


def week_param(params: QueryDict, name: str = "week") -> date | None:
    value = params.get(name, "").strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value) if DAY.match(value) else None
    except ValueError:
        day = None
    if day is None or day.weekday() != 0:
        raise BadParameter(
            f"“{name}” must be the Monday a week starts on, written YYYY-MM-DD.", field=name
        )
    return day


def choice_param(params: QueryDict, name: str, choices: list[str]) -> str | None:
    value = params.get(name, "").strip()
    if not value:
        return None
    if value not in choices:
        raise BadParameter(f"“{name}” must be one of: {', '.join(choices)}.", field=name)
    return value


def yes_no_param(params: QueryDict, name: str) -> bool | None:
    value = choice_param(params, name, ["yes", "no"])
    return None if value is None else value == "yes"


@dataclass(frozen=True)
class Filters:
    """The date range and the currency every metrics page reads."""

    period: selectors.Period
    selection: str  # a currency code, or "all" (converted)
    money: selectors.Money
    currencies: list[str]

    def query(self, **extra: object) -> str:
        """The query string of these filters (plus ``extra``) for links and exports."""
        params = QueryDict(mutable=True)
        params["from"] = f"{self.period.first:%Y-%m}"
        params["to"] = f"{self.period.last:%Y-%m}"
        params["currency"] = self.selection
        for key, value in extra.items():
            if value is not None and value != "":
                params[key] = str(value)
        return params.urlencode()


def filters_parse(
    params: QueryDict, *, settings: MetricsSettings, now: datetime | None = None
) -> Filters:
    default = selectors.default_period(now)
    first = month_param(params, "from")
    last = month_param(params, "to")
    if last is None:
        last = default.last if first is None else max(default.last, first)
    if first is None:
        first = selectors.add_months(last, -11)
    if first > last:
        raise BadParameter("“from” must be a month before or equal to “to”.", field="from")
    period = selectors.Period(first=first, last=last)
    if len(period.months) > MAX_MONTHS:
        raise BadParameter(f"Choose at most {MAX_MONTHS} months between “from” and “to”.")
    in_use = selectors.currencies_in_use()
    currencies = sorted({*in_use, settings.reporting_currency})
    selection = params.get("currency", "").strip().lower() or settings.reporting_currency
    if selection != selectors.ALL and not CURRENCY.match(selection):
        raise BadParameter(
            "“currency” must be a three-letter currency code (such as usd) or “all”.",
            field="currency",
        )
    money = selectors.money_for(selection=selection, settings=settings, in_use=in_use)
    return Filters(period=period, selection=selection, money=money, currencies=currencies)
