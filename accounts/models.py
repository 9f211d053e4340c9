"""Users, workspaces (the tenant), memberships, invitations, API keys, onboarding and audit."""

import zoneinfo
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


class TimeStampedModel(models.Model):
    """Abstract base: when a row was created and last updated.

    ``created_at`` takes a default rather than ``auto_now_add`` so imports and demo data can
    set a past date.
    """

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


def validate_time_zone(value: str) -> None:
    """Accept only IANA time zone names ("Europe/Paris", "UTC")."""
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"“{value}” is not a known time zone.", code="invalid_time_zone")


class UserManager(BaseUserManager["User"]):
    """Creates users by e-mail; e-mail addresses are stored lower-cased."""

    use_in_migrations = True

    @classmethod
    def normalize_email(cls, email: str | None) -> str:
        return (email or "").strip().lower()

    def get_by_natural_key(self, username: str | None) -> "User":
        """Log-in is case-insensitive: any letter case finds the same user."""
        return self.get(email=self.normalize_email(username))

    def _create_user(self, email: str, password: str | None, **extra_fields) -> "User":
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra_fields) -> "User":
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email: str, password: str | None = None, **extra_fields) -> "User":
        extra_fields["is_staff"] = True
        extra_fields["is_superuser"] = True
        return self._create_user(email, password, **extra_fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in with an e-mail address (unique whatever its letter case)."""

    email = models.EmailField("e-mail address", max_length=254, unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(
        default=False, help_text="Staff can log in to the admin and the sales pages."
    )
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = type(self).objects.normalize_email(self.email)

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


class TeamSize(models.TextChoices):
    ONE = "1", "Just me"
    SMALL = "2-10", "2 to 10 people"
    MEDIUM = "11-50", "11 to 50 people"
    LARGE = "51-200", "51 to 200 people"
    HUGE = "201+", "More than 200 people"


class UseCase(models.TextChoices):
    """What a workspace signed up to do (asked once after sign-up; it orders the onboarding
    checklist)."""

    METERING = "metering", "Meter usage and enforce plan limits"
    TEAM = "team", "Run the back office with my team"
    SALES = "sales", "Hand product-qualified leads to sales"
    EXPLORING = "exploring", "Just exploring"


# The keys kept from the first visit's address and referrer (``accounts.signup_source``).
SIGNUP_SOURCE_KEYS = (
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "referrer",
)


class Workspace(TimeStampedModel):
    """The tenant: a company's space, its members, keys, plan and usage."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60, unique=True)
    company_domain = models.CharField(max_length=253, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    activated_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the workspace first completed its activation step (first value).",
    )
    is_demo = models.BooleanField(
        default=False,
        help_text="Made by seed_demo: demo usage is generated for it. Never set on a "
        "workspace that people signed up for.",
    )
    deleted_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When an owner deleted it: it has no members, keys or open invitations "
        "any more; billing records stay.",
    )
    team_size = models.CharField(max_length=10, choices=TeamSize.choices, blank=True)
    use_case = models.CharField(max_length=20, choices=UseCase.choices, blank=True)
    signup_source = models.JSONField(
        default=dict,
        blank=True,
        help_text="UTM parameters and the external referrer of the sign-up's first visit.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def time_to_value(self) -> timedelta | None:
        """From sign-up to the first completion of the activation step."""
        if self.activated_at is None:
            return None
        return self.activated_at - self.created_at


class WorkspaceFormerSlug(models.Model):
    """A slug a workspace had before it changed it: links with it still lead its members to
    the workspace, and no other workspace may take it."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="former_slugs")
    slug = models.SlugField(max_length=60, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.slug} → {self.workspace_id}"


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


MANAGER_ROLES = frozenset({Role.OWNER, Role.ADMIN})


class Membership(TimeStampedModel):
    """A user's seat in a workspace, with a role. Created only by ``membership_create``."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "user"], name="accounts_membership_unique_user"
            ),
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="accounts_membership_role_valid"
            ),
        ]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"

    @property
    def can_manage(self) -> bool:
        """Owners and admins manage members, invitations and API keys."""
        return self.role in MANAGER_ROLES


class InvitationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    EXPIRED = "expired", "Expired"
    ACCEPTED = "accepted", "Accepted"
    REVOKED = "revoked", "Revoked"


class Invitation(TimeStampedModel):
    """An invitation by e-mail to join a workspace with a role.

    The link's token is stored only as a SHA-256 hash. At most one open (neither accepted
    nor revoked) invitation exists per workspace and e-mail address.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(max_length=254)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "workspace",
                Lower("email"),
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="accounts_invitation_one_open_per_email",
            ),
            models.CheckConstraint(
                condition=models.Q(accepted_at__isnull=True) | models.Q(revoked_at__isnull=True),
                name="accounts_invitation_not_accepted_and_revoked",
            ),
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="accounts_invitation_role_valid"
            ),
        ]
        ordering = ["-sent_at", "-id"]

    def __str__(self) -> str:
        return f"{self.email} to {self.workspace_id} ({self.role})"

    def status(self, now: datetime | None = None) -> InvitationStatus:
        if self.accepted_at is not None:
            return InvitationStatus.ACCEPTED
        if self.revoked_at is not None:
            return InvitationStatus.REVOKED
        if self.expires_at <= (now or timezone.now()):
            return InvitationStatus.EXPIRED
        return InvitationStatus.PENDING

    @property
    def is_open(self) -> bool:
        """Neither accepted nor revoked (it may still have expired)."""
        return self.accepted_at is None and self.revoked_at is None


class ApiKey(TimeStampedModel):
    """A workspace API key. Only ``prefix`` and a SHA-256 hash of the secret are stored.

    The full key reads ``hk_<prefix>_<secret>``; the prefix finds the row, the hash checks
    the secret. Keys are random (256 bits), so a fast hash is enough.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} (hk_{self.prefix}_…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class OnboardingStep(models.Model):
    """The first time a workspace completed one step of its onboarding checklist."""

    class Key(models.TextChoices):
        INVITE_TEAMMATE = "invite_teammate", "Invite a teammate"
        CREATE_API_KEY = "create_api_key", "Create an API key"
        FIRST_USAGE_EVENT = "first_usage_event", "Send a first usage event"

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="onboarding_steps"
    )
    key = models.CharField(max_length=40, choices=Key.choices)
    completed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "key"], name="accounts_onboarding_step_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.workspace_id}: {self.key}"


class AuditEvent(models.Model):
    """An append-only record of a change that matters: who did what, when, before and after."""

    class Action(models.TextChoices):
        WORKSPACE_CREATED = "workspace.created", "Workspace created"
        WORKSPACE_CHANGED = "workspace.changed", "Workspace renamed or moved to a new address"
        WORKSPACE_DELETED = "workspace.deleted", "Workspace deleted"
        USER_EMAIL_CHANGED = "user.email_changed", "E-mail address changed"
        MEMBER_ADDED = "member.added", "Member added"
        MEMBER_ROLE_CHANGED = "member.role_changed", "Member role changed"
        MEMBER_REMOVED = "member.removed", "Member removed"
        INVITATION_SENT = "invitation.sent", "Invitation sent"
        INVITATION_RESENT = "invitation.resent", "Invitation resent"
        INVITATION_REVOKED = "invitation.revoked", "Invitation revoked"
        INVITATION_ACCEPTED = "invitation.accepted", "Invitation accepted"
        API_KEY_CREATED = "api_key.created", "API key created"
        API_KEY_REVOKED = "api_key.revoked", "API key revoked"
        PROJECT_CREATED = "project.created", "Project created"
        PROJECT_RENAMED = "project.renamed", "Project renamed"
        PROJECT_DELETED = "project.deleted", "Project deleted"
        PLAN_CREATED = "plan.created", "Plan created"
        PLAN_CHANGED = "plan.changed", "Plan changed"
        OVERRIDE_GRANTED = "override.granted", "Override granted"
        OVERRIDE_REVOKED = "override.revoked", "Override revoked"
        SUBSCRIPTION_PLAN_CHANGED = "subscription.plan_changed", "Workspace moved to a plan"
        SUBSCRIPTION_CHANGED = (
            "subscription.changed",
            "Subscription changed (seats, plan, interval)",
        )
        SUBSCRIPTION_CANCEL_REQUESTED = "subscription.cancel_requested", "Cancellation requested"
        SUBSCRIPTION_RESUMED = "subscription.resumed", "Subscription resumed"
        STAFF_USER_SET = "staff.user_set", "Staff log-in created or changed (role, password)"

    workspace = models.ForeignKey(
        Workspace, null=True, blank=True, on_delete=models.CASCADE, related_name="audit_events"
    )
    actor = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=50, choices=Action.choices)
    subject = models.CharField(max_length=255, blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.subject}"


class Project(TimeStampedModel):
    """The product's unit of work inside a workspace, counted against the plan's projects
    limit. Created only by ``project_create``. Names are unique within a workspace, whatever
    their letter case."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=100)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "workspace", Lower("name"), name="accounts_project_name_ci_unique"
            ),
        ]
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name
