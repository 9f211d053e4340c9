"""Pacing calls to Stripe within its rate limit, for jobs that make many of them.

Stripe allows about 100 requests a second in live mode (25 in test mode) and answers 429
beyond. A ``Pacer`` spaces its calls at least ``1 / rate`` seconds apart
(``HANDOFF_STRIPE_RECONCILE_RATE``, 25 a second by default, leaving room for the webhooks'
own fetches), and when Stripe still answers 429 waits 1, 2, 4, 8 then 16 seconds before
trying again; a sixth 429 in a row is raised (``StripeRateLimited``, a
``StripeUnavailable``), and the job stops where it is, to carry on later.
"""

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings

from billing.stripe.client import StripeRateLimited

logger = logging.getLogger(__name__)

BACKOFF_SECONDS = (1, 2, 4, 8, 16)

T = TypeVar("T")


class Pacer:
    """Calls spaced at most ``rate`` a second, retried with backoff on a 429. ``sleep`` and
    ``clock`` are the time functions (the standard ones unless a caller passes its own)."""

    def __init__(
        self,
        rate: float | None = None,
        *,
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        rate = rate if rate is not None else settings.HANDOFF_STRIPE_RECONCILE_RATE
        if rate <= 0:
            raise ValueError("The rate must be a positive number of requests a second.")
        self.interval = 1 / rate
        self.sleep = sleep
        self.clock = clock
        self.next_at: float | None = None
        self.calls = 0

    def _wait_turn(self) -> None:
        now = self.clock()
        if self.next_at is not None and now < self.next_at:
            self.sleep(self.next_at - now)
            now = self.next_at
        self.next_at = now + self.interval

    def call(self, operation: Callable[[], T]) -> T:
        """``operation()`` (one Stripe request) in its turn; on a 429, again after each of
        ``BACKOFF_SECONDS``."""
        for delay in (*BACKOFF_SECONDS, None):
            self._wait_turn()
            self.calls += 1
            try:
                return operation()
            except StripeRateLimited:
                if delay is None:
                    raise
                logger.warning("Stripe rate limit reached: trying again in %s s", delay)
                self.sleep(delay)
        raise AssertionError("unreachable")
