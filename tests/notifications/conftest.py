"""Helpers of the notifications tests: usage reported through the real ingestion API, with
the work queued on commit run as it would be after the request's transaction commits."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts import services as accounts_services

URL = "/api/v1/usage/events"


def usage_event(key: str, quantity: int, metric: str = "api_calls") -> dict:
    at = (timezone.now() - timedelta(seconds=5)).isoformat()
    return {"metric": metric, "quantity": quantity, "idempotency_key": key, "timestamp": at}


def post_usage(raw_key: str, events: list[dict]):
    return Client().post(
        URL,
        data=json.dumps({"events": events}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw_key}",
    )


@pytest.fixture
def api_key(workspace) -> str:
    _, raw_key = accounts_services.api_key_create(
        workspace=workspace, name="ingest", actor=workspace.created_by
    )
    return raw_key


@pytest.fixture
def report(api_key, django_capture_on_commit_callbacks):
    """``report(events)``: POST a batch for the ``workspace`` fixture; what its commit
    queues (the usage alert check, the e-mails) runs before this returns."""

    def send(events: list[dict]):
        with django_capture_on_commit_callbacks(execute=True):
            response = post_usage(api_key, events)
        assert response.status_code == 200, response.content
        return response

    return send
