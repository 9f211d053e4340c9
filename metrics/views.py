"""The growth metrics pages: the dashboard at /metrics/, the lists behind every figure
(drill-downs) and a CSV export of every chart.

Staff in the Sales or Billing admins groups (``metrics.view_growth``) and superusers read
them; other logged-in people get 403 and anonymous visitors the log-in page. They only read:
every answer is a GET.
"""

import csv
from collections.abc import Callable, Iterable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe

from billing.models import Cancellation
from billing.templatetags.money import money as format_money
from metrics import selectors
from metrics.charts import Column, Segment, stacked
from metrics.params import (
    BadParameter,
    Filters,
    choice_param,
    filters_parse,
    month_param,
    week_param,
    yes_no_param,
)
from pql.models import Lead, LeadType

VIEW = "metrics.view_growth"
PAGE_SIZE = 100
KIND_LABELS = dict(selectors.Kind.choices)


def may_read(user) -> bool:
    return user.is_active and (user.is_superuser or (user.is_staff and user.has_perm(VIEW)))


def metrics_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """GET only; log-in required (anonymous: the log-in page); 403 for anyone but sales
    staff and billing admins; a bad parameter answers 400 naming it."""

    @login_required
    @require_safe
    @wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if not may_read(request.user):
            raise PermissionDenied("Only sales staff and billing admins read the metrics.")
        settings = selectors.metrics_settings()
        try:
            filters = filters_parse(request.GET, settings=settings)
            return view(request, *args, filters=filters, settings=settings, **kwargs)
        except BadParameter as exc:
            return render(
                request, "metrics/bad_request.html", {"error": exc.message}, status=exc.status
            )

    return wrapper


def _url(name: str, filters: Filters, **extra: object) -> str:
    return f"{reverse(name)}?{filters.query(**extra)}"


# The dashboard ------------------------------------------------------------------------------


@metrics_view
def dashboard(request: HttpRequest, *, filters: Filters, settings) -> HttpResponse:
    period, money = filters.period, filters.money
    fmt = _formatter(money.currency)
    revenue = selectors.revenue(period=period, money=money, settings=settings)
    months = [
        {
            "item": month,
            "label": f"{month.month:%b %Y}",
            "url": _url("metrics_movements", filters, month=f"{month.month:%Y-%m}"),
            "paying_url": _url("metrics_customers", filters, month=f"{month.month:%Y-%m}"),
            "start_url": _url(
                "metrics_customers",
                filters,
                month=f"{selectors.add_months(month.month, -1):%Y-%m}",
            ),
            "kinds": [
                (
                    kind,
                    month.cents[kind],
                    month.counts[kind],
                    _url("metrics_movements", filters, month=f"{month.month:%Y-%m}", kind=kind),
                )
                for kind in selectors.KINDS
            ],
        }
        for month in revenue.months
    ]
    movement_chart = stacked(
        [
            Column(
                label=f"{m['item'].month:%b %y}",
                segments=[
                    Segment(
                        value,
                        f"k-{kind}",
                        url,
                        f"{m['label']} · {KIND_LABELS[kind]}: {fmt(value)} ({count})",
                    )
                    for kind, value, count, url in m["kinds"]
                ],
                line=m["item"].net,
            )
            for m in months
        ],
        title="MRR movements by month, with the net movement",
        fmt=fmt,
    )
    mrr_chart = stacked(
        [
            Column(
                label=f"{m['item'].month:%b %y}",
                segments=[
                    Segment(
                        m["item"].end_mrr,
                        "k-mrr",
                        m["url"],
                        f"MRR at the end of {m['label']}: {fmt(m['item'].end_mrr)}",
                    )
                ],
            )
            for m in months
        ],
        title="MRR at the end of each month",
        fmt=fmt,
    )
    signups = selectors.signups_by_week(period=period)
    signups_chart = stacked(
        [
            Column(
                label=f"{week:%-d %b}",
                segments=[
                    Segment(
                        count,
                        "k-signup",
                        _url("metrics_workspaces", filters, week=week),
                        f"Week of {week:%-d %b %Y}: {count} sign-ups",
                    )
                ],
            )
            for week, count in signups
        ],
        title="Sign-ups per week",
    )
    pqls = selectors.pqls_by_week(period=period)
    pql_chart = stacked(
        [
            Column(
                label=f"{week:%-d %b}",
                segments=[
                    Segment(
                        counts[kind],
                        f"k-{kind}",
                        _url("metrics_leads", filters, week=week, type=kind),
                        f"Week of {week:%-d %b %Y}: {counts[kind]} {label.lower()} PQLs",
                    )
                    for kind, label in LeadType.choices
                ],
            )
            for week, counts in pqls
        ],
        title="PQLs per week by type",
    )
    won_via = selectors.revenue_won_via(period=period, money=money)
    context = {
        "filters": filters,
        "settings": settings,
        "money": money,
        "currency": money.currency,
        "revenue": revenue,
        "months": months,
        "kinds": [(kind, KIND_LABELS[kind]) for kind in selectors.KINDS],
        "movement_chart": movement_chart,
        "movement_legend": [(f"k-{kind}", KIND_LABELS[kind]) for kind in selectors.KINDS]
        + [("k-net", "Net")],
        "pql_legend": [(f"k-{kind}", label) for kind, label in LeadType.choices],
        "mrr_chart": mrr_chart,
        "signups": signups,
        "signups_chart": signups_chart,
        "activation": selectors.activation(period=period),
        "cohorts": [
            {
                "item": cohort,
                "all_url": _url("metrics_workspaces", filters, cohort=f"{cohort.month:%Y-%m}"),
                "activated_url": _url(
                    "metrics_workspaces", filters, cohort=f"{cohort.month:%Y-%m}", activated="yes"
                ),
                "not_activated_url": _url(
                    "metrics_workspaces", filters, cohort=f"{cohort.month:%Y-%m}", activated="no"
                ),
                "paid_url": _url(
                    "metrics_workspaces", filters, cohort=f"{cohort.month:%Y-%m}", paid="yes"
                ),
            }
            for cohort in selectors.cohorts(period=period)
        ],
        "stickiness": [
            {"item": s, "url": _url("metrics_people", filters, month=f"{s.month:%Y-%m}")}
            for s in selectors.stickiness(period=period)
        ],
        "pqls": pqls,
        "pql_chart": pql_chart,
        "lead_types": LeadType.choices,
        "pql_conversion": selectors.pql_conversion(period=period),
        "won_via": [
            {
                "via": label,
                "rows": [
                    (
                        type_label,
                        *won_via[(via, kind)],
                        _url("metrics_leads", filters, won_via=via, type=kind),
                    )
                    for kind, type_label in LeadType.choices
                ],
            }
            for via, label in Lead.WonVia.choices
        ],
        "viral": [
            {
                "item": cohort,
                "url": _url("metrics_workspaces", filters, cohort=f"{cohort.month:%Y-%m}"),
            }
            for cohort in selectors.viral_cohorts(period=period)
        ],
        "reasons": [
            {
                "item": reason,
                "url": _url("metrics_cancellations", filters, reason=reason.reason),
                "months": [
                    (
                        count,
                        _url(
                            "metrics_cancellations",
                            filters,
                            reason=reason.reason,
                            month=f"{month:%Y-%m}",
                        ),
                    )
                    for month, count in reason.by_month.items()
                ],
            }
            for reason in selectors.cancellation_reasons(period=period, money=money)
        ],
        "period_months": period.months,
        "links": {
            "customers": _url("metrics_customers", filters),
            "movements": _url("metrics_movements", filters),
            "workspaces": _url("metrics_workspaces", filters),
            "activated": _url("metrics_workspaces", filters, activated="yes"),
            "leads": _url("metrics_leads", filters),
            "cancellations": _url("metrics_cancellations", filters),
            "trailing": _url(
                "metrics_movements",
                filters,
                **{"from": f"{selectors.add_months(period.last, -11):%Y-%m}"},
            ),
        },
        "exports": {
            name.replace("-", "_"): f"{reverse('metrics_export', args=[name])}?{filters.query()}"
            for name in EXPORTS
        },
    }
    return render(request, "metrics/dashboard.html", context)


def _formatter(currency: str) -> Callable[[int], str]:
    return lambda cents: format_money(cents, currency)


# Drill-downs --------------------------------------------------------------------------------


def _page(request: HttpRequest, rows) -> object:
    return Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))


def _drill(request, template: str, filters: Filters, title: str, rows, **context) -> HttpResponse:
    page = _page(request, rows)
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        template,
        {
            "title": title,
            "filters": filters,
            "page": page,
            "currency": filters.money.currency,
            "money": filters.money,
            "back": f"{reverse('metrics_dashboard')}?{filters.query()}",
            "here": params.urlencode(),
            **context,
        },
    )


@metrics_view
def movements(request: HttpRequest, *, filters: Filters, settings) -> HttpResponse:
    month = month_param(request.GET, "month")
    kind = choice_param(request.GET, "kind", list(selectors.Kind.values))
    rows = selectors.movements_in(
        settings=settings, money=filters.money, month=month, period=filters.period, kind=kind
    )
    what = KIND_LABELS[kind].lower() + " movements" if kind else "Movements"
    when = f"{month:%B %Y}" if month else _period_words(filters)
    return _drill(
        request, "metrics/movements.html", filters, f"{what[0].upper()}{what[1:]}, {when}", rows
    )


@metrics_view
def customers(request: HttpRequest, *, filters: Filters, settings) -> HttpResponse:
    """Paying now (the subscriptions' MRR), or with ``month`` at the end of that month (the
    ledger as the settings count it)."""
    month = month_param(request.GET, "month")
    if month is not None:
        rows = selectors.paying_at(
            settings=settings,
            money=filters.money,
            moment=selectors.as_utc(selectors.add_months(month, 1)),
        )
        return _drill(
            request,
            "metrics/customers.html",
            filters,
            f"Paying workspaces at the end of {month:%B %Y}",
            rows,
            as_of=month,
        )
    rows = selectors.paying_workspaces(money=filters.money)
    trials = selectors.trialing_subscriptions().select_related("workspace", "plan")
    return _drill(
        request,
        "metrics/customers.html",
        filters,
        "Paying workspaces now",
        rows,
        trials=trials if settings.trials_count_as_mrr else None,
    )


@metrics_view
def people(request: HttpRequest, *, filters: Filters, settings) -> HttpResponse:
    month = month_param(request.GET, "month") or filters.period.last
    rows = selectors.people_active(month=month)
    return _drill(request, "metrics/people.html", filters, f"People active in {month:%B %Y}", rows)


@metrics_view
def workspaces(request: HttpRequest, *, filters: Filters, settings) -> HttpResponse:
    cohort = month_param(request.GET, "cohort")
    week = week_param(request.GET)
    activated = yes_no_param(request.GET, "activated")
    paid = yes_no_param(request.GET, "paid")
    rows = selectors.workspaces_in(
        period=filters.period, cohort=cohort, week=week, activated=activated, paid=paid
    )
    parts = [
        f"signed up in {cohort:%B %Y}" if cohort else None,
        f"signed up in the week of {week:%-d %B %Y}" if week else None,
        None if activated is None else ("activated" if activated else "not activated"),
        None if paid is None else ("paid" if paid else "never paid"),
    ]
    words = ", ".join(p for p in parts if p) or f"signed up {_period_words(filters)}"
    return _drill(request, "metrics/workspaces.html", filters, f"Workspaces {words}", rows)


@metrics_view
def leads(request: HttpRequest, *, filters: Filters, settings) -> HttpResponse:
    week = week_param(request.GET)
    kind = choice_param(request.GET, "type", list(LeadType.values))
    via = choice_param(request.GET, "won_via", list(Lead.WonVia.values))
    rows = selectors.leads_in(period=filters.period, week=week, type=kind, won_via=via)
    parts = [
        dict(LeadType.choices)[kind].lower() if kind else None,
        "PQLs",
        f"won via {dict(Lead.WonVia.choices)[via].lower()}" if via else None,
        f"opened in the week of {week:%-d %B %Y}" if week and not via else None,
        _period_words(filters) if not week or via else None,
    ]
    title = " ".join(p for p in parts if p)
    return _drill(request, "metrics/leads.html", filters, title[0].upper() + title[1:], rows)


@metrics_view
def cancellations(request: HttpRequest, *, filters: Filters, settings) -> HttpResponse:
    reason = choice_param(request.GET, "reason", list(Cancellation.Reason.values))
    month = month_param(request.GET, "month")
    rows = selectors.cancellations_in(period=filters.period, reason=reason, month=month)
    label = dict(Cancellation.Reason.choices)[reason] if reason else "All reasons"
    when = f"{month:%B %Y}" if month else _period_words(filters)
    return _drill(
        request, "metrics/cancellations.html", filters, f"Cancellations: {label}, {when}", rows
    )


def _period_words(filters: Filters) -> str:
    first, last = filters.period.first, filters.period.last
    if first == last:
        return f"in {first:%B %Y}"
    return f"from {first:%B %Y} to {last:%B %Y}"


# CSV exports --------------------------------------------------------------------------------


def _amount(cents: int | None) -> str:
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    units, minor = divmod(abs(cents), 100)
    return f"{sign}{units}.{minor:02d}"


def _share(value) -> str:
    return "" if value is None else f"{value}"


def _export_revenue(filters: Filters, settings) -> Iterable[list[object]]:
    revenue = selectors.revenue(period=filters.period, money=filters.money, settings=settings)
    yield [
        "month",
        "currency",
        "MRR at start",
        *[f"{KIND_LABELS[k]}" for k in selectors.KINDS],
        "net",
        "MRR at end",
        "paying workspaces at end",
        "NRR",
        "GRR",
        "net MRR churn",
        "gross MRR churn",
        "quick ratio",
        "ARPA",
    ]
    for m in revenue.months:
        yield [
            f"{m.month:%Y-%m}",
            filters.money.currency.upper(),
            _amount(m.start_mrr),
            *[_amount(m.cents[k]) for k in selectors.KINDS],
            _amount(m.net),
            _amount(m.end_mrr),
            m.customers_end,
            _share(m.nrr),
            _share(m.grr),
            _share(m.net_churn),
            _share(m.gross_churn),
            _share(m.quick_ratio),
            _amount(m.arpa),
        ]


def _export_movements(filters: Filters, settings) -> Iterable[list[object]]:
    rows = selectors.movements_in(settings=settings, money=filters.money, period=filters.period)
    yield [
        "counted at",
        "month",
        "kind",
        "ledger kind",
        "workspace",
        "MRR change",
        "MRR after",
        "currency",
        "occurred at",
        "plan",
    ]
    for m in rows.iterator(chunk_size=500):
        yield [
            m.effective_at.isoformat(),
            f"{m.effective_month:%Y-%m}",
            m.metric_kind,
            m.kind,
            m.workspace.name,
            _amount(m.mrr_delta_cents),
            _amount(m.mrr_after_cents),
            m.currency.upper(),
            m.occurred_at.isoformat(),
            m.plan_code,
        ]


def _export_signups(filters: Filters, settings) -> Iterable[list[object]]:
    yield ["week starting", "sign-ups"]
    for week, count in selectors.signups_by_week(period=filters.period):
        yield [week.isoformat(), count]


def _export_activation(filters: Filters, settings) -> Iterable[list[object]]:
    a = selectors.activation(period=filters.period)
    yield ["sign-ups", "activated", "activation rate", "median hours to value", "p90 hours"]
    hours = [None if d is None else round(d.total_seconds() / 3600, 2) for d in (a.median, a.p90)]
    yield [a.signups, a.activated, _share(a.rate), *["" if h is None else h for h in hours]]


def _export_cohorts(filters: Filters, settings) -> Iterable[list[object]]:
    yield [
        "cohort",
        "sign-ups",
        "paid",
        "conversion",
        "activated",
        "activated paid",
        "activated conversion",
        "not activated",
        "not activated paid",
        "not activated conversion",
    ]
    for c in selectors.cohorts(period=filters.period):
        yield [
            f"{c.month:%Y-%m}",
            c.signups,
            c.paid,
            _share(c.conversion),
            c.activated,
            c.activated_paid,
            _share(c.activated_conversion),
            c.not_activated,
            c.not_activated_paid,
            _share(c.not_activated_conversion),
        ]


def _export_stickiness(filters: Filters, settings) -> Iterable[list[object]]:
    yield ["month", "average DAU", "MAU", "DAU/MAU"]
    for s in selectors.stickiness(period=filters.period):
        yield [f"{s.month:%Y-%m}", s.average_dau, s.mau, _share(s.ratio)]


def _export_pqls(filters: Filters, settings) -> Iterable[list[object]]:
    yield ["week starting", *[label for _, label in LeadType.choices]]
    for week, counts in selectors.pqls_by_week(period=filters.period):
        yield [week.isoformat(), *[counts[k] for k in LeadType.values]]


def _export_pql_conversion(filters: Filters, settings) -> Iterable[list[object]]:
    c = selectors.pql_conversion(period=filters.period)
    yield [
        "PQLs opened",
        "won",
        "won by sales",
        "won self-serve",
        "PQL-to-paid",
        "median days to paid",
        "p90 days to paid",
    ]
    days = [
        None if d is None else round(d.total_seconds() / 86400, 2)
        for d in (c.median_to_paid, c.p90_to_paid)
    ]
    yield [
        c.opened,
        c.won,
        c.won_sales,
        c.won_self_serve,
        _share(c.rate),
        *["" if d is None else d for d in days],
    ]
    yield []
    yield ["won via", "lead type", "leads", "MRR added", "currency"]
    won = selectors.revenue_won_via(period=filters.period, money=filters.money)
    for (via, kind), (count, cents) in won.items():
        yield [via, kind, count, _amount(cents), filters.money.currency.upper()]


def _export_invitations(filters: Filters, settings) -> Iterable[list[object]]:
    yield [
        "cohort",
        "workspaces",
        "invitations sent",
        "accepted",
        "invitations per workspace",
        "acceptance",
        "K-factor",
    ]
    for c in selectors.viral_cohorts(period=filters.period):
        yield [
            f"{c.month:%Y-%m}",
            c.workspaces,
            c.sent,
            c.accepted,
            _share(c.invitations_per_workspace),
            _share(c.acceptance),
            _share(c.k_factor),
        ]


def _export_cancellations(filters: Filters, settings) -> Iterable[list[object]]:
    rows = selectors.cancellation_reasons(period=filters.period, money=filters.money)
    yield [
        "reason",
        *[f"{m:%Y-%m}" for m in filters.period.months],
        "cancellations",
        "MRR lost",
        "currency",
    ]
    for r in rows:
        yield [
            r.label,
            *r.by_month.values(),
            r.count,
            _amount(r.mrr_lost),
            filters.money.currency.upper(),
        ]


EXPORTS: dict[str, Callable[[Filters, object], Iterable[list[object]]]] = {
    "revenue": _export_revenue,
    "movements": _export_movements,
    "signups": _export_signups,
    "activation": _export_activation,
    "cohorts": _export_cohorts,
    "stickiness": _export_stickiness,
    "pqls": _export_pqls,
    "pql-conversion": _export_pql_conversion,
    "invitations": _export_invitations,
    "cancellations": _export_cancellations,
}


@metrics_view
def export(request: HttpRequest, chart: str, *, filters: Filters, settings) -> HttpResponse:
    build = EXPORTS.get(chart)
    if build is None:
        raise Http404("No such chart.")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    stamp = f"{filters.period.first:%Y-%m}_{filters.period.last:%Y-%m}"
    response["Content-Disposition"] = (
        f'attachment; filename="metrics-{chart}-{filters.selection}-{stamp}.csv"'
    )
    writer = csv.writer(response)
    for row in build(filters, settings):
        writer.writerow(row)
    return response
