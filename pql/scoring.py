"""The scoring math: raw facts about one workspace in, two scores with their reasons out.

Pure functions, no queries: the job reads every workspace's facts set-based (through the
other apps' selectors), builds one ``WorkspaceSignals`` per workspace, and calls ``score``
with the published model's ``ModelConfig``. The same input gives the same output.

Each signal in ``SIGNALS`` says which group it counts in (fit: who the workspace is;
engagement: what it does), how its raw value is read from ``WorkspaceSignals``, and how that
value is put in words. A model gives each signal its points, in one of two ways:

- a weight: ``weight`` points per unit of the raw value, at most ``max_points``;
- point bands: ``[[threshold, points], …]`` with ascending thresholds; the raw value earns the
  points of the highest threshold it reaches (nothing below the first). A category signal's
  bands name categories instead (``[["paid", 15], …]``): the matching one counts.

Fit and engagement are each the sum of their signals' points, kept within 0-100. Inactivity
then decays engagement: past ``decay_after_days`` idle days it halves every
``decay_half_life_days``, shown as a component of negative points.
"""

import json
import math
from bisect import bisect_right
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal, NamedTuple

from accounts.free_mail import FREE_MAIL_DOMAINS
from usage.current import limit_is_near

FIT = "fit"
ENGAGEMENT = "engagement"
Group = Literal["fit", "engagement"]

UPGRADE = "upgrade"
EXPANSION = "expansion"
NONE = "none"

SCORE_MAX = 100
TOP_REASONS = 3
# The share of limits a workspace uses is read from every metric but seats, which have their
# own signal (seats used of seats allowed).
SEATS_METRIC = "seats"
# Week-over-week growth is capped so that 1 -> 40 people does not dwarf the band scale.
GROWTH_CAP_PERCENT = 1000

# utm_medium values that mean someone paid for the click.
PAID_MEDIUMS = frozenset({"cpc", "ppc", "paid", "paid_social", "paidsocial", "display", "cpm"})
SIGNUP_SOURCES = ("paid", "campaign", "referral", "direct")
REGIONS = ("americas", "europe", "asia", "oceania", "africa", "unknown")
_REGION_OF_ZONE_PREFIX = {
    "America": "americas",
    "US": "americas",
    "Canada": "americas",
    "Brazil": "americas",
    "Chile": "americas",
    "Mexico": "americas",
    "Europe": "europe",
    "Asia": "asia",
    "Indian": "asia",
    "Australia": "oceania",
    "Pacific": "oceania",
    "NZ": "oceania",
    "Africa": "africa",
    "Atlantic": "europe",
}


@dataclass(frozen=True)
class WorkspaceSignals:
    """Everything scoring knows about one workspace, as plain values.

    Counts over a window are already capped per activity and day by the reader (the model's
    ``daily_activity_cap``): one noisy person cannot make a lead. ``limits`` are the
    effective limits (None: unlimited) and ``usage`` the current usage, by metric key.
    """

    workspace_id: int
    # Fit
    company_domain: str | None = None
    team_size: int | None = None
    use_case: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    referrer: str | None = None
    time_zone: str | None = None
    # Plan facts
    is_paid: bool = False
    limits: Mapping[str, int | None] = field(default_factory=dict)
    usage: Mapping[str, int] = field(default_factory=dict)
    metric_names: Mapping[str, str] = field(default_factory=dict)  # "api_calls": "API calls"
    seats_used: int = 0
    seats_allowed: int | None = None
    # Engagement
    active_people_7d: int = 0
    active_people_prev_7d: int = 0
    active_people_30d: int = 0
    activated: bool = False
    hours_to_first_value: float | None = None
    paywall_people_14d: int = 0
    paywall_days_14d: int = 0
    invitations_sent_30d: int = 0
    days_since_last_activity: int | None = None  # None: never active


class Component(NamedTuple):
    """One signal's part in a score: its raw value, the points it earned and why, in words.
    (A named tuple: the job builds sixteen per workspace.)"""

    signal: str
    group: str
    raw: int | float | str | None
    points: int
    text: str

    def as_dict(self) -> dict:
        return {
            "signal": self.signal,
            "group": self.group,
            "raw": self.raw,
            "points": self.points,
            "text": self.text,
        }


def component_compact(component: Mapping | Sequence) -> list:
    """A component as a score stores it: ``[signal, raw, points, text]`` (its group follows
    from the signal). A stored one passes through."""
    if isinstance(component, Mapping):
        return [component["signal"], component["raw"], component["points"], component["text"]]
    return list(component)


def component_expand(stored: Mapping | Sequence) -> dict:
    """A stored component as ``{signal, group, raw, points, text}`` (as ``Component.as_dict``).
    One stored in that long form already passes through."""
    if isinstance(stored, Mapping):
        return dict(stored)
    signal, raw, points, text = stored
    spec = SIGNALS.get(signal)
    group = spec.group if spec is not None else ENGAGEMENT  # the decay counts in engagement
    return {"signal": signal, "group": group, "raw": raw, "points": points, "text": text}


class ComponentsJson:
    """Components as the JSON text a score stores (``[[signal, raw, points, text], …]``, as
    ``component_compact``), each distinct component serialised once per instance (one per
    chunk: the same words recur across workspaces)."""

    def __init__(self) -> None:
        self._fragments: dict[tuple[Component, type], str] = {}

    def __call__(self, components: Iterable[Component]) -> str:
        fragments = self._fragments
        parts = []
        for component in components:
            # The raw value's type is part of the key: 1 and 1.0 hash alike.
            key = (component, type(component.raw))
            fragment = fragments.get(key)
            if fragment is None:
                signal, _, raw, points, text = component
                fragment = fragments[key] = json.dumps(
                    [signal, raw, points, text], ensure_ascii=False, separators=(",", ":")
                )
            parts.append(fragment)
        return "[" + ",".join(parts) + "]"


@dataclass(frozen=True)
class ScoreResult:
    fit: int
    engagement: int
    is_pql: bool
    lead_type: str
    components: tuple[Component, ...]
    # Days since the workspace last did anything (None: never); leads expire on it.
    idle_days: int | None = None

    def top_reasons(self, count: int = TOP_REASONS) -> list[dict]:
        """The components that earned the most points, most first (ties by signal key)."""
        earning = [c for c in self.components if c.points > 0]
        earning.sort(key=lambda c: (-c.points, c.signal))
        return [c.as_dict() for c in earning[:count]]


@dataclass(frozen=True)
class SignalConfig:
    """How a model scores one signal: a weight with a cap, or point bands."""

    key: str
    weight: Decimal | None = None
    max_points: int | None = None
    bands: tuple[tuple[int | float | str, int], ...] | None = None


@dataclass(frozen=True)
class ModelConfig:
    """A scoring model version as the math needs it (``ScoringModel.config()`` builds it)."""

    version: int
    signals: tuple[SignalConfig, ...]
    engagement_min: int | None
    fit_min: int | None
    decay_after_days: int
    decay_half_life_days: int


# Reading raw values and putting them in words ------------------------------------------------


def _plural(count: int | float, one: str, many: str) -> str:
    return one if count == 1 else many


def _number(value: int | float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def _domain_raw(s: WorkspaceSignals) -> str:
    domain = (s.company_domain or "").strip().lower()
    if not domain:
        return "none"
    return "free_mail" if domain in FREE_MAIL_DOMAINS else "company"


def _domain_text(s: WorkspaceSignals, raw: object) -> str:
    domain = (s.company_domain or "").strip().lower()
    if raw == "company":
        return f"company e-mail domain {domain}"
    if raw == "free_mail":
        return f"free e-mail domain {domain}"
    return "no company e-mail domain"


def _team_text(s: WorkspaceSignals, raw: object) -> str:
    if raw is None:
        return "team size not given"
    # The answer is a range ("11-50"); the signal keeps its smallest team.
    return "a team of one" if raw == 1 else f"a team of {_number(raw)} or more people"


def _use_case_raw(s: WorkspaceSignals) -> str | None:
    return (s.use_case or "").strip().lower() or None


def _use_case_text(s: WorkspaceSignals, raw: object) -> str:
    return "use case not given" if raw is None else f"use case: {str(raw).replace('_', ' ')}"


def signup_source(s: WorkspaceSignals) -> str:
    """paid (a paid campaign's click), campaign (other UTM-tagged), referral (another site
    linked), or direct."""
    medium = (s.utm_medium or "").strip().lower()
    if medium in PAID_MEDIUMS:
        return "paid"
    if (s.utm_source or "").strip() or (s.utm_campaign or "").strip() or medium:
        return "campaign"
    if (s.referrer or "").strip():
        return "referral"
    return "direct"


def _source_text(s: WorkspaceSignals, raw: object) -> str:
    tags = " / ".join(v for v in (s.utm_source, s.utm_medium) if v)
    if raw == "paid":
        return f"signed up from a paid campaign ({tags})"
    if raw == "campaign":
        return f"signed up from a campaign ({tags or s.utm_campaign})"
    if raw == "referral":
        return f"signed up from a link on {s.referrer}"
    return "signed up directly"


def region_of(time_zone: str | None) -> str:
    """The region of an IANA time zone name ("Europe/Paris" -> europe); unknown for UTC."""
    prefix = (time_zone or "").split("/", 1)[0]
    return _REGION_OF_ZONE_PREFIX.get(prefix, "unknown")


def _region_text(s: WorkspaceSignals, raw: object) -> str:
    if raw == "unknown":
        return f"region unknown (time zone {s.time_zone or 'not set'})"
    return f"{raw} (time zone {s.time_zone})"


def _usage_peak(s: WorkspaceSignals) -> tuple[int, str] | None:
    """The highest share of a limit used, as a whole percent, and its metric (ties: first
    metric key); None when no metric but seats has a limit."""
    peak = None
    for key in sorted(s.limits):
        limit = s.limits[key]
        if key == SEATS_METRIC or limit is None or limit <= 0:
            continue
        percent = s.usage.get(key, 0) * 100 // limit
        if peak is None or percent > peak[0]:
            peak = (percent, key)
    return peak


def _usage_raw(s: WorkspaceSignals) -> int | None:
    peak = _usage_peak(s)
    return None if peak is None else peak[0]


def _usage_text(s: WorkspaceSignals, raw: object) -> str:
    peak = _usage_peak(s)
    if peak is None:
        return "no usage limit"
    key = peak[1]
    name = s.metric_names.get(key, key.replace("_", " "))
    return f"uses {peak[0]}% of {_number(s.limits[key])} {name}"


def _seats_raw(s: WorkspaceSignals) -> int | None:
    if not s.seats_allowed:
        return None
    return s.seats_used * 100 // s.seats_allowed


def _seats_text(s: WorkspaceSignals, raw: object) -> str:
    if raw is None:
        used = s.seats_used
        return f"{used} {_plural(used, 'seat', 'seats')} used, no seat limit"
    return f"{s.seats_used} of {s.seats_allowed} seats used"


def _active_text(days: int) -> Callable[[WorkspaceSignals, object], str]:
    def text(s: WorkspaceSignals, raw: object) -> str:
        return f"{raw} active {_plural(raw, 'person', 'people')} in the last {days} days"

    return text


def _growth_raw(s: WorkspaceSignals) -> int:
    """Week-over-week change of active people, in percent (from none to some: the cap)."""
    now, before = s.active_people_7d, s.active_people_prev_7d
    if before == 0:
        return GROWTH_CAP_PERCENT if now > 0 else 0
    return min(GROWTH_CAP_PERCENT, (now - before) * 100 // before)


def _growth_text(s: WorkspaceSignals, raw: object) -> str:
    now, before = s.active_people_7d, s.active_people_prev_7d
    people = f"{now} active {_plural(now, 'person', 'people')} this week"
    if now > before:
        return f"{people}, up from {before}"
    if now < before:
        return f"{people}, down from {before}"
    return f"{people}, as many as the week before"


def _activation_text(s: WorkspaceSignals, raw: object) -> str:
    return "reached activation" if raw else "not activated yet"


def _ttv_raw(s: WorkspaceSignals) -> float | None:
    if not s.activated or s.hours_to_first_value is None:
        return None
    return round(s.hours_to_first_value, 1)


def _ttv_text(s: WorkspaceSignals, raw: object) -> str:
    if raw is None:
        return "no first value yet"
    if raw < 48:
        hours = round(raw)
        return f"first value {hours} {_plural(hours, 'hour', 'hours')} after sign-up"
    days = round(raw / 24)
    return f"first value {days} days after sign-up"


def _paywall_people_text(s: WorkspaceSignals, raw: object) -> str:
    verb = _plural(raw, "person hit", "people hit")
    return f"{raw} {verb} a paywall in the last 14 days"


def _paywall_days_text(s: WorkspaceSignals, raw: object) -> str:
    return f"hit a paywall on {raw} of the last 14 days"


def _invitations_text(s: WorkspaceSignals, raw: object) -> str:
    return f"sent {raw} {_plural(raw, 'invitation', 'invitations')} in the last 30 days"


def _recency_text(s: WorkspaceSignals, raw: object) -> str:
    if raw is None:
        return "never active"
    if raw == 0:
        return "active today"
    return f"last active {raw} {_plural(raw, 'day', 'days')} ago"


# A ``words_key`` that says: describe this signal afresh for every workspace.
UNCACHED = object()


@dataclass(frozen=True)
class SignalSpec:
    """A signal the math knows: its group, how to read it and how to say it."""

    key: str
    group: Group
    label: str
    kind: Literal["number", "category"]
    read: Callable[[WorkspaceSignals], int | float | str | None]
    describe: Callable[[WorkspaceSignals, object], str]
    categories: tuple[str, ...] = ()
    # What the words depend on besides the raw value (None: nothing else; ``UNCACHED``: too
    # much to key on). Scoring reuses the component of a raw value (and this key) it met
    # before, since most workspaces share most of their facts.
    words_key: Callable[[WorkspaceSignals], Hashable] | None = None


SIGNALS: dict[str, SignalSpec] = {
    spec.key: spec
    for spec in (
        SignalSpec(
            "company_domain",
            FIT,
            "Company e-mail domain",
            "category",
            _domain_raw,
            _domain_text,
            ("company", "free_mail", "none"),
            words_key=lambda s: s.company_domain,
        ),
        SignalSpec("team_size", FIT, "Team size", "number", lambda s: s.team_size, _team_text),
        SignalSpec("use_case", FIT, "Use case", "category", _use_case_raw, _use_case_text),
        SignalSpec(
            "signup_source",
            FIT,
            "Sign-up source",
            "category",
            signup_source,
            _source_text,
            SIGNUP_SOURCES,
            words_key=lambda s: (s.utm_source, s.utm_medium, s.utm_campaign, s.referrer),
        ),
        SignalSpec(
            "region",
            FIT,
            "Region (time zone)",
            "category",
            lambda s: region_of(s.time_zone),
            _region_text,
            REGIONS,
            words_key=lambda s: s.time_zone,
        ),
        SignalSpec(
            "usage_share",
            ENGAGEMENT,
            "Share of limits used",
            "number",
            _usage_raw,
            _usage_text,
            words_key=lambda s: UNCACHED,
        ),
        SignalSpec(
            "seats_share",
            ENGAGEMENT,
            "Seats used",
            "number",
            _seats_raw,
            _seats_text,
            words_key=lambda s: (s.seats_used, s.seats_allowed),
        ),
        SignalSpec(
            "active_people_7d",
            ENGAGEMENT,
            "Active people, 7 days",
            "number",
            lambda s: s.active_people_7d,
            _active_text(7),
        ),
        SignalSpec(
            "active_people_30d",
            ENGAGEMENT,
            "Active people, 30 days",
            "number",
            lambda s: s.active_people_30d,
            _active_text(30),
        ),
        SignalSpec(
            "usage_growth",
            ENGAGEMENT,
            "Growth week over week",
            "number",
            _growth_raw,
            _growth_text,
            words_key=lambda s: (s.active_people_7d, s.active_people_prev_7d),
        ),
        SignalSpec(
            "activated",
            ENGAGEMENT,
            "Activation reached",
            "number",
            lambda s: int(s.activated),
            _activation_text,
        ),
        SignalSpec(
            "time_to_first_value",
            ENGAGEMENT,
            "Time to first value (hours)",
            "number",
            _ttv_raw,
            _ttv_text,
        ),
        SignalSpec(
            "paywall_people_14d",
            ENGAGEMENT,
            "People who hit a paywall, 14 days",
            "number",
            lambda s: s.paywall_people_14d,
            _paywall_people_text,
        ),
        SignalSpec(
            "paywall_days_14d",
            ENGAGEMENT,
            "Days with a paywall hit, 14 days",
            "number",
            lambda s: s.paywall_days_14d,
            _paywall_days_text,
        ),
        SignalSpec(
            "invitations_30d",
            ENGAGEMENT,
            "Invitations sent, 30 days",
            "number",
            lambda s: s.invitations_sent_30d,
            _invitations_text,
        ),
        SignalSpec(
            "recency",
            ENGAGEMENT,
            "Days since last activity",
            "number",
            lambda s: s.days_since_last_activity,
            _recency_text,
        ),
    )
}
DECAY_SIGNAL = "inactivity_decay"
_ORDER = {key: index for index, key in enumerate(SIGNALS)}


# Points ---------------------------------------------------------------------------------------


def _round(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _round_half_up_hundredths(hundredths: int) -> int:
    """An integer number of hundredths rounded to a whole number, halves away from zero
    (as ``Decimal``'s ROUND_HALF_UP)."""
    if hundredths >= 0:
        return (hundredths + 50) // 100
    return -((-hundredths + 50) // 100)


def _points_function(config: SignalConfig, kind: str) -> Callable[[object], int]:
    """How a raw value turns into points under one signal's weight or bands, prepared once
    per model: a category lookup, a bisection of the thresholds, or integer arithmetic on
    the weight's hundredths (a weight has two decimal places)."""
    if config.bands is not None:
        if kind == "category":
            table: dict = {}
            for category, points in config.bands:
                table.setdefault(category, points)  # the first band naming it counts
            return lambda raw: table.get(raw, 0)
        thresholds = [threshold for threshold, _ in config.bands]
        earned = [points for _, points in config.bands]
        if thresholds != sorted(thresholds):
            return lambda raw: _banded_in_order(config.bands, raw)
        return lambda raw: earned[index - 1] if (index := bisect_right(thresholds, raw)) else 0
    if kind == "category" or config.weight is None:
        return lambda raw: 0
    weight = config.weight if isinstance(config.weight, Decimal) else Decimal(str(config.weight))
    most = config.max_points or 0
    per_hundredth = weight * 100
    if per_hundredth != per_hundredth.to_integral_value():
        return lambda raw: max(0, min(_round(weight * Decimal(str(raw))), most))
    cents = int(per_hundredth)

    def weighted(raw: object) -> int:
        if type(raw) is int:
            return max(0, min(_round_half_up_hundredths(cents * raw), most))
        # A fractional raw value (hours to first value, one decimal) is exact as decimal text.
        return max(0, min(_round(weight * Decimal(str(raw))), most))

    return weighted


def _banded_in_order(bands: tuple, raw: object) -> int:
    earned = 0
    for threshold, points in bands:
        if raw >= threshold:
            earned = points
    return earned


def signal_points(config: SignalConfig, kind: str, raw: int | float | str | None) -> int:
    """The points a raw value earns under one signal's weight or bands (0 for no value)."""
    if raw is None:
        return 0
    return _points_function(config, kind)(raw)


def decay_multiplier(*, idle_days: int | None, after_days: int, half_life_days: int) -> float:
    """1 up to ``after_days`` idle days, then halving every ``half_life_days`` (never active:
    0)."""
    if idle_days is None:
        return 0.0
    if idle_days <= after_days:
        return 1.0
    return 2.0 ** -((idle_days - after_days) / max(half_life_days, 1))


def _round_float(value: float) -> int:
    """Half up, as ``_round`` (the values rounded here are not negative)."""
    return math.floor(value + 0.5)


def lead_type(signals: WorkspaceSignals, *, qualifies: bool) -> str:
    """upgrade for a free workspace that qualifies; expansion for a paying one that qualifies
    and is near its seat or usage limits (``usage.current``'s near-limit rule); none otherwise."""
    if not qualifies:
        return NONE
    if not signals.is_paid:
        return UPGRADE
    near_usage = any(
        limit_is_near(signals.usage.get(key, 0), limit)
        for key, limit in signals.limits.items()
        if key != SEATS_METRIC
    )
    near_seats = limit_is_near(signals.seats_used, signals.seats_allowed)
    return EXPANSION if near_usage or near_seats else NONE


# How many components a prepared signal remembers before it starts afresh (a fact unique to
# each workspace, such as its company domain, would otherwise grow the memory without end).
COMPONENT_MEMORY = 50_000


class _PreparedSignal(NamedTuple):
    key: str
    group: str
    read: Callable[[WorkspaceSignals], object]
    describe: Callable[[WorkspaceSignals, object], str]
    points_of: Callable[[object], int]
    words_key: Callable[[WorkspaceSignals], Hashable] | None
    # The component already built for a raw value (by its type too: 1, 1.0 and True hash
    # alike) and words key.
    seen: dict


@dataclass(frozen=True)
class _Prepared:
    """A model version ready to score many workspaces: its signals in display order, each
    with its reader, words, points function and the components met so far, and the decay
    of each number of idle days met so far."""

    signals: tuple[_PreparedSignal, ...]
    decay: dict = field(default_factory=dict)


_prepared: dict[ModelConfig, _Prepared] = {}
_last_prepared: list[tuple[ModelConfig | None, _Prepared | None]] = [(None, None)]


def _prepare(model: ModelConfig) -> _Prepared:
    # The same config object scores a whole chunk: skip hashing it (all its bands) each time.
    last_model, last = _last_prepared[0]
    if last_model is model:
        return last
    prepared = _prepared.get(model)
    if prepared is None:
        if len(_prepared) > 16:
            _prepared.clear()
        prepared = _prepared[model] = _Prepared(
            signals=tuple(
                _PreparedSignal(
                    spec.key,
                    spec.group,
                    spec.read,
                    spec.describe,
                    _points_function(c, spec.kind),
                    spec.words_key,
                    {},
                )
                for c in sorted(model.signals, key=lambda c: _ORDER[c.key])
                for spec in (SIGNALS[c.key],)
            )
        )
    _last_prepared[0] = (model, prepared)  # one assignment: safe between threads
    return prepared


def _component(signal: _PreparedSignal, signals: WorkspaceSignals) -> Component:
    """One signal's component for a workspace, reused when an earlier workspace had the same
    raw value and words key."""
    raw = signal.read(signals)
    words = None if signal.words_key is None else signal.words_key(signals)
    if words is UNCACHED:
        points = 0 if raw is None else signal.points_of(raw)
        return Component(signal.key, signal.group, raw, points, signal.describe(signals, raw))
    key = (type(raw), raw, words)
    seen = signal.seen
    component = seen.get(key)
    if component is None:
        points = 0 if raw is None else signal.points_of(raw)
        component = Component(signal.key, signal.group, raw, points, signal.describe(signals, raw))
        if len(seen) >= COMPONENT_MEMORY:
            seen.clear()
        seen[key] = component
    return component


def _decay(prepared: _Prepared, model: ModelConfig, idle: int | None) -> tuple[float, int]:
    """The multiplier after ``idle`` days and its whole percent, once per model and days."""
    found = prepared.decay.get(idle)
    if found is None:
        multiplier = decay_multiplier(
            idle_days=idle,
            after_days=model.decay_after_days,
            half_life_days=model.decay_half_life_days,
        )
        found = prepared.decay[idle] = (multiplier, _round_float(multiplier * 100))
    return found


def score(signals: WorkspaceSignals, model: ModelConfig) -> ScoreResult:
    """Score one workspace under one model version."""
    prepared = _prepare(model)
    components = [_component(signal, signals) for signal in prepared.signals]
    fit = engagement = 0
    for component in components:
        if component.group == FIT:
            fit += component.points
        else:
            engagement += component.points
    fit = max(0, min(SCORE_MAX, fit))
    engagement = max(0, min(SCORE_MAX, engagement))

    idle = signals.days_since_last_activity
    multiplier, percent = _decay(prepared, model, idle)
    if multiplier < 1 and engagement > 0:
        decayed = _round_float(engagement * multiplier)
        text = (
            "never active: engagement does not count"
            if idle is None
            else f"idle {idle} days: engagement counts {percent}%"
        )
        components.append(Component(DECAY_SIGNAL, ENGAGEMENT, idle, decayed - engagement, text))
        engagement = decayed

    qualifies = (model.engagement_min is None or engagement >= model.engagement_min) and (
        model.fit_min is None or fit >= model.fit_min
    )
    kind = lead_type(signals, qualifies=qualifies)
    return ScoreResult(
        fit=fit,
        engagement=engagement,
        is_pql=kind != NONE,
        lead_type=kind,
        components=tuple(components),
        idle_days=idle,
    )
