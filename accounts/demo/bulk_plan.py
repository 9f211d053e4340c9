"""The plan of the bulk demo workspaces, decided by a seeded ``random.Random`` alone."""

import hashlib
import math
import random
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from accounts.models import (
    OnboardingStep,
    Role,
    TeamSize,
    UseCase,
)

SEED = 20_260_101
WORKSPACE_COUNT = 300
# The free plan's seats (a hard limit): a free demo team has at most this many members.
FREE_SEATS = 3


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
_RETURN_SETTLED = timedelta(days=21)


class Segment:
    """How a demo workspace behaves over its year, the way a freemium base does."""

    DORMANT = "dormant"  # signed up, tried it for a few days, stopped
    STEADY = "steady"  # a little use, week after week, well within the free limits
    SOLO_HEAVY = "solo_heavy"  # one person calling the API up to the limit, no team
    GROWING = "growing"  # a team growing into its limits, paywall hits, then an upgrade
    SALES = "sales"  # on a plan sales set (Enterprise)


# Free e-mail providers of sign-ups that give no company domain.
_FREE_MAIL = ("gmail.com", "outlook.com", "yahoo.com", "proton.me", "icloud.com")
_UTM_SOURCES = (
    ({"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "usage-billing"}, 3),
    ({"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "launch"}, 2),
    ({"referrer": "https://news.ycombinator.com/"}, 2),
    ({"referrer": "https://github.com/"}, 2),
    ({}, 5),
)
# Why paying demo workspaces cancelled (``billing.Cancellation.Reason`` values).
_CANCEL_REASONS = ("too_expensive", "unused", "missing_features", "switched_service")


@dataclass(frozen=True)
class PlannedStep:
    """A billing step of a workspace's story, at a time in the past: ``subscribe`` to a
    plan with seats, ``change`` to a plan and seats, ``cancel`` at period end with a
    reason. Billing's demo seeding replays them through the offline gateway."""

    at: datetime
    action: str
    plan_code: str = ""
    seats: int = 0
    reason: str = ""
    interval: str = "month"


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
    team_size: str = ""
    use_case: str = ""
    signup_source: dict = field(default_factory=dict)
    segment: str = Segment.DORMANT
    story: list[PlannedStep] = field(default_factory=list)
    # When a growing team outgrows the free plan (its purchase, or one still to come).
    upgrade_due: datetime | None = None
    # A Pro customer whose API calls grow toward Pro's limit (an expansion lead).
    scaling: bool = False

    @property
    def upgraded_at(self) -> datetime | None:
        """When the workspace first bought a plan (None if it never did)."""
        return next((step.at for step in self.story if step.action == "subscribe"), None)

    def plan_on(self, at: datetime) -> str:
        """The plan the story has the workspace on at ``at`` (a cancellation ends the plan
        a month later, at the period's end)."""
        plan = "free"
        for step in self.story:
            if step.at > at:
                break
            if step.action in ("subscribe", "change"):
                plan = step.plan_code
            elif step.action == "cancel" and at >= step.at + timedelta(days=31):
                plan = "free"
        return plan

    @property
    def activated_at(self) -> datetime | None:
        return self.steps.get(OnboardingStep.Key.FIRST_USAGE_EVENT)

    @property
    def plan_code(self) -> str:
        """The plan set by sales (Enterprise) or free: every other plan is bought through
        the story's steps (``billing.demo``). Derived from the domain, so stable."""
        return "enterprise" if self.segment == Segment.SALES else "free"


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
    rng: random.Random, *, size: int, domain: str, created_at: datetime, now: datetime
) -> list[PlannedMember]:
    """The owner who signed up, then ``size - 1`` teammates who joined later, with distinct
    addresses in the company's e-mail format; roles mostly member, some admins, now and then
    a second owner."""
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


def _roll(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16) % 100


def _fit_plan(rng: random.Random, workspace: PlannedWorkspace, *, answers: float) -> None:
    """The sign-up questions (answered with probability ``answers``) and the first visit's
    source. Team size follows the members, rounded up the way people answer."""
    workspace.signup_source = dict(_weighted_any(rng, _UTM_SOURCES))
    if rng.random() >= answers:
        return
    size = len(workspace.members)
    workspace.team_size = (
        TeamSize.ONE
        if size == 1 and rng.random() < 0.7
        else TeamSize.SMALL
        if size <= 6
        else TeamSize.MEDIUM
    )
    if workspace.segment == Segment.GROWING:
        choices = ((UseCase.TEAM, 4), (UseCase.METERING, 4), (UseCase.SALES, 3))
    else:
        choices = ((UseCase.EXPLORING, 5), (UseCase.METERING, 2), (UseCase.TEAM, 1))
    workspace.use_case = _weighted_any(rng, choices)


def _weighted_any(rng: random.Random, choices):
    values, weights = zip(*choices, strict=True)
    return rng.choices(values, weights=weights)[0]


def _free_mail_plan(rng: random.Random, workspace: PlannedWorkspace) -> None:
    """A one-person sign-up with a personal address: no company domain."""
    owner = workspace.members[0]
    local = owner.email.split("@")[0]
    owner.email = f"{local}{rng.randint(1, 999)}@{rng.choice(_FREE_MAIL)}"
    workspace.company_domain = ""


def _story_plan(rng: random.Random, workspace: PlannedWorkspace, *, now: datetime) -> None:
    """When a growing team bought Pro and what came after. Its team grows into the free
    limits (three seats, the monthly API calls) some weeks after it started; it buys Pro
    then (two in five buyers pay yearly), and the teammates it was waiting to add join in
    the weeks after, on the seats it bought. Then, for some: Business (expansion), fewer
    seats (contraction), a cancellation with its reason (churn), and for some of those a
    return; a few Pro customers grow toward Pro's API-call limit (``scaling``). Every step
    lies at least a day in the past: a team whose upgrade would fall later has not bought
    yet, and keeps its three free seats. The third teammate joins in the weeks before the
    upgrade, when the team fills its free seats."""
    members = workspace.members
    start = workspace.activated_at or workspace.created_at + timedelta(days=2)
    upgrade = start + timedelta(days=rng.uniform(20, 110))
    latest = now - timedelta(days=1)
    if latest - timedelta(days=45) < upgrade < latest and rng.random() < 0.6:
        # At its limits for some weeks and still deciding: it buys in the coming days.
        upgrade = now + timedelta(days=rng.uniform(2, 14))
    workspace.upgrade_due = upgrade
    if len(members) >= FREE_SEATS:
        third = members[FREE_SEATS - 1]
        third.joined_at = max(
            members[FREE_SEATS - 2].joined_at + timedelta(hours=1),
            upgrade - timedelta(days=rng.uniform(4, 25)),
        )
    if upgrade >= latest:
        del members[FREE_SEATS:]
        members[:] = [member for member in members if member.joined_at < now]
        return
    joined = upgrade
    for member in members[FREE_SEATS:]:
        joined += timedelta(hours=min(rng.lognormvariate(math.log(72), 1.0), 24 * 40))
        member.joined_at = joined
    members[:] = [member for member in members if member.joined_at < now]
    roll = rng.random()
    # Scaling customers bought just the seats they needed, and fill them.
    extra = 0 if roll >= 0.6 else rng.choice((0, 0, 1, 2))
    seats = len(members) + extra
    interval = "year" if rng.random() < 0.4 else "month"
    story = [PlannedStep(upgrade, "subscribe", "pro", seats, interval=interval)]
    later = upgrade + timedelta(days=rng.uniform(40, 150))
    if roll < 0.2 and later < latest:
        story.append(PlannedStep(later, "change", "business", seats, interval=interval))
    elif roll < 0.35 and extra and later < latest:
        story.append(PlannedStep(later, "change", "pro", len(members), interval=interval))
    elif roll < 0.6 and interval == "month":
        canceled = upgrade + timedelta(days=rng.uniform(45, 200))
        if canceled < latest:
            story.append(PlannedStep(canceled, "cancel", "pro", reason=rng.choice(_CANCEL_REASONS)))
            back = canceled + timedelta(days=rng.uniform(30, 90))
            # A return old enough to be past its trial (it reactivates the revenue).
            if rng.random() < 0.5 and back < now - _RETURN_SETTLED:
                story.append(PlannedStep(back, "subscribe", "pro", len(members)))
    elif roll < 0.8:
        workspace.scaling = True
    workspace.story = story


def _segment_plan(rng: random.Random, workspace: PlannedWorkspace, *, now: datetime) -> None:
    """The workspace's segment, its answers to the sign-up questions and its story. Most
    workspaces never activate, and most of those that do stay small and free; teams more
    often grow into a plan than people alone. A free team has at most its three free seats
    (the limit is hard)."""
    size = len(workspace.members)
    roll = rng.random()
    if _roll(workspace.name) < 3:
        workspace.segment = Segment.SALES
    elif workspace.activated_at is None:
        workspace.segment = Segment.DORMANT
    elif size == 1:
        workspace.segment = (
            Segment.SOLO_HEAVY
            if roll < 0.45
            else Segment.STEADY
            if roll < 0.75
            else Segment.DORMANT
        )
    else:
        growing = min(0.7, 0.25 + 0.08 * (size - 2))
        workspace.segment = (
            Segment.GROWING
            if roll < growing
            else Segment.STEADY
            if roll < growing + 0.4
            else Segment.DORMANT
        )
    if workspace.segment not in (Segment.GROWING, Segment.SALES) and size > FREE_SEATS:
        del workspace.members[rng.choice((2, FREE_SEATS)) :]
    if size == 1 and rng.random() < (0.75 if workspace.segment == Segment.SOLO_HEAVY else 0.4):
        _free_mail_plan(rng, workspace)
    if workspace.segment == Segment.GROWING:
        _story_plan(rng, workspace, now=now)
    answers = {Segment.GROWING: 0.9, Segment.SALES: 0.9, Segment.STEADY: 0.5}
    _fit_plan(rng, workspace, answers=answers.get(workspace.segment, 0.3))


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
        size = rng.choices(range(1, 13), weights=_TEAM_SIZE_WEIGHTS)[0]
        workspace.members = _members_plan(
            rng, size=size, domain=domain, created_at=created_at, now=now
        )
        _onboarding_plan(rng, workspace, now=now)
        _segment_plan(rng, workspace, now=now)
        plans.append(workspace)
    return sorted(plans, key=lambda plan: plan.created_at)
