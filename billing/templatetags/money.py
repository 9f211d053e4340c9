"""Money in templates: ``{{ price.amount_cents|money:price.currency }}`` → "$12", "$12.50",
"€9". Amounts are integer minor units; this is the only place they become text."""

from decimal import Decimal

from django import template

register = template.Library()

SYMBOLS = {
    "usd": "$",
    "eur": "€",
    "gbp": "£",
    "jpy": "¥",
    "inr": "₹",
    "krw": "₩",
}

# Currencies without a minor unit: Stripe takes their amounts in whole units.
ZERO_DECIMAL = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)


def _as_int(value: object) -> int | None:
    """An integer amount, or None for anything that is not one (floats included: money is
    never a float)."""
    if isinstance(value, bool | float):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


@register.filter
def money(cents: object, currency: str) -> str:
    """Format an amount in minor units: whole amounts without decimals ("$12"), others with
    two ("$12.50"), thousands grouped ("$1,200"). A currency without a known symbol shows
    its code in upper case ("CHF 12.50"). Anything that is not an integer amount renders
    as an empty string."""
    amount = _as_int(cents)
    if amount is None:
        return ""
    code = (currency or "").strip().lower()
    sign = "-" if amount < 0 else ""
    if code in ZERO_DECIMAL:
        number = f"{abs(amount):,}"
    else:
        units, minor = divmod(abs(amount), 100)
        number = f"{units:,}" if minor == 0 else f"{units:,}.{minor:02d}"
    if code in SYMBOLS:
        return f"{sign}{SYMBOLS[code]}{number}"
    if code:
        return f"{sign}{code.upper()} {number}"
    return f"{sign}{number}"
