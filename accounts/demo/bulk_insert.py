"""Bulk-inserting the planned demo workspaces that are missing."""

import random
import secrets
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils.text import slugify

from accounts.demo.bulk_plan import PlannedWorkspace, workspaces_plan
from accounts.models import (
    ApiKey,
    Invitation,
    Membership,
    OnboardingStep,
    User,
    Workspace,
)
from accounts.tokens import hash_secret

_INVITE_LEAD = timedelta(hours=3)


def _chunked[T](items: Sequence[T], size: int = 500) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _values_in[M](queryset: QuerySet[M], field_name: str, values: Sequence[str]) -> Iterator[M]:
    """Rows whose ``field_name`` is one of ``values``, asked in chunks (SQLite caps the
    number of query parameters)."""
    for chunk in _chunked(values):
        yield from queryset.filter(**{f"{field_name}__in": chunk})


def _free_slugs(names: Sequence[str]) -> list[str]:
    """A slug per name, as ``workspace_create`` makes it, avoiding slugs already taken."""
    wanted = [slugify(name)[:50].strip("-") or "workspace" for name in names]
    taken = {ws.slug for ws in _values_in(Workspace.objects.only("slug"), "slug", wanted)}
    slugs = []
    for base in wanted:
        slug = base
        while slug in taken or (slug != base and Workspace.objects.filter(slug=slug).exists()):
            slug = f"{base}-{secrets.token_hex(3)}"
        taken.add(slug)
        slugs.append(slug)
    return slugs


def _workspaces_insert(
    plans: Sequence[PlannedWorkspace],
) -> tuple[list[tuple[Workspace, PlannedWorkspace]], int]:
    """Bulk-insert planned workspaces with their members, onboarding steps and API keys.
    Keeps what ``membership_create`` keeps: each workspace has an owner, a user has one
    membership per workspace, addresses are lower-case. Returns the workspaces created with
    their plans, and the number of new users. (Their subscriptions are billing's rows:
    ``billing.demo.subscriptions_seed``.)"""
    planned_members = {m.email: m for plan in plans for m in plan.members}
    users = {
        user.email: user
        for user in _values_in(User.objects.only("email"), "email", list(planned_members))
    }
    new_users = []
    for email, member in planned_members.items():
        if email in users:
            continue
        user = User(email=email, full_name=member.full_name, date_joined=member.joined_at)
        user.set_unusable_password()  # bulk users never log in: no password hashing
        new_users.append(user)
    User.objects.bulk_create(new_users)
    users.update((user.email, user) for user in new_users)

    workspaces = Workspace.objects.bulk_create(
        Workspace(
            name=plan.name,
            slug=slug,
            company_domain=plan.company_domain,
            time_zone=plan.time_zone,
            created_by=users[plan.members[0].email],
            created_at=plan.created_at,
            activated_at=plan.activated_at,
            is_demo=True,
            team_size=plan.team_size,
            use_case=plan.use_case,
            signup_source=plan.signup_source,
        )
        for plan, slug in zip(plans, _free_slugs([plan.name for plan in plans]), strict=True)
    )
    Membership.objects.bulk_create(
        Membership(
            workspace=workspace,
            user=users[member.email],
            role=member.role,
            created_at=member.joined_at,
        )
        for plan, workspace in zip(plans, workspaces, strict=True)
        for member in plan.members
    )
    ttl = timedelta(days=settings.HANDOFF_INVITATION_TTL_DAYS)
    # Each teammate joined through an invitation the owner sent some hours before.
    Invitation.objects.bulk_create(
        Invitation(
            workspace=workspace,
            email=member.email,
            role=member.role,
            token_hash=hash_secret(secrets.token_urlsafe(32)),
            invited_by=users[plan.members[0].email],
            sent_at=member.joined_at - _INVITE_LEAD,
            expires_at=member.joined_at - _INVITE_LEAD + ttl,
            accepted_at=member.joined_at,
            accepted_by=users[member.email],
            created_at=member.joined_at - _INVITE_LEAD,
        )
        for plan, workspace in zip(plans, workspaces, strict=True)
        for member in plan.members[1:]
    )
    OnboardingStep.objects.bulk_create(
        OnboardingStep(workspace=workspace, key=key, completed_at=completed_at)
        for plan, workspace in zip(plans, workspaces, strict=True)
        for key, completed_at in plan.steps.items()
    )
    # Real random secrets (never the seeded generator): nobody can rebuild these keys.
    ApiKey.objects.bulk_create(
        ApiKey(
            workspace=workspace,
            name=plan.api_key_name,
            prefix=secrets.token_hex(6),
            secret_hash=hash_secret(secrets.token_urlsafe(32)),
            created_by=workspace.created_by,
            created_at=plan.steps[OnboardingStep.Key.CREATE_API_KEY],
            last_used_at=plan.api_key_last_used_at,
        )
        for plan, workspace in zip(plans, workspaces, strict=True)
        if plan.api_key_name
    )
    return list(zip(workspaces, plans, strict=True)), len(new_users)


def seed_workspaces(
    *, rng: random.Random, now: datetime
) -> tuple[list[tuple[Workspace, PlannedWorkspace]], int]:
    """The bulk demo workspaces; inserts only planned ones not there yet (by company
    domain), so a repeated run asks one query and writes nothing. Returns the workspaces
    created with their plans, and the number of users created."""
    plans = workspaces_plan(rng=rng, now=now)
    # Recognised by company domain, or by name for sign-ups with a personal address.
    present = set(
        Workspace.objects.filter(
            company_domain__in=[plan.company_domain for plan in plans if plan.company_domain]
        ).values_list("company_domain", flat=True)
    ) | set(
        Workspace.objects.filter(
            is_demo=True, name__in=[plan.name for plan in plans if not plan.company_domain]
        ).values_list("name", flat=True)
    )
    missing = [plan for plan in plans if (plan.company_domain or plan.name) not in present]
    if not missing:
        return [], 0
    return _workspaces_insert(missing)
