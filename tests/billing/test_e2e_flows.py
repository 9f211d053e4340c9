"""Every self-serve billing flow end to end on the embedded default, as `make run` serves it:
a live server, the offline local gateway posting its signed webhooks to that server over
HTTP (``HANDOFF_SITE_URL``), Celery eager, so each webhook is delivered, stored and applied
before the gateway's answer reaches the service that called it.

The tests drive the pages as a person does, with a real HTTP client (``requests``): log in,
open the billing page, fill in and submit its forms, follow the redirects to the local
checkout and portal pages. They check what the person sees (the message, the plan shown)
and what is stored: the mirror, the cancellation, the audit log, the revenue ledger and its
invariant."""

import socket
import threading
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from django.urls import reverse

from accounts.models import AuditEvent
from billing.models import Cancellation, Invoice, Plan, Price, RevenueMovement, Subscription
from billing.stripe import local
from billing.stripe.local import LocalGateway
from tests.billing.conftest import ledger_violations
from tests.factories import PASSWORD, UserFactory, WorkspaceFactory, add_member

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

CARD_OK = "4242 4242 4242 4242"
CARD_FAILS = "4000 0000 0000 0341"  # attaches, then every payment fails


# A person with a browser, minus the browser -------------------------------------------------


@dataclass
class Form:
    id: str
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class _PageParser(HTMLParser):
    """The forms (with the values a browser would submit), the attributes of elements with
    an id, and the texts of the flash messages."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.by_id: dict[str, dict[str, str]] = {}
        self.messages: list[str] = []
        self.links: list[tuple[str, str]] = []  # (text, href)
        self.words: list[str] = []  # the text a person reads
        self._link: list[str] | None = None
        self._href = ""
        self._form: Form | None = None
        self._select: str | None = None
        self._select_first: str | None = None
        self._textarea: str | None = None
        self._in_messages = False
        self._message: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        if "id" in a:
            self.by_id[a["id"]] = a
        if tag == "a" and "href" in a:
            self._link, self._href = [], a["href"]
        if tag == "ul" and "messages" in a.get("class", "").split():
            self._in_messages = True
        elif tag == "li" and self._in_messages:
            self._message = []
        elif tag == "form":
            self._form = Form(a.get("id", ""), a.get("action", ""), a.get("method", "get").lower())
            self.forms.append(self._form)
        elif self._form is not None and tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("submit", "button", "image") or (
                kind in ("checkbox", "radio") and "checked" not in a
            ):
                return
            self._form.fields[a["name"]] = a.get("value", "")
        elif self._form is not None and tag == "select":
            self._select, self._select_first = a.get("name"), None
        elif self._form is not None and tag == "option" and self._select:
            if self._select_first is None:
                self._select_first = a.get("value", "")
                self._form.fields.setdefault(self._select, self._select_first)
            if "selected" in a:
                self._form.fields[self._select] = a.get("value", "")
        elif self._form is not None and tag == "textarea" and a.get("name"):
            self._textarea = a["name"]
            self._form.fields[self._textarea] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._link is not None:
            self.links.append((" ".join("".join(self._link).split()), self._href))
            self._link = None
        elif tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "li" and self._message is not None:
            self.messages.append(" ".join("".join(self._message).split()))
            self._message = None
        elif tag == "ul":
            self._in_messages = False

    def handle_data(self, data: str) -> None:
        if self.lasttag not in ("script", "style", "title"):
            self.words.append(data)
        if self._link is not None:
            self._link.append(data)
        if self._message is not None:
            self._message.append(data)
        if self._textarea is not None and self._form is not None:
            self._form.fields[self._textarea] += data


@dataclass
class Page:
    response: requests.Response

    def __post_init__(self) -> None:
        self._parsed = _PageParser()
        self._parsed.feed(self.response.text)

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def url(self) -> str:
        return self.response.url

    @property
    def path(self) -> str:
        return urlsplit(self.response.url).path

    @property
    def text(self) -> str:
        return self.response.text

    @property
    def reads(self) -> str:
        """The page's text, as a person reads it (tags dropped, spaces collapsed)."""
        return " ".join(" ".join(self._parsed.words).split())

    @property
    def messages(self) -> list[str]:
        return self._parsed.messages

    def has(self, element_id: str) -> bool:
        return element_id in self._parsed.by_id

    def attrs(self, element_id: str) -> dict[str, str]:
        assert element_id in self._parsed.by_id, f"no #{element_id} on {self.path}"
        return self._parsed.by_id[element_id]

    def form(self, form_id: str = "", *, action: str = "", having: dict | None = None) -> Form:
        """The form with this id, or posting to this action, or whose fields hold these
        values."""
        for form in self._parsed.forms:
            if form_id and form.id == form_id:
                return form
            if action and urlsplit(form.action).path == action:
                return form
            if having and all(form.fields.get(k) == v for k, v in having.items()):
                return form
        raise AssertionError(f"no form {form_id or action or having} on {self.path}")

    def link(self, text: str) -> str:
        """The address of the link whose text holds ``text``."""
        for label, href in self._parsed.links:
            if text in label:
                return href
        raise AssertionError(f"no link “{text}” on {self.path}")


class Visitor:
    """A person at the live server: one session (cookies, CSRF), following redirects."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()

    def open(self, path_or_url: str) -> Page:
        url = urljoin(self.base_url, path_or_url)
        return Page(self.http.get(url, timeout=60))

    def submit(
        self,
        page: Page,
        form_id: str = "",
        *,
        action: str = "",
        having: dict | None = None,
        headers: dict | None = None,
        **values: object,
    ) -> Page:
        """Fill in a form of ``page`` (its other fields keep what the page put in them,
        hidden ones and the CSRF token included) and submit it."""
        form = page.form(form_id, action=action, having=having)
        data = {**form.fields, **{key: str(value) for key, value in values.items()}}
        url = urljoin(page.url, form.action or page.url)
        if form.method == "post":
            headers = {"Referer": page.url, **(headers or {})}
            return Page(self.http.post(url, data=data, headers=headers, timeout=60))
        return Page(self.http.get(url, params=data, timeout=60))

    def follow(self, page: Page, link_text: str) -> Page:
        """Click the link whose text holds ``link_text``."""
        return self.open(urljoin(page.url, page.link(link_text)))

    def log_in(self, email: str) -> Page:
        login = self.open(reverse("login"))
        landed = self.submit(login, having={"next": ""}, username=email, password=PASSWORD)
        assert landed.status == 200
        assert landed.path != reverse("login"), landed.messages
        return landed


# Helpers ----------------------------------------------------------------------------------


def price_of(plan: str, interval: str = "month") -> Price:
    return Price.objects.select_related("plan").get(
        plan__code=plan, interval=interval, currency="usd", is_active=True
    )


def no_trial(*codes: str) -> None:
    Plan.objects.filter(code__in=codes).update(trial_days=0)


def billing_path(workspace) -> str:
    return reverse("workspace_billing", kwargs={"workspace_slug": workspace.slug})


def shown(page: Page) -> tuple[str, str, int]:
    """The plan, status and seats the billing page shows."""
    facts = page.attrs("subscription")
    return facts["data-plan"], facts["data-status"], int(facts["data-seats"])


def mirror(workspace) -> Subscription:
    return Subscription.objects.select_related("plan", "price").get(workspace=workspace)


def movements(workspace) -> list[tuple[str, int]]:
    return list(
        RevenueMovement.objects.filter(workspace=workspace)
        .order_by("occurred_at", "id")
        .values_list("kind", "mrr_delta_cents")
    )


def unreachable_url() -> str:
    """An address where nothing listens: the webhook endpoint is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def deliver_pending(site: str, settings, *, reverse_order: bool = False) -> int:
    """The endpoint is back: the local gateway sends the events it could not deliver (in
    the order they were sent, or the other way round)."""
    settings.HANDOFF_SITE_URL = site
    pending = LocalGateway().events_pending()
    for event_id in reversed(pending) if reverse_order else pending:
        assert local.event_deliver(event_id=event_id)
    return len(pending)


@pytest.fixture
def site(live_server, settings) -> str:
    """The embedded default's wiring: the local gateway posts its webhooks to the live
    server, as it posts them to ``make run``'s server."""
    settings.HANDOFF_SITE_URL = live_server.url
    settings.STRIPE_SECRET_KEY = ""
    return live_server.url


@pytest.fixture
def team():
    """Initech: an owner and an admin (2 seats used), on Free."""
    owner = UserFactory(email="founder@initech.io")
    workspace = WorkspaceFactory(name="Initech", created_by=owner)
    add_member(workspace, "cto@initech.io", role="admin")
    no_trial("pro", "business")
    return workspace


@pytest.fixture
def owner(site, team) -> Visitor:
    visitor = Visitor(site)
    visitor.log_in("founder@initech.io")
    return visitor


def check_out(visitor: Visitor, workspace, *, plan="pro", interval="month", seats=3, card=CARD_OK):
    """From the billing page through the local checkout page, paying with ``card``; the
    page the person lands on afterwards."""
    billing = visitor.open(billing_path(workspace))
    assert billing.status == 200
    checkout = visitor.submit(
        billing, "checkout-form", price=price_of(plan, interval).pk, seats=seats
    )
    assert checkout.status == 200, checkout.text
    assert checkout.path.startswith("/billing/local/checkout/cs_local_")
    return visitor.submit(checkout, "card-form", card_number=card)


def subscribed(visitor: Visitor, workspace, **kwargs) -> Page:
    returned = check_out(visitor, workspace, **kwargs)
    assert returned.attrs("checkout-status")["data-done"] == "true"
    return visitor.open(billing_path(workspace))


def preview_and_confirm(visitor: Visitor, billing: Page, **choice: str) -> tuple[Page, Page]:
    """The change form (a preview first, as the page offers), then its confirm button."""
    preview = visitor.submit(billing, "change-form", **choice)
    assert preview.status == 200, preview.messages or preview.text
    return preview, visitor.submit(preview, "confirm-form")


# Checkout ---------------------------------------------------------------------------------


def test_checkout_puts_the_workspace_on_the_plan_it_paid_for(owner, team):
    returned = check_out(owner, team, plan="pro", seats=3)

    assert returned.path == reverse("workspace_billing_return", args=[team.slug])
    assert returned.attrs("checkout-status")["data-done"] == "true"
    assert "Initech is on Pro with 3 seats." in returned.reads
    billing = owner.open(billing_path(team))
    assert shown(billing) == ("pro", "active", 3)
    assert "$36 per month" in billing.reads
    subscription = mirror(team)
    assert (subscription.plan.code, subscription.seats, subscription.status) == ("pro", 3, "active")
    assert Invoice.objects.get(workspace=team).status == "paid"
    assert movements(team) == [("new", 3_600)]
    assert LocalGateway().events_pending() == []
    assert ledger_violations() == []


def _at_once(*clicks) -> list[Page]:
    """Each click (a function returning the page it lands on) in its own thread, released
    together: two browser tabs submitted at the same moment."""
    start = threading.Barrier(len(clicks))
    pages: list[Page] = []

    def click(submit) -> None:
        start.wait()
        pages.append(submit())

    threads = [threading.Thread(target=click, args=(c,)) for c in clicks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return pages


def _second_tab(site: str, visitor: Visitor) -> Visitor:
    tab = Visitor(site)
    tab.http.cookies.update(visitor.http.cookies)
    return tab


def _charged_once(team) -> None:
    assert [(i.status, i.amount_paid_cents) for i in Invoice.objects.filter(workspace=team)] == [
        ("paid", 3_600)
    ]
    live = [
        data
        for data in LocalGateway().subscriptions()
        if data["metadata"].get("workspace_id") == str(team.pk) and data["status"] == "active"
    ]
    assert len(live) == 1
    subscription = mirror(team)
    assert (subscription.plan.code, subscription.seats, subscription.status) == ("pro", 3, "active")
    assert subscription.stripe_subscription_id == live[0]["id"]
    assert movements(team) == [("new", 3_600)]
    assert ledger_violations() == []


def test_two_tabs_paying_two_checkouts_of_one_workspace_subscribe_it_once(owner, team, site):
    tab = _second_tab(site, owner)
    pages = []
    for visitor in (owner, tab):  # each tab opened the checkout from the billing page
        billing = visitor.open(billing_path(team))
        pages.append(visitor.submit(billing, "checkout-form", price=price_of("pro").pk, seats=3))
    assert pages[0].path != pages[1].path  # two checkout sessions

    answers = _at_once(
        lambda: owner.submit(pages[0], "card-form", card_number=CARD_OK),
        lambda: tab.submit(pages[1], "card-form", card_number=CARD_OK),
    )

    assert sorted(answer.status for answer in answers) == [200, 409]
    refused = next(answer for answer in answers if answer.status == 409)
    assert "This workspace already has a subscription" in refused.reads
    paid = next(answer for answer in answers if answer.status == 200)
    assert paid.attrs("checkout-status")["data-done"] == "true"
    _charged_once(team)


def test_two_tabs_paying_the_same_checkout_charge_once(owner, team, site):
    billing = owner.open(billing_path(team))
    checkout = owner.submit(billing, "checkout-form", price=price_of("pro").pk, seats=3)
    tab = _second_tab(site, owner)
    same_page = tab.open(checkout.url)

    answers = _at_once(
        lambda: owner.submit(checkout, "card-form", card_number=CARD_OK),
        lambda: tab.submit(same_page, "card-form", card_number=CARD_OK),
    )

    assert sorted(answer.status for answer in answers) == [200, 409]
    refused = next(answer for answer in answers if answer.status == 409)
    assert "This checkout session is complete" in refused.reads
    _charged_once(team)


# Seat, plan and interval changes ----------------------------------------------------------


def test_adding_seats_previews_the_prorated_charge_then_applies_it(owner, team):
    billing = subscribed(owner, team, seats=3)

    preview, changed = preview_and_confirm(owner, billing, seats=5)

    assert int(preview.attrs("preview")["data-next"]) == 6_000  # 5 x $12
    assert 0 < int(preview.attrs("preview")["data-due"]) <= 2_400  # 2 seats, prorated
    assert changed.path == billing_path(team)
    assert "Subscription changed to Pro monthly, 5 seats." in changed.messages
    assert shown(changed) == ("pro", "active", 5)
    assert mirror(team).seats == 5
    assert movements(team) == [("new", 3_600), ("expansion", 2_400)]
    change = AuditEvent.objects.get(action=AuditEvent.Action.SUBSCRIPTION_CHANGED)
    assert (change.before["seats"], change.after["seats"]) == (3, 5)
    assert ledger_violations() == []


def test_removing_seats_lowers_the_bill_from_now_on(owner, team):
    billing = subscribed(owner, team, seats=4)

    _, changed = preview_and_confirm(owner, billing, seats=2)

    assert "Subscription changed to Pro monthly, 2 seats." in changed.messages
    assert shown(changed) == ("pro", "active", 2)
    assert movements(team) == [("new", 4_800), ("contraction", -2_400)]
    assert ledger_violations() == []


def test_changing_plan_moves_the_workspace_to_the_new_plan_and_its_limits(owner, team):
    billing = subscribed(owner, team, seats=3)
    business = price_of("business")

    preview, changed = preview_and_confirm(owner, billing, price=business.pk, seats=3)

    assert int(preview.attrs("preview")["data-next"]) == business.amount_for(3)
    assert f"Subscription changed to {business.plan.name} monthly, 3 seats." in changed.messages
    assert shown(changed)[0] == "business"
    plan_page = owner.open(reverse("workspace_plan", args=[team.slug]))
    assert business.plan.name in plan_page.reads
    assert mirror(team).price == business
    delta = business.amount_for(3) - 3_600
    assert movements(team) == [("new", 3_600), ("expansion", delta)]
    assert ledger_violations() == []


def test_switching_to_yearly_billing_restarts_the_period_for_a_year(owner, team):
    billing = subscribed(owner, team, seats=3)
    yearly = price_of("pro", "year")

    preview = owner.follow(billing, "Switch to yearly billing")
    changed = owner.submit(preview, "confirm-form")

    assert "Subscription changed to Pro yearly, 3 seats." in changed.messages
    subscription = mirror(team)
    assert subscription.price == yearly
    assert (subscription.current_period_end - subscription.current_period_start).days >= 365
    assert "per year" in changed.reads
    assert sum(delta for _, delta in movements(team)) == yearly.amount_for(3) // 12
    assert ledger_violations() == []


# Cancel and resume ------------------------------------------------------------------------


def test_cancel_with_a_reason_keeps_the_reason_and_ends_at_period_end(owner, team, site):
    billing = subscribed(owner, team, seats=3)

    canceled = owner.submit(
        billing, "cancel-form", reason="too_expensive", comment="Budget freeze until Q3"
    )

    assert canceled.status == 200, canceled.messages or canceled.text
    assert canceled.path == billing_path(team)
    assert "The subscription will end at the end of the period." in canceled.messages
    assert canceled.has("canceling")
    assert "Keep Pro" in canceled.reads
    cancellation = Cancellation.objects.get(workspace=team)
    assert (cancellation.reason, cancellation.comment, cancellation.requested_by.email) == (
        "too_expensive",
        "Budget freeze until Q3",
        "founder@initech.io",
    )
    assert cancellation.resumed_at is None
    requested = AuditEvent.objects.get(action=AuditEvent.Action.SUBSCRIPTION_CANCEL_REQUESTED)
    assert (requested.after["reason"], requested.after["comment"]) == (
        "too_expensive",
        "Budget freeze until Q3",
    )
    subscription = mirror(team)  # the webhook arrived before the page answered
    assert (subscription.cancel_at_period_end, subscription.plan.code) == (True, "pro")
    assert movements(team) == [("new", 3_600)]  # paid until the period ends

    # At the period's end (moved there with the staff time tool) the workspace is on Free.
    staff = Visitor(site)
    UserFactory(email="ops@handoff.test", is_staff=True)
    staff.log_in("ops@handoff.test")
    clock = staff.open(reverse("local_clock"))
    staff.submit(
        clock, having={"action": "advance", "subscription": subscription.stripe_subscription_id}
    )

    ended = owner.open(billing_path(team))
    assert shown(ended)[:2] == ("free", "canceled")
    assert movements(team) == [("new", 3_600), ("churn", -3_600)]
    assert Cancellation.objects.get(workspace=team).reason == "too_expensive"
    assert ledger_violations() == []


@pytest.mark.parametrize("webhook_first", [True, False], ids=["webhook-first", "answer-first"])
def test_cancel_keeps_the_reason_whichever_arrives_first_the_answer_or_the_webhook(
    owner, team, site, settings, webhook_first
):
    billing = subscribed(owner, team, seats=3)
    if not webhook_first:  # the endpoint is down: the gateway answers, its webhook waits
        settings.HANDOFF_SITE_URL = unreachable_url()

    canceled = owner.submit(billing, "cancel-form", reason="missing_features", comment="No SSO")

    assert canceled.status == 200, canceled.messages or canceled.text
    assert "The subscription will end at the end of the period." in canceled.messages
    assert canceled.has("canceling")
    assert mirror(team).cancel_at_period_end is webhook_first
    assert deliver_pending(site, settings) == (0 if webhook_first else 1)
    assert mirror(team).cancel_at_period_end is True
    assert owner.open(billing_path(team)).has("canceling")
    cancellation = Cancellation.objects.get(workspace=team)
    assert (cancellation.reason, cancellation.comment, cancellation.resumed_at) == (
        "missing_features",
        "No SSO",
        None,
    )
    assert AuditEvent.objects.filter(action="subscription.cancel_requested").count() == 1
    assert ledger_violations() == []


@pytest.mark.parametrize("reverse_order", [False, True], ids=["in-order", "resume-event-first"])
def test_cancel_then_resume_before_any_webhook_arrives_ends_renewing_whatever_their_order(
    owner, team, site, settings, reverse_order
):
    billing = subscribed(owner, team, seats=3)
    settings.HANDOFF_SITE_URL = unreachable_url()
    canceled = owner.submit(billing, "cancel-form", reason="too_expensive", comment="")
    assert canceled.has("canceling")

    resumed = owner.submit(canceled, action=reverse("workspace_billing_resume", args=[team.slug]))

    assert "The subscription continues: it renews as before." in resumed.messages
    assert not resumed.has("canceling")
    assert deliver_pending(site, settings, reverse_order=reverse_order) == 2
    page = owner.open(billing_path(team))
    assert not page.has("canceling")
    assert page.has("cancel-form")
    assert mirror(team).cancel_at_period_end is False
    cancellation = Cancellation.objects.get(workspace=team)
    assert (cancellation.reason, cancellation.resumed_at is not None) == ("too_expensive", True)
    assert ledger_violations() == []


def test_a_double_submit_of_the_cancel_form_records_one_cancellation(owner, team, site):
    billing = subscribed(owner, team, seats=3)
    second_tab = Visitor(site)
    second_tab.http.cookies.update(owner.http.cookies)
    start = threading.Barrier(2)
    answers: list[Page] = []

    def submit(visitor: Visitor) -> None:
        start.wait()
        answers.append(visitor.submit(billing, "cancel-form", reason="unused", comment="Twice"))

    clicks = [threading.Thread(target=submit, args=(v,)) for v in (owner, second_tab)]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join(timeout=60)

    assert sorted(answer.status for answer in answers) == [200, 409]
    refused = next(answer for answer in answers if answer.status == 409)
    assert any("already set to end" in message for message in refused.messages)
    assert Cancellation.objects.filter(workspace=team).count() == 1
    assert AuditEvent.objects.filter(action="subscription.cancel_requested").count() == 1
    assert mirror(team).cancel_at_period_end is True


def test_a_second_cancel_is_refused_with_its_reason_and_records_nothing_more(owner, team):
    billing = subscribed(owner, team, seats=3)
    owner.submit(billing, "cancel-form", reason="unused", comment="")

    again = owner.submit(billing, "cancel-form", reason="too_complex", comment="stale tab")

    assert again.status == 409
    assert any("already set to end" in message for message in again.messages), again.text
    assert list(Cancellation.objects.values_list("reason", flat=True)) == ["unused"]
    assert AuditEvent.objects.filter(action="subscription.cancel_requested").count() == 1


def test_resume_keeps_the_subscription_and_the_cancellation_on_record(owner, team):
    billing = subscribed(owner, team, seats=3)
    canceled = owner.submit(billing, "cancel-form", reason="switched_service", comment="")
    assert canceled.has("canceling")

    resumed = owner.submit(canceled, action=reverse("workspace_billing_resume", args=[team.slug]))

    assert resumed.status == 200, resumed.messages or resumed.text
    assert "The subscription continues: it renews as before." in resumed.messages
    assert not resumed.has("canceling")
    assert resumed.has("cancel-form")
    assert mirror(team).cancel_at_period_end is False
    cancellation = Cancellation.objects.get(workspace=team)
    assert (cancellation.reason, cancellation.resumed_at is not None) == ("switched_service", True)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SUBSCRIPTION_RESUMED).count() == 1
    assert movements(team) == [("new", 3_600)]
    assert ledger_violations() == []


# A failed payment -------------------------------------------------------------------------


def test_a_failed_payment_is_shown_then_fixed_in_the_portal(owner, team):
    returned = check_out(owner, team, seats=2, card=CARD_FAILS)

    assert "the payment failed" in returned.reads
    billing = owner.open(billing_path(team))
    assert shown(billing) == ("pro", "past_due", 2)
    assert billing.has("past-due")
    assert billing.has("past-due-banner")
    assert Invoice.objects.get(workspace=team).status == "open"
    assert movements(team) == [("new", 2_400)]  # billed, not yet paid: still MRR

    portal = owner.submit(billing, "portal-form")
    assert portal.path.startswith("/billing/local/portal/cus_local_")
    fixed = owner.submit(portal, "card-form", card_number=CARD_OK)

    assert "Card replaced. 1 unpaid invoice paid." in fixed.messages
    back = owner.open(billing_path(team))
    assert shown(back) == ("pro", "active", 2)
    assert not back.has("past-due-banner")
    assert Invoice.objects.get(workspace=team).status == "paid"
    assert mirror(team).past_due_since is None
    assert ledger_violations() == []
