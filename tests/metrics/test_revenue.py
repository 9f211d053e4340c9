"""Revenue figures, hand-computed figure by figure from small ledgers, as the page's
definitions state them."""

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import Plan, Price, Subscription
from metrics import selectors
from metrics.models import ExchangeRate
from metrics.selectors import Money, Period
from tests.metrics.conftest import Ledger, at, paying, set_metrics, signed_up

pytestmark = pytest.mark.django_db

JAN_TO_MAY = Period(first=date(2025, 1, 1), last=date(2025, 5, 1))
USD = Money(currency="usd")


def five_month_story() -> Ledger:
    """Steady pays $200 since January 2024. Story subscribes in January 2025 ($100), expands
    in February (+$50), contracts in March (-$30), churns in April and comes back in May
    ($80)."""
    paying("Steady", at(2024, 1, 15), 20000)
    story = Ledger(signed_up("Story", at(2025, 1, 2)))
    story.move("new", 10000, at(2025, 1, 10))
    story.move("expansion", 5000, at(2025, 2, 10))
    story.move("contraction", -3000, at(2025, 3, 10))
    story.move("churn", -12000, at(2025, 4, 10))
    story.move("reactivation", 8000, at(2025, 5, 10))
    return story


def test_five_month_story_month_by_month():
    five_month_story()
    result = selectors.revenue(period=JAN_TO_MAY, money=USD, settings=set_metrics())
    jan, feb, mar, apr, may = result.months

    assert (jan.start_mrr, jan.cents["new"], jan.end_mrr) == (20000, 10000, 30000)
    assert (jan.customers_start, jan.customers_end) == (1, 2)
    assert (jan.nrr, jan.grr, jan.quick_ratio) == (Decimal(1), Decimal(1), None)

    # February: +$50 on $300: net MRR churn (0 - 50) / 300 = -16.67%, NRR 116.67%.
    assert (feb.start_mrr, feb.cents["expansion"], feb.end_mrr) == (30000, 5000, 35000)
    assert feb.net_churn == Decimal("-0.1667")
    assert feb.nrr == Decimal("1.1667")
    assert feb.grr == Decimal(1)

    # March: -$30 on $350: gross MRR churn 8.57%, quick ratio 0 / 30 = 0.
    assert (mar.cents["contraction"], mar.end_mrr) == (-3000, 32000)
    assert mar.gross_churn == Decimal("0.0857")
    assert mar.net_churn == Decimal("0.0857")
    assert mar.grr == Decimal("0.9143")
    assert mar.quick_ratio == Decimal(0)

    # April: the $120 left churns out of $320: 37.5%; one paying workspace left.
    assert (apr.cents["churn"], apr.end_mrr, apr.customers_end) == (-12000, 20000, 1)
    assert apr.gross_churn == Decimal("0.375")
    assert apr.nrr == Decimal("0.625")
    assert apr.arpa == 20000

    # May: $80 back on $200: net MRR churn -40%, NRR 140%; ARPA $280 / 2 = $140.
    assert (may.cents["reactivation"], may.end_mrr, may.customers_end) == (8000, 28000, 2)
    assert may.net_churn == Decimal("-0.4")
    assert may.nrr == Decimal("1.4")
    assert may.arpa == 14000
    assert [m.net for m in result.months] == [10000, 5000, -3000, -12000, 8000]


def test_five_month_story_period_trailing_twelve_months_and_ltv():
    five_month_story()
    result = selectors.revenue(period=JAN_TO_MAY, money=USD, settings=set_metrics())

    # Quick ratio of the period: (100 + 50 + 80) / (30 + 120).
    assert result.total.quick_ratio == Decimal("1.5333")
    # June 2024 to May 2025 starts with Steady's $200: NRR (200 + 50 + 80 - 30 - 120) / 200,
    # GRR (200 - 30 - 120) / 200.
    assert result.trailing.start_mrr == 20000
    assert result.trailing.nrr == Decimal("0.9")
    assert result.trailing.grr == Decimal("0.25")
    # MRR now is every movement so far; ARPA now $280 / 2.
    assert (result.mrr_now, result.customers_now, result.arpa_now) == (28000, 2, 14000)
    # Monthly revenue churn: (0 + 0 + 30 + 120 + 0) / (200 + 300 + 350 + 320 + 200) = 10.95%;
    # LTV = $140 / 0.1095 = $1,278.54.
    assert result.monthly_revenue_churn == Decimal("0.1095")
    assert result.ltv == 127854


def test_five_month_story_on_the_page_with_its_definitions(client, billing_admin):
    five_month_story()
    client.force_login(billing_admin)
    response = client.get(reverse("metrics_dashboard"), {"from": "2025-01", "to": "2025-05"})
    page = response.content.decode()

    assert response.status_code == 200
    assert "$280" in page  # MRR now
    assert "$140" in page  # ARPA
    assert "116.7%" in page  # February's NRR
    assert "37.5%" in page  # April's gross MRR churn
    assert "$1,278.54" in page  # LTV
    assert "(churn + contraction \u2212 expansion \u2212 reactivation) ÷ MRR at the start" in page
    assert "ARPA now ÷ monthly revenue churn" in page
    assert "100% gross margin" in page


def test_yearly_subscriber_counts_a_twelfth_of_the_yearly_price():
    """The ledger records a yearly plan at a twelfth; a trial counted as MRR (when the
    setting says so) is worth a twelfth of its yearly catalog price too, halves up."""
    plan = Plan.objects.get(code="pro")
    yearly = Price.objects.create(
        plan=plan,
        interval="year",
        amount_cents=119_990,
        currency="usd",
        scheme="flat",
        is_active=False,
    )
    paying("Yearly", at(2025, 1, 10), 120_000 // 12)
    trial = signed_up("Trial", at(2025, 2, 1))
    Subscription.objects.filter(workspace=trial).update(
        status="trialing", plan=plan, price=yearly, seats=3
    )
    period = Period(first=date(2025, 1, 1), last=date(2025, 2, 1))

    without_trials = selectors.revenue(period=period, money=USD, settings=set_metrics())
    assert without_trials.months[0].cents["new"] == 10_000
    assert (without_trials.mrr_now, without_trials.trial_mrr) == (10_000, None)

    with_trials = selectors.revenue(
        period=period, money=USD, settings=set_metrics(trials_count_as_mrr=True)
    )
    # $1,199.90 a year, flat: (119,990 + 6) // 12 = 9,999.
    assert with_trials.trial_mrr == 9_999
    assert (with_trials.mrr_now, with_trials.customers_now) == (19_999, 2)
    # Past months never include trials.
    assert with_trials.months[-1].end_mrr == 10_000


def test_two_currencies_are_never_added_without_a_rate():
    paying("Dollars", at(2025, 1, 10), 10000, currency="usd")
    paying("Euros", at(2025, 1, 12), 5000, currency="eur")
    settings = set_metrics()
    period = Period(first=date(2025, 1, 1), last=date(2025, 1, 1))

    usd = selectors.revenue(period=period, money=USD, settings=settings)
    eur = selectors.revenue(period=period, money=Money(currency="eur"), settings=settings)
    assert (usd.mrr_now, usd.customers_now, usd.months[0].cents["new"]) == (10000, 1, 10000)
    assert (eur.mrr_now, eur.customers_now, eur.months[0].cents["new"]) == (5000, 1, 5000)

    no_rate = selectors.money_for(selection="all", settings=settings, in_use=["eur", "usd"])
    assert no_rate.missing == ("eur",)
    assert selectors.revenue(period=period, money=no_rate, settings=settings).mrr_now == 10000

    ExchangeRate.objects.create(currency="eur", rate=Decimal("1.08"))
    converted = selectors.money_for(selection="all", settings=settings, in_use=["eur", "usd"])
    result = selectors.revenue(period=period, money=converted, settings=settings)
    # $100 + €50 x 1.08 = $154, two paying workspaces, ARPA $77.
    assert (result.mrr_now, result.customers_now, result.arpa_now) == (15400, 2, 7700)


def test_conversion_scales_between_minor_units():
    """¥1,000 is 1,000 minor units and $1 is 100: at 0.0067 USD per JPY, ¥1,000 is $6.70."""
    money = Money(currency="usd", converted=True, rates={"jpy": Decimal("0.0067")})
    assert money.value("jpy", 1000) == 670
    euros = Money(currency="jpy", converted=True, rates={"eur": Decimal("160")})
    assert euros.value("eur", 150) == 240  # €1.50 at ¥160


def test_the_page_says_which_currencies_it_shows(client, billing_admin):
    paying("Dollars", at(2025, 1, 10), 10000, currency="usd")
    paying("Euros", at(2025, 1, 12), 5000, currency="eur")
    client.force_login(billing_admin)

    page = client.get(reverse("metrics_dashboard"), {"currency": "all"}).content.decode()
    assert "Left out, no rate recorded:</strong> EUR" in page

    ExchangeRate.objects.create(currency="eur", rate=Decimal("1.08"))
    page = client.get(reverse("metrics_dashboard"), {"currency": "all"}).content.decode()
    recorded = ExchangeRate.objects.get(currency="eur").recorded_at
    assert (
        "converted to USD</strong> at rates recorded by an admin: "
        f"1 EUR = 1.08 USD (recorded {recorded:%-d %b %Y})" in page
    )
    assert "$154" in page

    ExchangeRate.objects.filter(currency="eur").update(rate=Decimal(100))
    page = client.get(reverse("metrics_dashboard"), {"currency": "all"}).content.decode()
    assert "1 EUR = 100 USD" in page

    page = client.get(reverse("metrics_dashboard"), {"currency": "eur"}).content.decode()
    assert "Amounts in <strong>EUR</strong> only" in page
    assert "€50" in page


def same_month_cancel():
    paying("Steady", at(2024, 12, 1), 20000)
    Ledger(signed_up("Brief", at(2025, 3, 1))).move("new", 5000, at(2025, 3, 3)).move(
        "churn", -5000, at(2025, 3, 25)
    )


def test_same_month_subscribe_and_cancel_counts_by_default():
    same_month_cancel()
    march = Period(first=date(2025, 3, 1), last=date(2025, 3, 1))
    month = selectors.revenue(period=march, money=USD, settings=set_metrics()).months[0]

    assert (month.cents["new"], month.cents["churn"]) == (5000, -5000)
    assert (month.counts["new"], month.counts["churn"]) == (1, 1)
    assert month.gross_churn == Decimal("0.25")  # $50 of the $200 it started with
    assert (month.end_mrr, month.customers_end) == (20000, 1)


def test_same_month_subscribe_and_cancel_left_out_when_set():
    same_month_cancel()
    march = Period(first=date(2025, 3, 1), last=date(2025, 3, 1))
    settings = set_metrics(count_same_month_cancel=False)
    month = selectors.revenue(period=march, money=USD, settings=settings).months[0]

    assert (month.cents["new"], month.cents["churn"]) == (0, 0)
    assert (month.counts["new"], month.counts["churn"]) == (0, 0)
    assert month.gross_churn == Decimal(0)
    assert (month.end_mrr, month.customers_end) == (20000, 1)
    assert not selectors.movements_in(settings=settings, money=USD, month=date(2025, 3, 1))


def cancels_at_period_end():
    """Subscribes in January; asks to cancel on 20 February; the paid period ends, and the
    ledger records the churn, on 5 March."""
    paying("Steady", at(2024, 12, 1), 20000)
    Ledger(signed_up("Leaving", at(2025, 1, 2))).move("new", 3000, at(2025, 1, 5)).cancel(
        at(2025, 2, 20), comment="Too dear for us"
    ).move("churn", -3000, at(2025, 3, 5))


def test_churn_counts_at_period_end_by_default():
    cancels_at_period_end()
    period = Period(first=date(2025, 1, 1), last=date(2025, 3, 1))
    _jan, feb, mar = selectors.revenue(period=period, money=USD, settings=set_metrics()).months

    assert (feb.cents["churn"], feb.end_mrr, feb.customers_end) == (0, 23000, 2)
    assert (mar.cents["churn"], mar.end_mrr, mar.customers_end) == (-3000, 20000, 1)
    assert mar.gross_churn == Decimal("0.1304")  # 30 / 230


def test_churn_counts_at_cancellation_when_set():
    cancels_at_period_end()
    period = Period(first=date(2025, 1, 1), last=date(2025, 3, 1))
    settings = set_metrics(churn_counted_at="cancellation")
    _jan, feb, mar = selectors.revenue(period=period, money=USD, settings=settings).months

    assert (feb.cents["churn"], feb.end_mrr, feb.customers_end) == (-3000, 20000, 1)
    assert feb.gross_churn == Decimal("0.1304")
    assert (mar.cents["churn"], mar.end_mrr) == (0, 20000)
    churn = selectors.movements_in(settings=settings, money=USD, month=date(2025, 2, 1)).get()
    assert churn.effective_at == at(2025, 2, 20)
    assert churn.occurred_at == at(2025, 3, 5)


def test_a_return_after_the_reactivation_window_counts_as_new():
    Ledger(signed_up("Back", at(2025, 1, 1))).move("new", 1000, at(2025, 1, 5)).move(
        "churn", -1000, at(2025, 2, 5)
    ).move("reactivation", 1000, at(2025, 6, 5))
    june = Period(first=date(2025, 6, 1), last=date(2025, 6, 1))

    default = selectors.revenue(period=june, money=USD, settings=set_metrics()).months[0]
    assert (default.cents["reactivation"], default.cents["new"]) == (1000, 0)

    window = set_metrics(reactivation_window_days=90)
    month = selectors.revenue(period=june, money=USD, settings=window).months[0]
    assert (month.cents["reactivation"], month.cents["new"]) == (0, 1000)
    assert month.customers_end == 1
