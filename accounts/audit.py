"""The audit log: its one writer, and how its entries read for the workspace's people.

Rows keep the raw facts (codes, cents, ISO dates). ``audit_entries`` turns them into
sentences — "Ada changed the plan from Free to Pro and the seats from 3 to 5." — showing
only what changed, money and dates formatted, and staff named "Handoff staff" (who they
are stays in the admin).
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo

from django.utils import dateformat, timezone

from accounts.models import AuditEvent, Role, TeamSize, UseCase, User, Workspace

STAFF_LABEL = "Handoff staff"
SYSTEM_LABEL = "Handoff"


def audit_record(
    *,
    action: AuditEvent.Action | str,
    actor: User | None,
    subject: str = "",
    workspace: Workspace | None = None,
    before: dict | None = None,
    after: dict | None = None,
    now: datetime | None = None,
) -> AuditEvent:
    """Append one audit event (never updated, never deleted)."""
    return AuditEvent.objects.create(
        action=action,
        actor=actor,
        subject=subject,
        workspace=workspace,
        before=before or {},
        after=after or {},
        created_at=now or timezone.now(),
    )


# Reading the log --------------------------------------------------------------------------


def _no_names() -> Mapping[str, str]:
    return {}


def _plain_money(cents: int, currency: str) -> str:
    return f"{cents / 100:,.2f} {currency.upper()}"


class AuditVocabulary:
    """The names a sentence needs from the apps above accounts (plan, metric and feature
    names, cancellation reasons) and their money format. The page passes loaders; each runs
    at most once, and only when an entry on the page needs it."""

    def __init__(
        self,
        *,
        plans: Callable[[], Mapping[str, str]] = _no_names,
        metrics: Callable[[], Mapping[str, str]] = _no_names,
        features: Callable[[], Mapping[str, str]] = _no_names,
        reasons: Callable[[], Mapping[str, str]] = _no_names,
        money: Callable[[int, str], str] = _plain_money,
        enforcement_notes: Mapping[str, str] | None = None,
    ) -> None:
        self._loaders = {
            "plan": plans,
            "metric": metrics,
            "feature": features,
            "reason": reasons,
        }
        self._loaded: dict[str, Mapping[str, str]] = {}
        self.money = money
        # What a limit's enforcement means, said after it (``usage.models.Enforcement``).
        self.enforcement_notes = enforcement_notes or {}

    def name(self, kind: str, key: object) -> str:
        """The display name of ``key``; a humanised key when it is unknown (a deleted plan)."""
        if kind not in self._loaded:
            self._loaded[kind] = self._loaders[kind]()
        text = str(key)
        return self._loaded[kind].get(text) or text.replace("_", " ").capitalize()


@dataclass(frozen=True)
class AuditEntry:
    """One row of the audit log as the workspace's people read it."""

    event: AuditEvent
    sentence: str
    details: tuple[str, ...] = ()


def actor_label(actor: User | None) -> str:
    """Who did it, as customers see it: a person's name, "Handoff staff" for staff, and
    "Handoff" for changes nobody made by hand (a webhook, a scheduled job)."""
    if actor is None:
        return SYSTEM_LABEL
    if actor.is_staff or actor.is_superuser:
        return STAFF_LABEL
    return actor.get_full_name()


def audit_entries(
    events: Iterable[AuditEvent], *, vocabulary: AuditVocabulary, tz: tzinfo
) -> list[AuditEntry]:
    """Each event as a sentence (plus detail lines), dates in ``tz``."""
    return [_Describer(event, vocabulary, tz).entry() for event in events]


def _quoted(text: object) -> str:
    return f"“{text}”"


def _and(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _lower_first(name: str) -> str:
    """ "Seats" -> "seats", but "API calls" stays."""
    return name if name[:2].isupper() else name[:1].lower() + name[1:]


_ROLE_NAMES = {value: label.lower() for value, label in Role.choices}
_INTERVALS = {"month": "monthly", "year": "yearly"}


class _Describer:
    def __init__(self, event: AuditEvent, vocabulary: AuditVocabulary, tz: tzinfo) -> None:
        self.event = event
        self.words = vocabulary
        self.tz = tz
        self.who = actor_label(event.actor)
        self.before: dict = event.before if isinstance(event.before, dict) else {}
        self.after: dict = event.after if isinstance(event.after, dict) else {}
        self.subject = event.subject

    def entry(self) -> AuditEntry:
        describe = getattr(self, "_" + self.event.action.replace(".", "_"), self._generic)
        result = describe()
        sentence, details = result if isinstance(result, tuple) else (result, ())
        return AuditEntry(event=self.event, sentence=sentence, details=tuple(details))

    # Formatting helpers

    def _date(self, value: object) -> str:
        if not isinstance(value, str):
            return str(value)
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        if timezone.is_naive(moment):
            return dateformat.format(moment, "M j, Y")
        return dateformat.format(moment.astimezone(self.tz), "M j, Y")

    def _role(self, value: object) -> str:
        return _ROLE_NAMES.get(str(value), str(value))

    def _plan(self, code: object) -> str:
        return self.words.name("plan", code)

    def _acts_on_self(self) -> bool:
        actor = self.event.actor
        return actor is not None and actor.email == self.subject

    def _api_key(self) -> str:
        name, _, prefix = self.subject.rpartition(" (")
        if not name:
            return _quoted(self.subject)
        return f"{_quoted(name)} (hk_{prefix.rstrip(')')}_…)"

    def _value(self, value: object) -> str:
        if isinstance(value, bool):
            return "on" if value else "off"
        if value is None:
            return "none"
        if isinstance(value, int):
            return f"{value:,}"
        if isinstance(value, str) and len(value) >= 10 and value[4:5] == "-":
            return self._date(value)
        if isinstance(value, dict | list):
            return "changed"
        return str(value)

    # Workspaces and members

    def _workspace_created(self) -> str:
        name = self.after.get("name") or self.subject
        return f"{self.who} created the workspace {_quoted(name)}."

    def _workspace_changed(self) -> str:
        parts = []
        if "name" in self.after:
            parts.append(
                f"renamed the workspace from {_quoted(self.before.get('name'))} to "
                f"{_quoted(self.after['name'])}"
            )
        if "slug" in self.after:
            whose = "its" if parts else "the workspace's"
            parts.append(
                f"changed {whose} address from /w/{self.before.get('slug')}/ to "
                f"/w/{self.after['slug']}/"
            )
        if "use_case" in self.after or "team_size" in self.after:
            size = dict(TeamSize.choices).get(self.after.get("team_size"), "not said")
            use = dict(UseCase.choices).get(self.after.get("use_case"), "not said")
            parts.append(f"answered the sign-up questions (team size: {size}; use: {use})")
        return f"{self.who} {_and(parts) or 'changed the workspace'}."

    def _workspace_deleted(self) -> str:
        return f"{self.who} deleted the workspace {_quoted(self.before.get('name', ''))}."

    def _member_added(self) -> str:
        role = self._role(self.after.get("role"))
        if self._acts_on_self():
            return f"{self.who} joined as {role}."
        return f"{self.who} added {self.subject} as {role}."

    def _member_role_changed(self) -> str:
        return (
            f"{self.who} changed the role of {self.subject} from "
            f"{self._role(self.before.get('role'))} to {self._role(self.after.get('role'))}."
        )

    def _member_removed(self) -> str:
        if self._acts_on_self():
            return f"{self.who} left the workspace."
        return f"{self.who} removed {self.subject} from the workspace."

    def _invitation_sent(self) -> str:
        return f"{self.who} invited {self.subject} to join as {self._role(self.after.get('role'))}."

    def _invitation_resent(self) -> str:
        return f"{self.who} sent the invitation to {self.subject} again."

    def _invitation_revoked(self) -> str:
        return f"{self.who} withdrew the invitation to {self.subject}."

    def _invitation_accepted(self) -> str:
        role = self._role(self.after.get("role"))
        return f"{self.who} accepted the invitation and joined as {role}."

    def _user_email_changed(self) -> str:
        return f"{self.who} changed their e-mail address."

    # API keys and projects

    def _api_key_created(self) -> str:
        return f"{self.who} created the API key {self._api_key()}."

    def _api_key_revoked(self) -> str:
        return f"{self.who} revoked the API key {self._api_key()}."

    def _project_created(self) -> str:
        return f"{self.who} created the project {_quoted(self.subject)}."

    def _project_renamed(self) -> str:
        return (
            f"{self.who} renamed the project {_quoted(self.before.get('name'))} to "
            f"{_quoted(self.after.get('name'))}."
        )

    def _project_deleted(self) -> str:
        return f"{self.who} deleted the project {_quoted(self.before.get('name', self.subject))}."

    # Billing

    def _until(self, data: dict) -> str:
        return f" until {self._date(data['expires_at'])}" if data.get("expires_at") else ""

    def _override_granted(self) -> str:
        data = self.after
        if data.get("metric"):
            metric = _lower_first(self.words.name("metric", data["metric"]))
            if data.get("limit") is None:
                change = f"lifted the {metric} limit for this workspace (unlimited)"
            else:
                change = f"set the {metric} limit to {self._value(data['limit'])}"
                note = self.words.enforcement_notes.get(data.get("enforcement") or "")
                if note:
                    change += f" ({note})"
            return f"{self.who} {change}{self._until(data)}."
        feature = self.words.name("feature", data.get("feature"))
        state = "turned on" if data.get("enabled") else "turned off"
        return f"{self.who} {state} {feature} for this workspace{self._until(data)}."

    def _override_revoked(self) -> str:
        data = self.before
        if data.get("metric"):
            metric = _lower_first(self.words.name("metric", data["metric"]))
            return f"{self.who} removed the special {metric} limit: the plan's limit applies again."
        feature = self.words.name("feature", data.get("feature"))
        return f"{self.who} removed the special setting for {feature}: the plan decides again."

    def _subscription_plan_changed(self) -> str:
        return (
            f"{self.who} changed the plan from {self._plan(self.before.get('plan'))} to "
            f"{self._plan(self.after.get('plan'))}."
        )

    def _subscription_changed(self) -> str:
        before, after = self.before, self.after
        parts = []

        def change(what: str, old: object, new: object) -> None:
            if old == new or new is None:
                return
            parts.append(f"{what} to {new}" if old is None else f"{what} from {old} to {new}")

        if before.get("plan") != after.get("plan"):
            old = self._plan(before["plan"]) if before.get("plan") else None
            change("the plan", old, self._plan(after.get("plan")))
        change(
            "billing",
            _INTERVALS.get(before.get("interval"), before.get("interval")),
            _INTERVALS.get(after.get("interval"), after.get("interval")),
        )
        change("the seats", before.get("seats"), after.get("seats"))
        old_price = (before.get("price_cents"), before.get("currency"))
        new_price = (after.get("price_cents"), after.get("currency"))
        if new_price != old_price and new_price[0] is not None:
            change(
                "the price",
                self.words.money(*old_price) if old_price[0] is not None else None,
                self.words.money(*new_price),
            )
        return f"{self.who} changed {_and(parts) or 'the subscription'}."

    def _subscription_cancel_requested(self) -> tuple[str, list[str]]:
        data = self.after
        sentence = f"{self.who} canceled the {self._plan(data.get('plan'))} subscription"
        if data.get("ends_at"):
            sentence += f": it ends on {self._date(data['ends_at'])}"
        details = []
        if data.get("reason"):
            details.append(f"Reason: {self.words.name('reason', data['reason'])}.")
        if data.get("comment"):
            details.append(f"Comment: {_quoted(data['comment'])}")
        return sentence + ".", details

    def _subscription_resumed(self) -> str:
        return (
            f"{self.who} kept the {self._plan(self.after.get('plan'))} subscription: "
            "it renews again."
        )

    # Anything else (an action added later): its name, and only the values that changed.

    def _generic(self) -> tuple[str, list[str]]:
        sentence = f"{self.who}: {self.event.get_action_display()}"
        if self.subject:
            sentence += f" ({self.subject})"
        details = []
        for key in sorted(self.before.keys() | self.after.keys()):
            old, new = self.before.get(key), self.after.get(key)
            if old == new:
                continue
            label = key.replace("_", " ").capitalize()
            if key not in self.before:
                details.append(f"{label}: {self._value(new)}.")
            elif key not in self.after:
                details.append(f"{label} was {self._value(old)}.")
            else:
                details.append(f"{label} changed from {self._value(old)} to {self._value(new)}.")
        return sentence + ".", details
