"""The metrics the billing pages list, in display order."""

from usage.models import Metric
from usage.selectors import metric_definitions


def metrics_in_order(keys: set[str]) -> list[Metric]:
    """The metrics named by ``keys`` (limits point to real metrics), counted ones (seats,
    projects) before metered ones, each group in the order they were defined."""
    return sorted(
        (m for key, m in metric_definitions().items() if key in keys),
        key=lambda m: (m.is_metered, m.pk),
    )
