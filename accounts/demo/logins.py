"""The four documented log-ins: a workspace owner, a sales rep, a sales manager and a billing
admin."""

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.contrib.auth.hashers import check_password
from django.contrib.auth.models import Group

from accounts import roles
from accounts.models import (
    User,
)


@dataclass(frozen=True)
class DemoLogin:
    """A documented log-in: its credentials, who it plays and the page to start from."""

    title: str
    email: str
    password: str
    full_name: str
    purpose: str
    path: str
    is_staff: bool = False
    groups: tuple[str, ...] = ()


DEMO_OWNER = DemoLogin(
    title="Workspace owner",
    email="owner@demo.handoff.test",
    password="handoff-demo-owner",  # noqa: S106 - documented demo credentials
    full_name="Alex Morgan",
    purpose="owner of Acme Analytics: members, invitations, API keys, onboarding",
    path="/",
)
SALES_REP = DemoLogin(
    title="Sales rep",
    email="sales@demo.handoff.test",
    password="handoff-demo-sales",  # noqa: S106 - documented demo credentials
    full_name="Sam Rivera",
    purpose=f'staff in the "{roles.SALES}" group: works the PQL queue (claim, contact, close)',
    path="/sales/",
    is_staff=True,
    groups=(roles.SALES,),
)
SALES_MANAGER = DemoLogin(
    title="Sales manager",
    email="manager@demo.handoff.test",
    password="handoff-demo-manager",  # noqa: S106 - documented demo credentials
    full_name="Riley Chen",
    purpose=(
        f'staff in "{roles.SALES}" and "{roles.SALES_MANAGERS}": assigns leads, bulk actions, '
        "the queue's SLA and round robin"
    ),
    path="/sales/",
    is_staff=True,
    groups=(roles.SALES, roles.SALES_MANAGERS),
)
BILLING_ADMIN = DemoLogin(
    title="Billing admin",
    email="billing@demo.handoff.test",
    password="handoff-demo-billing",  # noqa: S106 - documented demo credentials
    full_name="Jordan Blake",
    purpose=f'staff in the "{roles.BILLING_ADMINS}" group: plans, prices and limits in the admin',
    path="/admin/",
    is_staff=True,
    groups=(roles.BILLING_ADMINS,),
)
DEMO_LOGINS = (DEMO_OWNER, SALES_REP, SALES_MANAGER, BILLING_ADMIN)


class DemoSetupError(Exception):
    """The database lacks something the demo data needs (e.g. migrations not applied)."""


def _passwords_match(users: Sequence[User], passwords: Sequence[str]) -> list[bool]:
    """Whether each user's stored hash matches the password, checked in parallel.

    Each check costs one full password hash (about half a second with PBKDF2); hashlib
    releases the GIL while hashing, so threads keep a repeated run fast. The checks only
    compute: nothing here touches the database.
    """
    with ThreadPoolExecutor(max_workers=len(users) or 1) as pool:
        return list(
            pool.map(
                lambda user, password: check_password(password, user.password),
                users,
                passwords,
            )
        )


def _group_get(name: str) -> Group:
    group = Group.objects.filter(name=name).first()
    if group is None:
        raise DemoSetupError(f'The staff group "{name}" is missing: run `manage.py migrate`.')
    return group


def demo_logins_reset(*, logins: Sequence[DemoLogin]) -> dict[str, User]:
    """Create the log-ins, or put existing ones back as documented: password, active,
    staff flag and group. Returns the users by e-mail address.

    The documented passwords are set directly, not through ``services.user_create``: Django's
    validators refuse them (too close to the addresses), and the issue fixes them as they are.
    A password that already matches is left alone, so sessions stay logged in.
    """
    emails = [login.email for login in logins]
    existing = {user.email: user for user in User.objects.filter(email__in=emails)}
    to_check = [login for login in logins if login.email in existing]
    matches = _passwords_match(
        [existing[login.email] for login in to_check], [login.password for login in to_check]
    )
    password_ok = {login.email: ok for login, ok in zip(to_check, matches, strict=True)}

    users: dict[str, User] = {}
    for login in logins:
        user = existing.get(login.email)
        if user is None:
            user = User.objects.create_user(
                email=login.email,
                password=login.password,
                full_name=login.full_name,
                is_staff=login.is_staff,
            )
        else:
            flags = {"is_active": True, "is_staff": login.is_staff, "is_superuser": False}
            changed = [name for name, value in flags.items() if getattr(user, name) != value]
            for name in changed:
                setattr(user, name, flags[name])
            if not password_ok[login.email]:
                user.set_password(login.password)
                changed.append("password")
            if changed:
                user.save(update_fields=changed)
        wanted = [_group_get(name) for name in login.groups]
        if {group.pk for group in user.groups.all()} != {group.pk for group in wanted}:
            user.groups.set(wanted)
        users[login.email] = user
    return users


def seed_staff() -> list[User]:
    """The sales rep, the sales manager and the billing admin: staff, in their groups."""
    users = demo_logins_reset(logins=[SALES_REP, SALES_MANAGER, BILLING_ADMIN])
    return list(users.values())
