"""Forms of the self-serve billing pages. They check the shape of the input (a whole number
of seats, a price that exists, a reason from the list); the services check the rest (a
price on offer, in the workspace's currency, seats that fit the team)."""

from django import forms

from billing.models import Cancellation, Price
from billing.services import COMMENT_MAX_LENGTH, MAX_SEATS


class PriceChoiceField(forms.ModelChoiceField):
    default_error_messages = {
        "invalid_choice": "Choose a plan and interval: that price does not exist.",
    }


class SubscriptionChoiceForm(forms.Form):
    """A price (plan and interval) and a number of seats: the checkout, the change preview
    and the change itself."""

    price = PriceChoiceField(
        queryset=Price.objects.select_related("plan"),
        error_messages={"required": "Choose a plan and interval."},
    )
    seats = forms.IntegerField(
        min_value=1,
        max_value=MAX_SEATS,
        error_messages={
            "required": "Say how many seats.",
            "invalid": "Seats must be a whole number.",
            "min_value": "Choose at least 1 seat.",
            "max_value": f"Self-serve billing goes up to {MAX_SEATS:,} seats.",
        },
    )


class CancelForm(forms.Form):
    reason = forms.ChoiceField(
        choices=[("", "Choose a reason…"), *Cancellation.Reason.choices],
        label="Why are you cancelling?",
        error_messages={
            "required": "Choose a reason for cancelling.",
            "invalid_choice": "Choose a reason from the list.",
        },
    )
    comment = forms.CharField(
        required=False,
        max_length=COMMENT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Anything we should know? (optional)",
    )


class CardForm(forms.Form):
    """The card field of the local checkout and portal pages (test cards only)."""

    card_number = forms.CharField(
        max_length=30,
        label="Card number",
        initial="4242 4242 4242 4242",
        help_text="Test cards: 4242 4242 4242 4242 succeeds; 4000 0000 0000 0341 is "
        "accepted, then its payments fail; 4000 0000 0000 0002 is declined.",
        error_messages={"required": "Enter a card number."},
    )
