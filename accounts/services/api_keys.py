"""API keys: creating, revoking, and authenticating a request's key."""

import hmac
import secrets
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.errors import ApplicationError, Conflict
from accounts.models import (
    ApiKey,
    AuditEvent,
    OnboardingStep,
    User,
    Workspace,
)
from accounts.services._common import _acting_membership
from accounts.services.onboarding import onboarding_step_complete
from accounts.tokens import hash_secret

API_KEY_PREFIX = "hk"


@transaction.atomic
def api_key_create(
    *, workspace: Workspace, name: str, actor: User, now: datetime | None = None
) -> tuple[ApiKey, str]:
    """Create an API key; returns the row and the full key, which is shown once only."""
    name = name.strip()
    if not name:
        raise ApplicationError("Give the key a name, such as where it is used.", field="name")
    if len(name) > 100:
        raise ApplicationError("Keep the name to 100 characters.", field="name")
    _acting_membership(workspace=workspace, actor=actor)
    now = now or timezone.now()
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        workspace=workspace,
        name=name,
        prefix=prefix,
        secret_hash=hash_secret(secret),
        created_by=actor,
        created_at=now,
    )
    audit_record(
        action=AuditEvent.Action.API_KEY_CREATED,
        workspace=workspace,
        actor=actor,
        subject=f"{name} ({prefix})",
        now=now,
    )
    onboarding_step_complete(workspace=workspace, step=OnboardingStep.Key.CREATE_API_KEY, now=now)
    return api_key, f"{API_KEY_PREFIX}_{prefix}_{secret}"


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor: User, now: datetime | None = None) -> ApiKey:
    """Revoke a key; requests with it are refused from then on."""
    now = now or timezone.now()
    api_key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    _acting_membership(workspace=api_key.workspace, actor=actor)
    if api_key.revoked_at is not None:
        raise Conflict("This API key is already revoked.")
    api_key.revoked_at = now
    api_key.save(update_fields=["revoked_at", "updated_at"])
    audit_record(
        action=AuditEvent.Action.API_KEY_REVOKED,
        workspace=api_key.workspace,
        actor=actor,
        subject=f"{api_key.name} ({api_key.prefix})",
        now=now,
    )
    return api_key


# How stale ``last_used_at`` may get before a request writes it again.
API_KEY_TOUCH_INTERVAL = timedelta(minutes=1)


def api_key_authenticate(*, raw_key: str, now: datetime | None = None) -> ApiKey | None:
    """The active key matching ``raw_key``, or None. Records when the key was last used
    (at most once a minute per key)."""
    scheme, _, rest = raw_key.partition("_")
    prefix, _, secret = rest.partition("_")
    if scheme != API_KEY_PREFIX or not prefix or not secret:
        return None
    api_key = (
        ApiKey.objects.select_related("workspace")
        .filter(prefix=prefix, revoked_at__isnull=True)
        .first()
    )
    if api_key is None or not hmac.compare_digest(api_key.secret_hash, hash_secret(secret)):
        return None
    now = now or timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= API_KEY_TOUCH_INTERVAL:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key
