"""The sales queue's pages: the queue (filters, sort, search and keyset pages, all in the
address), its CSV export, saved views, a lead's page with the account's story, the actions on
a lead, bulk actions and the queue's settings.

Only staff with ``pql.work_lead`` (the "Sales" group) and superusers reach them; anyone else
logged in gets 403, and anonymous visitors the log-in page. Manager-only pages and actions
answer 403 to plain reps. Actions are plain POST forms that redirect back (htmx boosts them);
a queue row's buttons swap just that row when htmx is there. A refused action answers with
the status the service's error carries and its message.
"""

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from functools import wraps
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.errors import ApplicationError
from billing import selectors as billing_selectors
from pql import selectors, services
from pql.forms import (
    AssignForm,
    BulkForm,
    ContactForm,
    NoteForm,
    QueueSettingsForm,
    RepForm,
    SavedViewForm,
    SnoozeForm,
    StatusForm,
)
from pql.models import Lead, LeadStatus, LeadType
from pql.scoring import SIGNALS

WORK = "pql.work_lead"
CHART_WIDTH, CHART_HEIGHT = 600, 120
EXPORT_CHUNK = 500
SORT_LINKS = [("score", "Score"), ("age", "Age"), ("sla", "SLA due")]


def may_work(user) -> bool:
    return user.is_active and (user.is_superuser or (user.is_staff and user.has_perm(WORK)))


def sales_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Log-in required (anonymous: the log-in page); 403 for anyone but sales staff."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if not may_work(request.user):
            raise PermissionDenied("Only sales staff work the queue.")
        return view(request, *args, **kwargs)

    return wrapper


def manager_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A sales page for managers only: 403 for plain reps."""

    @sales_view
    @wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if not services.is_manager(request.user):
            raise PermissionDenied("Only sales managers do this.")
        return view(request, *args, **kwargs)

    return wrapper


def _lead_or_404(lead_id: int) -> Lead:
    try:
        return selectors.lead_get(lead_id=lead_id)
    except ApplicationError as exc:
        raise Http404(exc.message) from None


def _with(params: QueryDict, **changes: object) -> str:
    """The queue's query string with some parameters changed (None drops one)."""
    query = params.copy()
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = str(value)
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else "?"


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


# The queue ------------------------------------------------------------------------------------


def _queue_context(request: HttpRequest) -> dict[str, object]:
    """What the queue's filter sidebar and header need, whatever the rows."""
    params = request.GET
    user = request.user
    manager = services.is_manager(user)
    reps = list(selectors.sales_reps())
    current_sort = params.get("sort") or "score"
    return {
        # The address's parameters, each one there ("" when absent): the sidebar compares
        # them with every option, and a QueryDict missing a key raises (and is caught) at
        # each comparison.
        "params": {key: params.get(key, "") for key in selectors.QUERY_PARAMS},
        "is_manager": manager,
        "reps": reps,
        "statuses": [("open", "Open"), ("all", "All"), *LeadStatus.choices],
        "types": LeadType.choices,
        "plans": billing_selectors.plan_choices(),
        "signals": sorted(((k, s.label) for k, s in SIGNALS.items()), key=lambda c: c[1]),
        "sla_states": [("at_risk", "At risk"), ("breached", "Breached")],
        "sort_links": [
            (key, label, _with(params, sort=key, after=None), key == current_sort)
            for key, label in SORT_LINKS
        ],
        "saved_views": list(selectors.saved_views(owner=user)),
        "save_form": SavedViewForm(initial={"query": _with(params, after=None)[1:]}),
        "bulk_form": BulkForm(reps=selectors.sales_reps()) if manager else None,
        "export_url": reverse("sales_export") + _with(params, after=None),
        "here": request.get_full_path(),
    }


@sales_view
@require_safe
def queue(request: HttpRequest) -> HttpResponse:
    context = _queue_context(request)
    try:
        query = selectors.queue_query_parse(request.GET)
    except ApplicationError as exc:
        context.update(error=exc.message, rows=[])
        return render(request, "pql/queue.html", context, status=exc.status)
    now = timezone.now()
    page = selectors.leads_queue(query, actor=request.user, now=now)
    context.update(
        rows=_rows_with_links(selectors.queue_rows(page.leads, now=now), user=request.user),
        next_url=_with(request.GET, after=page.next_after) if page.next_after else None,
        first_url=_with(request.GET, after=None) if query.after else None,
    )
    return render(request, "pql/queue.html", context)


# A lead id no address holds: reversed once per page, then replaced by each row's id.
_ID = 2_147_483_647


@dataclass(frozen=True)
class _LinkedRow(selectors.QueueRow):
    """A queue row with its addresses: the lead's page, claim and release."""

    url: str
    claim_url: str
    release_url: str
    mine: bool  # the viewer owns the lead


def _rows_with_links(rows: list[selectors.QueueRow], *, user) -> list[_LinkedRow]:
    """The queue's rows as its row template reads them, with their addresses reversed once
    per page rather than three times a row."""
    names = {
        "url": "sales_lead",
        "claim_url": "sales_lead_claim",
        "release_url": "sales_lead_release",
    }
    patterns = {
        key: reverse(name, args=[_ID]).replace(str(_ID), "{}") for key, name in names.items()
    }
    keys = [field.name for field in fields(selectors.QueueRow)]
    return [
        _LinkedRow(
            **{key: getattr(row, key) for key in keys},
            **{key: pattern.format(row.lead.pk) for key, pattern in patterns.items()},
            mine=row.lead.owner_id == user.pk,
        )
        for row in rows
    ]


class _Echo:
    def write(self, value: str) -> str:
        return value


EXPORT_HEADER = [
    "lead",
    "workspace",
    "domain",
    "status",
    "type",
    "score",
    "trend",
    "fit",
    "reasons",
    "plan",
    "seats used",
    "seats paid",
    "MRR",
    "next plan",
    "next plan MRR",
    "currency",
    "opened",
    "SLA",
    "SLA due",
    "owner",
]


def _cents(value: int | None) -> str:
    return "" if value is None else f"{value / 100:.2f}"


def _export_rows(query, actor) -> Iterator[list[object]]:
    yield EXPORT_HEADER
    query = replace(query, after="", size=EXPORT_CHUNK)
    now = timezone.now()
    while True:
        page = selectors.leads_queue(query, actor=actor, now=now)
        for row in selectors.queue_rows(page.leads, now=now):
            lead, plan = row.lead, row.plan
            yield [
                lead.pk,
                lead.workspace.name,
                lead.workspace.company_domain,
                lead.status,
                lead.type,
                lead.engagement,
                row.trend,
                lead.fit,
                "; ".join(row.reasons),
                plan.plan_name if plan else "",
                row.seats_used,
                plan.seats_paid if plan else "",
                _cents(plan.mrr_cents) if plan else "",
                (plan.next_plan_name or "") if plan else "",
                _cents(plan.next_plan_mrr_cents) if plan else "",
                (plan.currency if plan else lead.currency).upper(),
                lead.opened_at.isoformat(),
                row.sla_state,
                lead.sla_due_at.isoformat(),
                lead.owner.email if lead.owner else "",
            ]
        if page.next_after is None:
            return
        query = replace(query, after=page.next_after)


@sales_view
@require_safe
def export(request: HttpRequest) -> HttpResponse:
    """The filtered queue as CSV, every page, streamed (same parameters as the queue)."""
    try:
        query = selectors.queue_query_parse(request.GET)
    except ApplicationError as exc:
        return HttpResponse(exc.message, status=exc.status, content_type="text/plain")
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in _export_rows(query, request.user)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = 'attachment; filename="sales-queue.csv"'
    return response


# Saved views ----------------------------------------------------------------------------------


@sales_view
@require_POST
def view_save(request: HttpRequest) -> HttpResponse:
    form = SavedViewForm(request.POST)
    back = reverse("sales_queue") + "?" + (request.POST.get("query") or "")
    if not form.is_valid():
        messages.error(request, "Name the view (80 characters at the most).")
        return HttpResponseRedirect(back)
    try:
        view = services.saved_view_create(
            owner=request.user, name=form.cleaned_data["name"], query=form.cleaned_data["query"]
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(back)
    messages.success(request, f"Saved the view “{view.name}”.")
    return HttpResponseRedirect(back)


@sales_view
@require_POST
def view_delete(request: HttpRequest, view_id: int) -> HttpResponse:
    try:
        services.saved_view_delete(view_id=view_id, owner=request.user)
    except ApplicationError as exc:
        raise Http404(exc.message) from None
    messages.success(request, "Deleted the saved view.")
    return HttpResponseRedirect(_safe_next(request, reverse("sales_queue")))


# The lead page --------------------------------------------------------------------------------


def _line(values: list[int], count: int) -> str:
    """SVG polyline points of 0-100 values across the chart."""
    step = CHART_WIDTH / max(count - 1, 1)
    return " ".join(
        f"{round(n * step, 1)},{round(CHART_HEIGHT - value * (CHART_HEIGHT - 4) / 100, 1)}"
        for n, value in enumerate(values)
    )


def _bars(history: list[tuple[object, int]]) -> tuple[list[dict], int]:
    peak = max((value for _, value in history), default=0)
    slot = CHART_WIDTH / max(len(history), 1)
    bars = []
    for n, (day, value) in enumerate(history):
        height = (value / peak) * (CHART_HEIGHT - 4) if peak else 0
        bars.append(
            {
                "x": round(n * slot + 1, 1),
                "y": round(CHART_HEIGHT - height, 1),
                "width": round(slot - 2, 1),
                "height": round(height, 1),
                "day": day,
                "value": value,
            }
        )
    return bars, peak


def _lead_forms(request: HttpRequest, lead: Lead, **bound: object) -> dict[str, object]:
    forms = {
        "status_form": StatusForm(lead=lead),
        "contact_form": ContactForm(),
        "note_form": NoteForm(),
        "snooze_form": SnoozeForm(),
    }
    if services.is_manager(request.user):
        forms["assign_form"] = AssignForm(
            reps=selectors.sales_reps(), initial={"owner": lead.owner_id}
        )
    forms.update(bound)
    return forms


def _lead_page(
    request: HttpRequest, lead: Lead, *, status: int = 200, error: str = "", **bound: object
) -> HttpResponse:
    now = timezone.now()
    story = selectors.lead_story(lead=lead, now=now)
    user = request.user
    usage = [(metric, *_bars(metric.history)) for metric in story.usage]
    history = story.history
    context = {
        "lead": lead,
        "story": story,
        "row": selectors.queue_rows([lead], now=now)[0],
        "now": now,
        "error": error,
        "is_manager": services.is_manager(user),
        "can_act": lead.is_open and (lead.owner_id == user.pk or services.is_manager(user)),
        "usage": usage,
        "chart_width": CHART_WIDTH,
        "chart_height": CHART_HEIGHT,
        "engagement_line": _line([p.engagement for p in history], len(history)),
        "fit_line": _line([p.fit for p in history], len(history)),
        "components": sorted(
            (story.score.components if story.score else []),
            key=lambda c: (-c.get("points", 0), c.get("signal", "")),
        ),
        "admin_url": (
            reverse("admin:accounts_workspace_change", args=[lead.workspace_id])
            if user.has_perm("accounts.view_workspace")
            else ""
        ),
        **_lead_forms(request, lead, **bound),
    }
    return render(request, "pql/lead.html", context, status=status)


@sales_view
@require_safe
def lead_detail(request: HttpRequest, lead_id: int) -> HttpResponse:
    return _lead_page(request, _lead_or_404(lead_id))


# Actions on one lead --------------------------------------------------------------------------


def _in_row(request: HttpRequest) -> bool:
    """Sent by a queue row's own htmx button (not a boosted page): answer with the row."""
    return bool(request.htmx) and not request.htmx.boosted and request.POST.get("in_row") == "1"


def _row_response(request: HttpRequest, lead_id: int, *, status: int = 200, **extra: object):
    lead = _lead_or_404(lead_id)
    context = {
        "rows": _rows_with_links(selectors.queue_rows([lead]), user=request.user),
        "is_manager": services.is_manager(request.user),
        "here": request.POST.get("next") or reverse("sales_queue"),
        **extra,
    }
    return render(request, "pql/_queue_row.html", context, status=status)


def _lead_action(
    request: HttpRequest,
    lead_id: int,
    *,
    form=None,
    form_name: str = "",
    act: Callable[[Lead], str],
) -> HttpResponse:
    """Run ``act`` (a service call returning the success message) on the lead; on success,
    back where the rep came from; refused, that status with the reason shown."""
    lead = _lead_or_404(lead_id)
    if form is not None and not form.is_valid():
        if _in_row(request):
            return _row_response(request, lead_id, status=400, error="Check the form.")
        return _lead_page(request, lead, status=400, **{form_name: form})
    try:
        done = act(lead)
    except ApplicationError as exc:
        if _in_row(request):
            return _row_response(request, lead_id, status=exc.status, error=exc.message)
        if form is not None and exc.field in form.fields:
            form.add_error(exc.field, exc.message)
            return _lead_page(request, lead, status=exc.status, **{form_name: form})
        lead = _lead_or_404(lead_id)
        return _lead_page(request, lead, status=exc.status, error=exc.message)
    if _in_row(request):
        return _row_response(request, lead_id, done=done)
    messages.success(request, done)
    return HttpResponseRedirect(
        _safe_next(request, reverse("sales_lead", kwargs={"lead_id": lead_id}))
    )


@sales_view
@require_POST
def lead_claim(request: HttpRequest, lead_id: int) -> HttpResponse:
    def act(lead: Lead) -> str:
        services.lead_claim(lead=lead.pk, actor=request.user)
        return f"You own {lead.workspace.name} now."

    return _lead_action(request, lead_id, act=act)


@sales_view
@require_POST
def lead_release(request: HttpRequest, lead_id: int) -> HttpResponse:
    def act(lead: Lead) -> str:
        services.lead_release(lead=lead.pk, actor=request.user)
        return f"Released {lead.workspace.name} to the queue."

    return _lead_action(request, lead_id, act=act)


@sales_view
@require_POST
def lead_status(request: HttpRequest, lead_id: int) -> HttpResponse:
    lead = _lead_or_404(lead_id)
    form = StatusForm(request.POST, lead=lead)

    def act(lead: Lead) -> str:
        changed = services.lead_status_change(
            lead=lead.pk,
            status=form.cleaned_data["status"],
            reason=form.cleaned_data["reason"],
            actor=request.user,
        )
        return f"{lead.workspace.name} is {changed.get_status_display().lower()}."

    return _lead_action(request, lead_id, form=form, form_name="status_form", act=act)


@sales_view
@require_POST
def lead_contact(request: HttpRequest, lead_id: int) -> HttpResponse:
    form = ContactForm(request.POST)

    def act(lead: Lead) -> str:
        services.lead_contact_log(
            lead=lead.pk,
            channel=form.cleaned_data["channel"],
            summary=form.cleaned_data["summary"],
            actor=request.user,
        )
        return "Contact logged."

    return _lead_action(request, lead_id, form=form, form_name="contact_form", act=act)


@sales_view
@require_POST
def lead_note(request: HttpRequest, lead_id: int) -> HttpResponse:
    form = NoteForm(request.POST)

    def act(lead: Lead) -> str:
        services.lead_note_add(lead=lead.pk, text=form.cleaned_data["text"], actor=request.user)
        return "Note added."

    return _lead_action(request, lead_id, form=form, form_name="note_form", act=act)


@sales_view
@require_POST
def lead_snooze(request: HttpRequest, lead_id: int) -> HttpResponse:
    form = SnoozeForm(request.POST)

    def act(lead: Lead) -> str:
        settings = selectors.queue_settings_read()
        until = form.until_at(starts=settings.day_starts, zone=ZoneInfo(settings.time_zone))
        services.lead_snooze(lead=lead.pk, until=until, actor=request.user)
        if until is None:
            return f"{lead.workspace.name} is back in the queue."
        return f"Snoozed {lead.workspace.name} until {form.cleaned_data['until']:%b %-d, %Y}."

    return _lead_action(request, lead_id, form=form, form_name="snooze_form", act=act)


@manager_view
@require_POST
def lead_assign(request: HttpRequest, lead_id: int) -> HttpResponse:
    form = AssignForm(request.POST, reps=selectors.sales_reps())

    def act(lead: Lead) -> str:
        owner = form.cleaned_data["owner"]
        services.lead_assign(lead=lead.pk, owner=owner, actor=request.user)
        return f"Assigned {lead.workspace.name} to {owner.email if owner else 'nobody'}."

    return _lead_action(request, lead_id, form=form, form_name="assign_form", act=act)


# Bulk actions (managers) ----------------------------------------------------------------------


@manager_view
@require_POST
def bulk(request: HttpRequest) -> HttpResponse:
    back = _safe_next(request, reverse("sales_queue"))
    form = BulkForm(request.POST, reps=selectors.sales_reps())
    ids = request.POST.getlist("leads")
    if not form.is_valid():
        messages.error(request, "Choose an action, and a rep or a status for it.")
        return HttpResponseRedirect(back)
    try:
        if form.cleaned_data["action"] == "assign":
            owner = form.cleaned_data["owner"]
            changed = services.leads_bulk_assign(lead_ids=ids, owner=owner, actor=request.user)
            done = f"Assigned {changed} lead{'s' if changed != 1 else ''} to " + (
                owner.email if owner else "nobody"
            )
        else:
            if not form.cleaned_data["status"]:
                raise ApplicationError("Choose the status to move the leads to.", field="status")
            changed = services.leads_bulk_status(
                lead_ids=ids,
                status=form.cleaned_data["status"],
                reason=form.cleaned_data["reason"],
                actor=request.user,
            )
            done = f"Moved {changed} lead{'s' if changed != 1 else ''}"
    except ApplicationError as exc:
        return _bulk_refused(request, exc, back)
    messages.success(request, done + ".")
    return HttpResponseRedirect(back)


def _bulk_refused(request: HttpRequest, exc: ApplicationError, back: str) -> HttpResponse:
    """The queue again, with the reason nothing changed, answering the error's status."""
    return render(
        request,
        "pql/refused.html",
        {"message": f"Nothing was changed: {exc.message}", "back": back},
        status=exc.status,
    )


# Queue settings (managers) --------------------------------------------------------------------


def _rep_forms(data=None) -> list[tuple[object, RepForm]]:
    reps = list(selectors.sales_reps())
    known = selectors.sales_rep_settings(user_ids=[user.pk for user in reps])
    forms = []
    for user in reps:
        rep = known.get(user.pk)
        initial = {
            "available": rep.available if rep else True,
            "capacity": rep.capacity if rep else 25,
        }
        forms.append((user, RepForm(data, prefix=f"rep-{user.pk}", initial=initial)))
    return forms


@manager_view
@require_http_methods(["GET", "HEAD", "POST"])
def queue_settings(request: HttpRequest) -> HttpResponse:
    current = selectors.queue_settings_read()
    settings_form = QueueSettingsForm(
        initial={
            "sla_hours": current.sla_hours,
            "work_days": current.work_days,
            "day_starts": current.day_starts,
            "day_ends": current.day_ends,
            "time_zone": current.time_zone,
            "at_risk_hours": current.at_risk_hours,
            "round_robin": current.round_robin,
        }
    )
    rep_forms = _rep_forms()
    status = 200
    if request.method == "POST":
        which = request.POST.get("form")
        try:
            if which == "settings":
                settings_form = QueueSettingsForm(request.POST)
                if not settings_form.is_valid():
                    status = 400
                else:
                    services.queue_settings_update(actor=request.user, **settings_form.cleaned_data)
                    messages.success(request, "Queue settings saved.")
                    return HttpResponseRedirect(reverse("sales_settings"))
            elif which == "reps":
                rep_forms = _rep_forms(request.POST)
                if not all(form.is_valid() for _, form in rep_forms):
                    status = 400
                else:
                    with transaction.atomic():
                        for user, form in rep_forms:
                            services.sales_rep_set(
                                actor=request.user, user=user, **form.cleaned_data
                            )
                    messages.success(request, "Reps saved.")
                    return HttpResponseRedirect(reverse("sales_settings"))
            else:
                status = 400
                messages.error(request, "Say which form you are saving.")
        except ApplicationError as exc:
            status = exc.status
            form = settings_form if which == "settings" else None
            if form is not None and exc.field in form.fields:
                form.add_error(exc.field, exc.message)
            else:
                messages.error(request, exc.message)
    context = {
        "form": settings_form,
        "rep_forms": rep_forms,
        "attainment": selectors.sla_attainment(days=30),
    }
    return render(request, "pql/settings.html", context, status=status)
