"""The ``money`` template filter: integer minor units plus a currency code, as text."""

from decimal import Decimal

import pytest
from django.template import Context, Template

from billing.templatetags.money import money


@pytest.mark.parametrize(
    ("cents", "currency", "expected"),
    [
        (1200, "usd", "$12"),
        (1250, "usd", "$12.50"),
        (1205, "usd", "$12.05"),
        (5, "usd", "$0.05"),
        (0, "usd", "$0"),
        (120_000, "usd", "$1,200"),
        (123_456_789, "usd", "$1,234,567.89"),
    ],
)
def test_money_shows_whole_amounts_without_cents_and_others_with_two_digits(
    cents, currency, expected
):
    assert money(cents, currency) == expected


@pytest.mark.parametrize(
    ("cents", "currency", "expected"),
    [(900, "eur", "€9"), (999, "eur", "€9.99"), (1500, "gbp", "£15"), (1550, "GBP", "£15.50")],
)
def test_money_uses_the_symbol_of_euro_and_pound(cents, currency, expected):
    assert money(cents, currency) == expected


def test_money_shows_an_unknown_currency_code_in_upper_case():
    assert money(1250, "chf") == "CHF 12.50"
    assert money(1200, "sek") == "SEK 12"


def test_money_takes_zero_decimal_currencies_in_whole_units():
    assert money(1200, "jpy") == "¥1,200"


def test_money_shows_negative_amounts_with_a_leading_minus():
    assert money(-1250, "usd") == "-$12.50"


@pytest.mark.parametrize("value", [12.5, "12.5", None, "", "abc", Decimal("12.5"), True])
def test_money_renders_nothing_for_what_is_not_an_integer_amount(value):
    assert money(value, "usd") == ""


def test_money_accepts_integral_decimals_and_digit_strings():
    assert money(Decimal(1200), "usd") == "$12"
    assert money("1250", "usd") == "$12.50"


def test_money_filter_in_a_template():
    template = Template("{% load money %}{{ price.amount_cents|money:price.currency }}")

    rendered = template.render(Context({"price": {"amount_cents": 2400, "currency": "eur"}}))

    assert rendered == "€24"
