"""Django admin for PQL scoring: billing admins edit scoring models (sales reps view them);
scores, leads and scoring runs are read-only lists for the staff whose role shows them.

A published (or retired) version is never changed: saving its change form makes a new draft
version from the submitted values, inlines included (Django's "save as new"), and the
version shown stays as it was. A draft is edited in place and published with the list's
"Publish" action, which retires the version published until then.
"""

from datetime import date, timedelta

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.views.decorators.http import require_safe

from accounts.errors import ApplicationError

# Scores, leads and runs are written by the scoring job and the lead services only.
from billing.admin.stripe import ReadOnlyAdmin
from pql.backtest import backtest_run, percent, times
from pql.models import Lead, LeadActivity, Score, ScoringModel, ScoringRun, Signal
from pql.selectors import scores_with_trend, top_reasons, trend_words
from pql.services import scoring_model_next_version, scoring_model_publish

SAVE_AS_NEW = "_saveasnew"


class SignalInline(admin.TabularInline):
    model = Signal
    fields = ["key", "group", "weight", "max_points", "bands"]
    readonly_fields = ["group"]
    extra = 0


@admin.register(ScoringModel)
class ScoringModelAdmin(admin.ModelAdmin):
    list_display = [
        "version",
        "name",
        "status",
        "published_at",
        "engagement_min",
        "fit_min",
        "created_by",
    ]
    list_filter = ["status"]
    ordering = ["-version"]
    readonly_fields = ["version", "status", "published_at", "created_by", "derived_from"]
    inlines = [SignalInline]
    actions = ["publish"]
    change_form_template = "admin/pql/scoringmodel/change_form.html"

    def get_urls(self):
        backtest = path(
            "<int:object_id>/backtest/",
            self.admin_site.admin_view(require_safe(self.backtest_view)),
            name="pql_scoringmodel_backtest",
        )
        return [backtest, *super().get_urls()]

    def backtest_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """The version replayed over past days (GET: from, to, step, horizon), read-only."""
        model = ScoringModel.objects.filter(pk=object_id).first()
        if model is None:
            raise Http404("No such scoring model.")
        if not self.has_view_permission(request, model):
            raise PermissionDenied
        values, error = _backtest_options(request.GET)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": model,
            "title": f"Backtest of {model}",
            "options": values,
            "error": error,
            "change_url": reverse("admin:pql_scoringmodel_change", args=[model.pk]),
        }
        if error is None:
            result = backtest_run(model=model, **values)
            context["result"] = result
            context["rows"] = [
                {
                    "label": row.label,
                    "baseline": row is result.baseline,
                    "flagged": row.flagged,
                    "converted": row.flagged_converted,
                    "precision": percent(row.precision),
                    "recall": percent(row.recall),
                    "lift": times(row.lift),
                    "below": percent(row.rate_below),
                }
                for row in (*result.rows, result.baseline)
            ]
            context["base_rate"] = percent(result.base_rate)
        return TemplateResponse(
            request,
            "admin/pql/scoringmodel/backtest.html",
            context,
            status=400 if error else 200,
        )

    def get_fieldsets(self, request: HttpRequest, obj: ScoringModel | None = None):
        description = None
        if obj is not None and obj.status != ScoringModel.Status.DRAFT:
            description = (
                f"Version {obj.version} is {obj.get_status_display().lower()}: saving makes a "
                "new draft version from your changes, and this one stays as it is. Publish "
                "the draft from the list when it is ready."
            )
        return [
            (
                None,
                {
                    "fields": [
                        "name",
                        "version",
                        "status",
                        "published_at",
                        "created_by",
                        "derived_from",
                    ],
                    "description": description,
                },
            ),
            ("The rule that makes a PQL", {"fields": ["engagement_min", "fit_min"]}),
            (
                "Counting activity",
                {"fields": ["daily_activity_cap", "decay_after_days", "decay_half_life_days"]},
            ),
            ("Leads", {"fields": ["expire_below_days", "expire_inactive_days"]}),
        ]

    def has_delete_permission(self, request: HttpRequest, obj: ScoringModel | None = None):
        return False  # scores, snapshots and leads name the version that produced them

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and object_id is not None:
            current = self.get_object(request, object_id)
            if current is not None and current.status != ScoringModel.Status.DRAFT:
                # Never change a published version: the submitted values make a new one.
                data = request.POST.copy()
                data[SAVE_AS_NEW] = "1"
                request.POST = data
                request.pql_derived_from = current
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: ScoringModel, form, change: bool) -> None:
        if not change:
            obj.version = scoring_model_next_version()
            obj.status = ScoringModel.Status.DRAFT
            obj.published_at = None
            obj.created_by = request.user
            obj.derived_from = getattr(request, "pql_derived_from", None)
        super().save_model(request, obj, form, change)

    def response_add(self, request: HttpRequest, obj: ScoringModel, post_url_continue=None):
        source = getattr(request, "pql_derived_from", None)
        if source is not None:
            self.message_user(
                request,
                f"Saved as draft version {obj.version}; version {source.version} is unchanged.",
                messages.SUCCESS,
            )
        return super().response_add(request, obj, post_url_continue)

    @admin.action(description="Publish the selected draft", permissions=["change"])
    def publish(self, request: HttpRequest, queryset: QuerySet[ScoringModel]) -> None:
        drafts = list(queryset)
        if len(drafts) != 1:
            self.message_user(request, "Select exactly one draft to publish.", messages.ERROR)
            return
        try:
            model = scoring_model_publish(model=drafts[0], actor=request.user)
        except ApplicationError as error:
            self.message_user(request, error.message, messages.ERROR)
            return
        self.message_user(request, f"Version {model.version} is published.", messages.SUCCESS)


@admin.register(Score)
class ScoreAdmin(ReadOnlyAdmin):
    list_display = [
        "workspace",
        "fit",
        "engagement",
        "trend",
        "is_pql",
        "lead_type",
        "reasons",
        "model",
        "computed_at",
    ]
    fields = [
        "workspace",
        "model",
        "fit",
        "engagement",
        "is_pql",
        "lead_type",
        "computed_at",
        "explanation",
    ]
    readonly_fields = ["explanation"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Score]:
        return scores_with_trend(super().get_queryset(request))

    @admin.display(description="Engagement since last week")
    def trend(self, score: Score) -> str:
        return trend_words(score.engagement, getattr(score, "engagement_before", None))

    @admin.display(description="Top reasons")
    def reasons(self, score: Score) -> str:
        return "; ".join(top_reasons(score))

    @admin.display(description="Why this score")
    def explanation(self, score: Score) -> str:
        return format_html_join(
            "\n",
            "<div>{} · {}: {} points — {}</div>",
            (
                (c["group"], c["signal"].replace("_", " "), c["points"], c["text"])
                for c in score.components
            ),
        )

    list_filter = ["is_pql", "lead_type"]
    list_select_related = ["workspace", "model"]
    search_fields = ["workspace__name", "workspace__slug"]
    ordering = ["-engagement", "-fit", "workspace_id"]


class LeadActivityInline(admin.TabularInline):
    model = LeadActivity
    fields = ["at", "kind", "actor", "data"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Lead)
class LeadAdmin(ReadOnlyAdmin):
    list_display = [
        "workspace",
        "type",
        "status",
        "engagement_at_open",
        "fit_at_open",
        "opened_at",
        "sla_due_at",
        "owner",
    ]
    list_filter = ["status", "type"]
    list_select_related = ["workspace", "owner"]
    search_fields = ["workspace__name", "workspace__slug"]
    inlines = [LeadActivityInline]


@admin.register(ScoringRun)
class ScoringRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "status", "model", "now", "started_at", "finished_at", "chunks"]
    list_filter = ["status"]
    list_select_related = ["model"]

    @admin.display(description="Chunks done")
    def chunks(self, run: ScoringRun) -> str:
        return f"{run.chunks_done} of {run.chunk_count}"


def _backtest_options(query) -> tuple[dict, str | None]:
    """The backtest's options from the query string, with defaults (the 90 days before the
    horizon, every 7 days, a 30-day horizon), and the first problem found, named."""
    values: dict = {}
    for name, default, low in (("step_days", 7, 1), ("horizon_days", 30, 1)):
        raw = query.get(name, "") or str(default)
        if not raw.isdigit() or int(raw) < low or int(raw) > 365:
            return _with_dates(values, query), f"{name}: a whole number from {low} to 365."
        values[name] = int(raw)
    values = _with_dates(values, query)
    for name in ("start", "end"):
        if values[name] is None:
            return values, f"{name}: “{query.get(name)}” is not a date (YYYY-MM-DD)."
    if values["start"] > values["end"]:
        return values, "start: the first day is after the last."
    if (values["end"] - values["start"]).days > 730:
        return values, "start: replay at most two years."
    return values, None


def _with_dates(values: dict, query) -> dict:
    end_default = timezone.now().date() - timedelta(days=values.get("horizon_days", 30))
    result = dict(values)
    for name, default in (("end", end_default), ("start", None)):
        raw = query.get(name, "")
        if not raw:
            result[name] = default
            continue
        try:
            result[name] = date.fromisoformat(raw)
        except ValueError:
            result[name] = None
    if not query.get("start") and result["end"] is not None:
        result["start"] = result["end"] - timedelta(days=90)
    result.setdefault("step_days", 7)
    result.setdefault("horizon_days", 30)
    return result
