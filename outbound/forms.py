"""Forms of the integrations pages: they shape what a manager typed; the services hold the
rules (which URLs are allowed, which event types exist) and their errors land on these
fields."""

from django import forms

from outbound.addresses import URL_MAX, UnsafeAddress, url_parse
from outbound.models import WEBHOOK_EVENT_TYPES, EventType
from outbound.services import DESCRIPTION_MAX

EVENT_CHOICES = [(value, EventType(value).label) for value in WEBHOOK_EVENT_TYPES]


class EndpointForm(forms.Form):
    url = forms.CharField(
        label="Endpoint URL",
        max_length=URL_MAX,
        help_text="Where events are POSTed, as JSON, e.g. https://crm.example.com/hooks/handoff.",
        widget=forms.URLInput(attrs={"autocomplete": "off", "inputmode": "url"}),
    )
    description = forms.CharField(label="Description", max_length=DESCRIPTION_MAX, required=False)
    event_types = forms.MultipleChoiceField(
        label="Events to send",
        choices=EVENT_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one event type."},
    )

    def clean_url(self) -> str:
        """The URL's form (scheme, host, no credentials) is checked here, so its problem is
        named beside the others; the service resolves the host."""
        url = self.cleaned_data["url"]
        try:
            url_parse(url)
        except UnsafeAddress as exc:
            raise forms.ValidationError(exc.message) from None
        return url.strip()


class EndpointEditForm(EndpointForm):
    is_active = forms.BooleanField(
        label="On", required=False, help_text="Off: nothing is sent to this endpoint."
    )


class SlackForm(forms.Form):
    slack_url = forms.CharField(
        label="Slack incoming-webhook URL",
        max_length=URL_MAX,
        help_text="From your Slack app's Incoming Webhooks page: "
        "https://hooks.slack.com/services/….",
        widget=forms.URLInput(attrs={"autocomplete": "off", "inputmode": "url"}),
    )
