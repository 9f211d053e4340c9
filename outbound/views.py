"""The integrations pages, for sales managers: the Slack channel, webhook endpoints (the
secret shown once when made), each endpoint's deliveries with failures and redelivery.

Sales managers and superusers reach them; reps and other staff get 403, anonymous visitors
the log-in page (``pql.views.manager_view``). Actions are POST forms that redirect; a
refused one answers the status its error carries with the message, nothing stored."""

import json
from urllib.parse import urlsplit

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.errors import ApplicationError
from outbound import selectors, services
from outbound.forms import EndpointEditForm, EndpointForm, SlackForm
from outbound.models import Delivery, Endpoint, EventType
from pql.views import manager_view


def _webhook_or_404(endpoint_id: int) -> Endpoint:
    endpoint = selectors.endpoint_get(endpoint_id=endpoint_id)
    if endpoint is None or endpoint.kind != Endpoint.Kind.WEBHOOK:
        raise Http404("There is no such endpoint.")
    return endpoint


def _form_error(form, exc: ApplicationError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


def _url_hint(url: str) -> str:
    """A Slack webhook URL is a credential: shown as its host and last characters only."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…{url[-4:]}"


def _integrations_page(
    request: HttpRequest,
    *,
    slack_form: SlackForm | None = None,
    endpoint_form: EndpointForm | None = None,
    status: int = 200,
) -> HttpResponse:
    slack = selectors.slack_endpoint()
    context = {
        "slack": slack,
        "slack_hint": _url_hint(slack.url) if slack else "",
        "slack_deliveries": selectors.endpoint_deliveries(endpoint=slack, limit=10)
        if slack
        else [],
        "slack_form": slack_form or SlackForm(),
        "endpoint_form": endpoint_form or EndpointForm(),
        "rows": selectors.endpoint_rows(),
    }
    return render(request, "outbound/integrations.html", context, status=status)


@require_safe
@manager_view
def integrations(request: HttpRequest) -> HttpResponse:
    return _integrations_page(request)


@require_POST
@manager_view
def slack_save(request: HttpRequest) -> HttpResponse:
    form = SlackForm(request.POST)
    if not form.is_valid():
        return _integrations_page(request, slack_form=form, status=400)
    try:
        services.slack_set(actor=request.user, url=form.cleaned_data["slack_url"])
    except ApplicationError as exc:
        _form_error(form, exc)
        return _integrations_page(request, slack_form=form, status=exc.status)
    messages.success(request, "Slack is set: new PQLs and missed first contacts go there.")
    return HttpResponseRedirect(reverse("outbound_integrations"))


@require_POST
@manager_view
def slack_remove(request: HttpRequest) -> HttpResponse:
    if services.slack_remove(actor=request.user):
        messages.success(request, "Nothing goes to Slack any more.")
    return HttpResponseRedirect(reverse("outbound_integrations"))


def _secret_page(request: HttpRequest, endpoint: Endpoint, secret: str, *, status: int):
    return render(
        request,
        "outbound/endpoint_secret.html",
        {"endpoint": endpoint, "secret": secret},
        status=status,
    )


@require_POST
@manager_view
def endpoint_create(request: HttpRequest) -> HttpResponse:
    form = EndpointForm(request.POST)
    if not form.is_valid():
        return _integrations_page(request, endpoint_form=form, status=400)
    try:
        endpoint, secret = services.endpoint_create(actor=request.user, **form.cleaned_data)
    except ApplicationError as exc:
        _form_error(form, exc)
        return _integrations_page(request, endpoint_form=form, status=exc.status)
    return _secret_page(request, endpoint, secret, status=201)


def _endpoint_page(
    request: HttpRequest,
    endpoint: Endpoint,
    *,
    form: EndpointEditForm | None = None,
    status: int = 200,
    error: str = "",
) -> HttpResponse:
    if form is None:
        form = EndpointEditForm(
            initial={
                "url": endpoint.url,
                "description": endpoint.description,
                "event_types": endpoint.event_types,
                "is_active": endpoint.is_active,
            }
        )
    shown = request.GET.get("status", "")
    if shown not in Delivery.Status.values:
        shown = ""
    context = {
        "endpoint": endpoint,
        "form": form,
        "error": error,
        "shown": shown,
        "statuses": Delivery.Status.choices,
        "deliveries": selectors.endpoint_deliveries(endpoint=endpoint, status=shown),
        "event_labels": dict(EventType.choices),
    }
    return render(request, "outbound/endpoint.html", context, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
@manager_view
def endpoint_detail(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _webhook_or_404(endpoint_id)
    if request.method != "POST":
        return _endpoint_page(request, endpoint)
    form = EndpointEditForm(request.POST)
    if not form.is_valid():
        return _endpoint_page(request, endpoint, form=form, status=400)
    try:
        services.endpoint_update(actor=request.user, endpoint_id=endpoint.pk, **form.cleaned_data)
    except ApplicationError as exc:
        _form_error(form, exc)
        return _endpoint_page(request, endpoint, form=form, status=exc.status)
    messages.success(request, "Endpoint saved.")
    return HttpResponseRedirect(reverse("outbound_endpoint", args=[endpoint.pk]))


@require_POST
@manager_view
def endpoint_delete(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    try:
        services.endpoint_delete(actor=request.user, endpoint_id=endpoint_id)
    except services.EndpointNotFound as exc:
        raise Http404(exc.message) from None
    messages.success(request, "Endpoint deleted.")
    return HttpResponseRedirect(reverse("outbound_integrations"))


@require_POST
@manager_view
def endpoint_ping(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    try:
        services.endpoint_ping(actor=request.user, endpoint_id=endpoint_id)
    except services.EndpointNotFound as exc:
        raise Http404(exc.message) from None
    except ApplicationError as exc:
        endpoint = _webhook_or_404(endpoint_id)
        return _endpoint_page(request, endpoint, status=exc.status, error=exc.message)
    messages.success(request, "Test event sent.")
    return HttpResponseRedirect(reverse("outbound_endpoint", args=[endpoint_id]))


@require_POST
@manager_view
def endpoint_secret_roll(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    try:
        endpoint, secret = services.endpoint_secret_roll(
            actor=request.user, endpoint_id=endpoint_id
        )
    except services.EndpointNotFound as exc:
        raise Http404(exc.message) from None
    return _secret_page(request, endpoint, secret, status=200)


def _delivery_page(
    request: HttpRequest, delivery: Delivery, *, status: int = 200, error: str = ""
) -> HttpResponse:
    body = json.dumps(json.loads(delivery.event.body), indent=2)
    context = {
        "delivery": delivery,
        "body": body,
        "error": error,
        "event_labels": dict(EventType.choices),
    }
    return render(request, "outbound/delivery.html", context, status=status)


def _delivery_or_404(delivery_id: int) -> Delivery:
    delivery = selectors.delivery_get(delivery_id=delivery_id)
    if delivery is None:
        raise Http404("There is no such delivery.")
    return delivery


@require_safe
@manager_view
def delivery_detail(request: HttpRequest, delivery_id: int) -> HttpResponse:
    return _delivery_page(request, _delivery_or_404(delivery_id))


@require_POST
@manager_view
def delivery_redeliver(request: HttpRequest, delivery_id: int) -> HttpResponse:
    try:
        delivery = services.delivery_redeliver(actor=request.user, delivery_id=delivery_id)
    except services.EndpointNotFound as exc:
        raise Http404(exc.message) from None
    except ApplicationError as exc:
        delivery = _delivery_or_404(delivery_id)
        return _delivery_page(request, delivery, status=exc.status, error=exc.message)
    messages.success(request, "Sent again.")
    return HttpResponseRedirect(reverse("outbound_delivery", args=[delivery.pk]))
