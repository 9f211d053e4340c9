"""Demo data for the embedded default, built by ``manage.py seed_demo``.

Three documented log-ins (a workspace owner, a sales rep, a billing admin), the owner's
workspace "Acme Analytics" with teammates and a pending invitation, and a few hundred other
workspaces with members, sign-up dates over the past year and onboarding progress.

Every step is idempotent. The log-ins and Acme Analytics go through ``accounts.services``;
the bulk workspaces are planned from a seeded ``random.Random`` (the same plan on every run,
with dates relative to ``now``) and bulk-inserted. They are recognised by their company
domains, so a later run inserts only the planned workspaces that are missing (none, usually)
at the cost of one query. Changing the word lists or the seed changes the plan: start from
an empty database after doing so.
"""

import hashlib
import math
import random
import secrets
import unicodedata
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth.hashers import check_password
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from django.utils.text import slugify

from accounts import roles, services
from accounts.models import (
    ApiKey,
    Invitation,
    InvitationStatus,
    Membership,
    OnboardingStep,
    Role,
    User,
    Workspace,
)
from accounts.tokens import hash_secret
from billing import services as billing_services
from billing.models import Plan, Subscription

SEED = 20_260_101
WORKSPACE_COUNT = 300
DEMO_API_KEY_NAME = "Demo key (seed_demo)"


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
    group: str | None = None


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
    purpose=f'staff in the "{roles.SALES}" group: plans read-only, overrides in the admin',
    path="/admin/",
    is_staff=True,
    group=roles.SALES,
)
BILLING_ADMIN = DemoLogin(
    title="Billing admin",
    email="billing@demo.handoff.test",
    password="handoff-demo-billing",  # noqa: S106 - documented demo credentials
    full_name="Jordan Blake",
    purpose=f'staff in the "{roles.BILLING_ADMINS}" group: plans, prices and limits in the admin',
    path="/admin/",
    is_staff=True,
    group=roles.BILLING_ADMINS,
)
DEMO_LOGINS = (DEMO_OWNER, SALES_REP, BILLING_ADMIN)


class DemoSetupError(Exception):
    """The database lacks something the demo data needs (e.g. migrations not applied)."""


# The three log-ins --------------------------------------------------------------------------


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
        wanted = [_group_get(login.group)] if login.group else []
        if {group.pk for group in user.groups.all()} != {group.pk for group in wanted}:
            user.groups.set(wanted)
        users[login.email] = user
    return users


def seed_staff() -> list[User]:
    """The sales rep and the billing admin: staff, each in their group."""
    users = demo_logins_reset(logins=[SALES_REP, BILLING_ADMIN])
    return list(users.values())


# Acme Analytics -----------------------------------------------------------------------------

DEMO_WORKSPACE_NAME = "Acme Analytics"
DEMO_WORKSPACE_DOMAIN = "acme-analytics.com"
# Acme's story, in days after its sign-up: teammates joining, a first API key.
_ACME_AGE = timedelta(days=45)
_ACME_FIRST_KEY_AFTER = timedelta(hours=3)
_ACME_TEAMMATES = (
    ("Priya Natarajan", "priya", Role.ADMIN, timedelta(days=1)),
    ("Tom Becker", "tom", Role.MEMBER, timedelta(days=2)),
    ("Lena Fischer", "lena", Role.MEMBER, timedelta(days=9)),
    ("Marcus Webb", "marcus", Role.MEMBER, timedelta(days=23)),
)
_ACME_INVITEE = "dana@acme-analytics.com"


def _acme_find(owner: User) -> Workspace | None:
    """The demo owner's demo workspace, whatever it was renamed to since. A database seeded
    before workspaces were marked as demo has it unmarked: the demo log-in's workspace
    under the documented name is Acme, and is marked now."""
    live = Workspace.objects.filter(created_by=owner, deleted_at__isnull=True)
    workspace = live.filter(is_demo=True, company_domain=DEMO_WORKSPACE_DOMAIN).first()
    if workspace is None:
        workspace = live.filter(
            name=DEMO_WORKSPACE_NAME, company_domain=DEMO_WORKSPACE_DOMAIN
        ).first()
        if workspace is not None:
            Workspace.objects.filter(pk=workspace.pk).update(is_demo=True)
            workspace.is_demo = True
    return workspace


def _acme_get_or_create(*, owner: User, now: datetime) -> Workspace:
    """Acme Analytics as the owner created it, marked as a demo workspace; on its first
    creation it gets a past sign-up date and a first API key three hours later (its
    activation)."""
    workspace = _acme_find(owner)
    if workspace is not None:
        membership = Membership.objects.filter(workspace=workspace, user=owner).first()
        if membership is None:
            services.membership_create(workspace=workspace, user=owner, role=Role.OWNER)
        elif membership.role != Role.OWNER:
            membership.role = Role.OWNER  # adds an owner: no invariant to check
            membership.save(update_fields=["role", "updated_at"])
        return workspace

    signed_up_at = now - _ACME_AGE
    workspace = services.workspace_create(
        name=DEMO_WORKSPACE_NAME,
        owner=owner,
        company_domain=DEMO_WORKSPACE_DOMAIN,
        time_zone="Europe/Berlin",
        now=signed_up_at,
    )
    Workspace.objects.filter(pk=workspace.pk).update(is_demo=True)
    workspace.is_demo = True
    User.objects.filter(pk=owner.pk, date_joined__gt=signed_up_at).update(date_joined=signed_up_at)
    # A growing team on Pro, so the teammates and the invitation fit its seats.
    billing_services.subscription_set_plan(
        workspace=workspace, plan=Plan.objects.get(code="pro"), actor=None, reason="demo data"
    )
    services.api_key_create(
        workspace=workspace,
        name="Production",
        actor=owner,
        now=signed_up_at + _ACME_FIRST_KEY_AFTER,
    )
    return workspace


def _acme_teammates_add(*, workspace: Workspace, owner: User) -> None:
    """The documented teammates (an admin and members), re-added if missing."""
    signed_up_at = workspace.created_at
    emails = [f"{local}@{DEMO_WORKSPACE_DOMAIN}" for _, local, _, _ in _ACME_TEAMMATES]
    members = set(
        Membership.objects.filter(workspace=workspace, user__email__in=emails).values_list(
            "user__email", flat=True
        )
    )
    if len(members) == len(emails):
        return
    first_join = signed_up_at + min(after for *_, after in _ACME_TEAMMATES)
    services.onboarding_step_complete(
        workspace=workspace,
        step=OnboardingStep.Key.INVITE_TEAMMATE,
        now=first_join - timedelta(hours=2),
    )
    for (full_name, _, role, after), email in zip(_ACME_TEAMMATES, emails, strict=True):
        if email in members:
            continue
        user = User.objects.filter(email=email).first()
        if user is None:  # teammates never log in: no password
            user = User.objects.create_user(
                email=email, password=None, full_name=full_name, date_joined=signed_up_at + after
            )
        services.membership_create(
            workspace=workspace, user=user, role=role, actor=owner, now=signed_up_at + after
        )


def _acme_invitation_keep_pending(*, workspace: Workspace, owner: User, now: datetime) -> None:
    """One pending invitation: created if there is none, renewed once it has expired, left
    alone once the invitee has joined."""
    if Membership.objects.filter(workspace=workspace, user__email=_ACME_INVITEE).exists():
        return
    invitation = Invitation.objects.filter(
        workspace=workspace, email=_ACME_INVITEE, accepted_at=None, revoked_at=None
    ).first()
    if invitation is not None and invitation.status(now) == InvitationStatus.PENDING:
        return
    services.invitation_create(
        workspace=workspace, email=_ACME_INVITEE, role=Role.MEMBER, actor=owner, now=now
    )


def seed_demo_owner(*, now: datetime) -> tuple[User, Workspace]:
    """The demo owner's log-in and its workspace Acme Analytics (domain acme-analytics.com),
    with an admin, members and one pending invitation."""
    owner = demo_logins_reset(logins=[DEMO_OWNER])[DEMO_OWNER.email]
    workspace = _acme_get_or_create(owner=owner, now=now)
    _acme_teammates_add(workspace=workspace, owner=owner)
    _acme_invitation_keep_pending(workspace=workspace, owner=owner, now=now)
    return owner, workspace


def demo_api_key_create(*, workspace: Workspace, owner: User) -> str:
    """A new API key for the demo workspace; returns the full key (it is shown only once).
    Earlier demo keys stay active, so a key pasted into a script keeps working."""
    _, raw_key = services.api_key_create(workspace=workspace, name=DEMO_API_KEY_NAME, actor=owner)
    return raw_key


# The bulk workspaces ------------------------------------------------------------------------

# Company names are a prefix and a suffix ("Bright" + "lane"), sometimes with a trade.
_NAME_PREFIXES = (
    "Bright", "North", "Blue", "Silver", "Red", "Iron", "Clear", "Swift", "Cloud", "Quiet",
    "Bold", "Golden", "Green", "Deep", "High", "Pine", "Oak", "Maple", "Cedar", "Birch",
    "River", "Lake", "Sun", "Star", "Moon", "Sky", "Storm", "Frost", "Ember", "Copper",
    "Cobalt", "Amber", "Coral", "Harbor", "Summit", "Hollow", "Wild", "True", "Open", "Fern",
    "Fox", "Wolf", "Hawk", "Raven", "Lumen", "Nimbus", "Polar", "Tide", "Bay", "Granite",
)  # fmt: skip
_NAME_SUFFIXES = (
    "lane", "wind", "field", "stack", "forge", "path", "point", "bridge", "works", "loop",
    "line", "light", "spring", "wave", "gate", "leaf", "craft", "mark", "base", "ridge",
    "port", "vale", "view", "beam", "hive", "signal", "shift", "scale", "grid", "flow",
    "peak", "ledger", "nest", "well", "yard",
)  # fmt: skip
_NAME_TRADES = (
    "", "", "", "", "", "Labs", "Analytics", "Health", "Software", "Systems", "Studio",
    "Logistics", "Finance", "Robotics", "Media", "Security", "AI", "Data", "HQ",
)  # fmt: skip
_DOMAIN_TLDS = (("com", 40), ("io", 25), ("co", 12), ("ai", 10), ("dev", 8), ("app", 5))
_FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Sofia", "Lucas", "Mia", "Mateo",
    "Aisha", "Omar", "Fatima", "Yusuf", "Priya", "Arjun", "Ananya", "Rohan", "Mei", "Wei",
    "Yuki", "Haruto", "Hana", "Min-jun", "Ji-woo", "Chloé", "Léa", "Louis", "Hugo", "Zoë",
    "Lena", "Jonas", "Felix", "Marta", "Pablo", "Lucía", "José", "Ana", "Tiago", "Beatriz",
    "Kwame", "Amara", "Chidi", "Zanele", "Thabo", "Nadia", "Ivan", "Olga", "Erik", "Ingrid",
    "Sean", "Niamh", "Grace", "Ethan", "Maya", "Daniel", "Sara", "David", "Leah", "Sam",
)  # fmt: skip
_LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Garcia", "Martinez", "Lopez", "Gonzalez",
    "Müller", "Schmidt", "Schneider", "Fischer", "Dubois", "Moreau", "Laurent", "Rossi",
    "Russo", "Ferrari", "Silva", "Santos", "Oliveira", "Kowalski", "Nowak", "Novak",
    "Ivanova", "Petrov", "Jensen", "Hansen", "Larsen", "Berg", "Okafor", "Mensah", "Diallo",
    "Nkosi", "Haddad", "Khan", "Hassan", "Patel", "Sharma", "Iyer", "Gupta", "Nguyen",
    "Tran", "Kim", "Park", "Lee", "Chen", "Wang", "Zhang", "Tanaka", "Sato", "Suzuki",
    "O'Brien", "Murphy", "Kelly", "Walsh", "Cohen", "Levi", "Andersson", "Virtanen",
)  # fmt: skip
_EMAIL_FORMATS = ("{first}.{last}", "{first}", "{first}{last}", "{f}{last}", "{first}.{l}")
_TIME_ZONES = (
    ("UTC", 14), ("America/New_York", 18), ("America/Los_Angeles", 14), ("America/Chicago", 6),
    ("America/Sao_Paulo", 4), ("Europe/London", 12), ("Europe/Berlin", 10), ("Europe/Paris", 7),
    ("Europe/Madrid", 3), ("Asia/Kolkata", 5), ("Asia/Singapore", 3), ("Asia/Tokyo", 2),
    ("Australia/Sydney", 2),
)  # fmt: skip
# Members per workspace, 1 to 12, most workspaces small.
_TEAM_SIZE_WEIGHTS = (28, 20, 14, 10, 7, 5, 4, 3, 3, 2, 2, 2)
_API_KEY_NAMES = ("Production", "Backend", "Staging", "CI", "Data pipeline", "Local dev")
_SIGN_UP_WINDOW = timedelta(days=365)


@dataclass
class PlannedMember:
    email: str
    full_name: str
    role: Role
    joined_at: datetime


@dataclass
class PlannedWorkspace:
    name: str
    company_domain: str
    time_zone: str
    created_at: datetime
    members: list[PlannedMember] = field(default_factory=list)
    steps: dict[str, datetime] = field(default_factory=dict)
    api_key_name: str = ""
    api_key_last_used_at: datetime | None = None

    @property
    def activated_at(self) -> datetime | None:
        return self.steps.get(OnboardingStep.Key.FIRST_USAGE_EVENT)

    @property
    def plan_code(self) -> str:
        """A plan that fits the team: small teams mostly free, larger ones on Pro or
        Business, a few on Enterprise. Derived from the domain, so stable across runs."""
        roll = int(hashlib.sha256(self.company_domain.encode()).hexdigest(), 16) % 100
        size = len(self.members)
        if roll < 3:
            return "enterprise"
        if size > 3:
            return "business" if size >= 9 or roll < 25 else "pro"
        return "pro" if roll < 20 else "free"


def _ascii(text: str) -> str:
    """Lower-case ASCII letters and digits only ("Müller" -> "muller", "O'Brien" -> "obrien")."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "".join(char for char in folded if char.isalnum())


def _weighted(rng: random.Random, choices: Sequence[tuple[str, int]]) -> str:
    values, weights = zip(*choices, strict=True)
    return rng.choices(values, weights=weights)[0]


def _company_names(rng: random.Random, count: int) -> Iterator[tuple[str, str]]:
    """``count`` distinct (name, domain) pairs: ("Brightlane Labs", "brightlane.io")."""
    seen = {"acme"}
    while len(seen) <= count:
        stem = rng.choice(_NAME_PREFIXES) + rng.choice(_NAME_SUFFIXES)
        if stem.lower() in seen:
            continue
        seen.add(stem.lower())
        trade = rng.choice(_NAME_TRADES)
        name = f"{stem} {trade}" if trade else stem
        yield name, f"{stem.lower()}.{_weighted(rng, _DOMAIN_TLDS)}"


def _members_plan(
    rng: random.Random, *, domain: str, created_at: datetime, now: datetime
) -> list[PlannedMember]:
    """The owner who signed up, then teammates who joined later, with distinct addresses in
    the company's e-mail format; roles mostly member, some admins, now and then a second
    owner."""
    size = rng.choices(range(1, 13), weights=_TEAM_SIZE_WEIGHTS)[0]
    email_format = rng.choice(_EMAIL_FORMATS)
    members: list[PlannedMember] = []
    emails: set[str] = set()
    second_owner = size >= 4 and rng.random() < 0.15
    while len(members) < size:
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        local = email_format.format(
            first=_ascii(first), last=_ascii(last), f=_ascii(first)[0], l=_ascii(last)[0]
        )
        email = f"{local}@{domain}"
        if email in emails:
            continue
        emails.add(email)
        if not members:
            role, joined_at = Role.OWNER, created_at
        else:
            role = Role.ADMIN if rng.random() < 0.2 else Role.MEMBER
            if second_owner and len(members) == 1:
                role = Role.OWNER
            delay = timedelta(hours=min(rng.lognormvariate(math.log(48), 1.3), 24 * 120))
            joined_at = min(created_at + delay, created_at + (now - created_at) * rng.random())
        members.append(PlannedMember(email, f"{first} {last}", role, joined_at))
    members[1:] = sorted(members[1:], key=lambda member: member.joined_at)
    return members


def _onboarding_plan(rng: random.Random, workspace: PlannedWorkspace, *, now: datetime) -> None:
    """Which checklist steps the workspace completed, and when: teams invite before their
    teammates join; bigger teams more often create an API key (median some hours after
    sign-up, sometimes days); most of those then call the API within the hour."""
    created_at = workspace.created_at
    if len(workspace.members) > 1:
        first_join = workspace.members[1].joined_at
        invited_at = first_join - timedelta(hours=rng.uniform(0.2, 20))
        workspace.steps[OnboardingStep.Key.INVITE_TEAMMATE] = max(created_at, invited_at)
    if rng.random() >= min(0.85, 0.3 + 0.06 * len(workspace.members)):
        return
    time_to_value = timedelta(hours=min(rng.lognormvariate(math.log(5), 1.6), 24 * 40))
    key_created_at = created_at + time_to_value
    if key_created_at >= now:
        return
    workspace.steps[OnboardingStep.Key.CREATE_API_KEY] = key_created_at
    workspace.api_key_name = rng.choice(_API_KEY_NAMES)
    if rng.random() >= 0.8:
        return
    first_call_at = key_created_at + timedelta(minutes=rng.lognormvariate(math.log(15), 1.2))
    if first_call_at >= now:
        return
    workspace.steps[OnboardingStep.Key.FIRST_USAGE_EVENT] = first_call_at
    workspace.api_key_last_used_at = first_call_at + (now - first_call_at) * rng.random() ** 0.3


def workspaces_plan(
    *, rng: random.Random, now: datetime, count: int = WORKSPACE_COUNT
) -> list[PlannedWorkspace]:
    """The bulk workspaces, decided by ``rng`` alone (dates relative to ``now``), oldest
    first: sign-ups over the past year, more of them recently (a growing product)."""
    plans = []
    for name, domain in _company_names(rng, count):
        age = _SIGN_UP_WINDOW * rng.random() ** 1.4
        created_at = now - max(age, timedelta(minutes=10))
        workspace = PlannedWorkspace(
            name=name,
            company_domain=domain,
            time_zone=_weighted(rng, _TIME_ZONES),
            created_at=created_at,
        )
        workspace.members = _members_plan(rng, domain=domain, created_at=created_at, now=now)
        _onboarding_plan(rng, workspace, now=now)
        plans.append(workspace)
    return sorted(plans, key=lambda plan: plan.created_at)


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


def _workspaces_insert(plans: Sequence[PlannedWorkspace]) -> tuple[int, int]:
    """Bulk-insert planned workspaces with their members, onboarding steps and API keys.
    Keeps what ``membership_create`` keeps: each workspace has an owner, a user has one
    membership per workspace, addresses are lower-case. Returns (workspaces, new users)."""
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
    plan_ids = dict(Plan.objects.values_list("code", "pk"))
    Subscription.objects.bulk_create(
        Subscription(
            workspace=workspace,
            plan_id=plan_ids[plan.plan_code],
            seats=len(plan.members),
            created_at=plan.created_at,
        )
        for plan, workspace in zip(plans, workspaces, strict=True)
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
    return len(workspaces), len(new_users)


def seed_workspaces(*, rng: random.Random, now: datetime) -> tuple[int, int]:
    """The bulk demo workspaces; inserts only planned ones not there yet (by company
    domain), so a repeated run asks one query and writes nothing. Returns the numbers of
    workspaces and users created."""
    plans = workspaces_plan(rng=rng, now=now)
    present = set(
        Workspace.objects.filter(
            company_domain__in=[plan.company_domain for plan in plans]
        ).values_list("company_domain", flat=True)
    )
    missing = [plan for plan in plans if plan.company_domain not in present]
    if not missing:
        return 0, 0
    return _workspaces_insert(missing)
