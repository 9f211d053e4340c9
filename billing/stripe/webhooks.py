"""The Stripe webhook endpoint: verify, store once, acknowledge, process later.

Every event whose ``Stripe-Signature`` checks out is stored once — the unique
``StripeEvent.stripe_id`` decides, in the INSERT itself, so two deliveries racing each
other store one row — and acknowledged at once; a Celery task processes it after the
commit. The request itself
never calls Stripe. A delivery of an event stored before answers ``"duplicate": true`` and
processes nothing again.
"""

import logging

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.json_body import JSON_MEDIA_TYPE, BodyRefused
from billing.stripe import client
from billing.stripe.inbox import EventMalformed, stripe_event_store
from billing.tasks import stripe_event_process

logger = logging.getLogger(__name__)


def stripe_event_enqueue(event_id: int) -> None:
    """Queue the processing of a stored event (after the commit that stored it)."""
    stripe_event_process.delay(event_id)


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    """``POST /billing/stripe/webhook/``: 415 for a body that is not ``application/json``; 400
    with the reason for a body that is not UTF-8, a missing, wrong or stale signature, or a
    signed body that is not strict JSON (nothing stored); 200 ``{"received": true}`` once the
    event is stored, with ``"duplicate": true`` for an event received before. The size cap is
    ``RequestBodyMiddleware``'s (413)."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        return JsonResponse(
            {"error": "STRIPE_WEBHOOK_SECRET is not configured: no webhook can be verified."},
            status=503,
        )
    if not request.body:
        return JsonResponse({"error": "Not a Stripe event: the body is empty."}, status=400)
    if request.content_type != JSON_MEDIA_TYPE:
        return JsonResponse(
            {
                "error": f"Not a Stripe event: the body is {request.content_type or 'untyped'}, "
                f"not {JSON_MEDIA_TYPE}."
            },
            status=415,
        )
    try:
        # Stripe signs UTF-8 JSON; its SDK decodes the body before checking the signature, so
        # any other bytes are refused here, before the SDK sees them.
        request.body.decode("utf-8")
    except UnicodeDecodeError:
        return JsonResponse(
            {"error": "Not a Stripe event: the body is not UTF-8 text."}, status=400
        )
    try:
        event = client.webhook_event_verify(
            request.body, request.headers.get("Stripe-Signature"), secret
        )
        stored_id = stripe_event_store(event=event)
        if stored_id is not None:
            transaction.on_commit(lambda: stripe_event_enqueue(stored_id), robust=True)
    except client.SignatureInvalid as exc:
        logger.warning("stripe webhook refused: %s", exc)
        return JsonResponse({"error": f"Invalid Stripe signature: {exc}"}, status=400)
    except BodyRefused as exc:
        return JsonResponse({"error": f"Not a Stripe event: {exc.message}"}, status=exc.status)
    except EventMalformed as exc:
        return JsonResponse({"error": f"Not a Stripe event: {exc}"}, status=400)
    if stored_id is None:
        return JsonResponse({"received": True, "duplicate": True})
    return JsonResponse({"received": True, "duplicate": False, "id": event["id"]})
