from django.apps import AppConfig


class OutboundConfig(AppConfig):
    """Telling sales where it already works: new leads and missed first contacts in Slack,
    signed webhooks to CRMs and other tools, and a weekly e-mail digest for managers."""

    name = "outbound"
    verbose_name = "Outbound"

    def ready(self) -> None:
        from outbound import receivers  # noqa: F401 - connects to pql's and billing's signals
