"""Staff log-ins: creating or updating a staff user holding one staff role."""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import password_validation
from django.contrib.auth.hashers import check_password
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from accounts.audit import audit_record
from accounts.errors import ApplicationError, Conflict
from accounts.models import (
    AuditEvent,
    User,
)
from accounts.roles import STAFF_GROUPS, STAFF_ROLES, StaffRole, staff_role_of


@dataclass(frozen=True)
class StaffUserResult:
    """What ``staff_user_set`` did: ``changed`` is False when the user already was as asked."""

    user: User
    role: StaffRole
    role_before: StaffRole | None
    created: bool
    fields_changed: tuple[str, ...]
    groups_added: tuple[str, ...]
    groups_removed: tuple[str, ...]
    password_changed: bool

    @property
    def changed(self) -> bool:
        return bool(
            self.created
            or self.fields_changed
            or self.groups_added
            or self.groups_removed
            or self.password_changed
        )


@transaction.atomic
def staff_user_set(
    *,
    email: str,
    role: str | None,
    password: str | None = None,
    unusable_password: bool = False,
    now: datetime | None = None,
) -> StaffUserResult:
    """Create or update an active staff user holding ``role`` (a key of ``STAFF_ROLES``; None
    keeps an existing staff user's role), and in no other staff role's group.

    ``password`` (checked by Django's validators) replaces the current one unless it already
    is that password; ``unusable_password`` leaves one nobody can log in with (the user then
    sets theirs through a password-reset link); with neither, an existing user keeps theirs
    and a new user is refused. Asking twice changes nothing the second time; a change writes
    one audit row.
    """
    email = User.objects.normalize_email(email)
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ApplicationError(f"“{email}” is not a valid e-mail address.", field="email") from exc
    if role is not None and role not in STAFF_ROLES:
        raise ApplicationError(
            f"“{role}” is not a staff role: choose one of {', '.join(STAFF_ROLES)}.", field="role"
        )
    if password is not None and unusable_password:
        raise ApplicationError("Give a password or no password, not both.", field="password")

    user = User.objects.select_for_update().filter(email=email).first()
    created = user is None
    if user is None:
        if password is None and not unusable_password:
            raise ApplicationError(
                f"{email} is a new user: it needs a password, or a password-reset link instead.",
                field="password",
            )
        user = User(email=email, is_active=True)
        held: set[str] = set()
        role_before = None
    else:
        held = set(user.groups.filter(name__in=STAFF_GROUPS).values_list("name", flat=True))
        role_before = staff_role_of(
            is_staff=user.is_staff, is_superuser=user.is_superuser, group_names=held
        )
    target = STAFF_ROLES[role] if role is not None else role_before
    if target is None:
        if held:
            what = f"is staff in {', '.join(sorted(held))}, not one role"
        else:
            what = "is a new user" if created else "is not staff"
        raise ApplicationError(f"{email} {what}: give the role to hold.", field="role")
    groups = {group.name: group for group in Group.objects.filter(name__in=target.groups)}
    if missing := target.groups - groups.keys():
        raise ApplicationError(
            f"The group {', '.join(sorted(missing))} does not exist: run `manage.py migrate`.",
            field="role",
        )

    password_changed = False
    if password is not None:
        try:
            password_validation.validate_password(password, user=user)
        except ValidationError as exc:
            raise ApplicationError(" ".join(exc.messages), field="password") from exc
        if created or not check_password(password, user.password):
            user.set_password(password)
            password_changed = True
    elif unusable_password and (created or user.has_usable_password()):
        user.set_unusable_password()
        password_changed = True

    wanted = {"is_active": True, "is_staff": True, "is_superuser": target.is_superuser}
    fields_changed = tuple(name for name, value in wanted.items() if getattr(user, name) != value)
    for name, value in wanted.items():
        setattr(user, name, value)
    if created:
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError as exc:  # created at the same moment by another run
            raise Conflict(f"{email} was created meanwhile: run the command again.") from exc
    elif fields_changed or password_changed:
        user.save(update_fields=[*fields_changed, *(["password"] if password_changed else [])])

    added = tuple(sorted(target.groups - held))
    removed = tuple(sorted(held - target.groups))
    user.groups.add(*(groups[name] for name in added))
    user.groups.remove(*Group.objects.filter(name__in=removed))

    result = StaffUserResult(
        user=user,
        role=target,
        role_before=role_before,
        created=created,
        fields_changed=() if created else fields_changed,
        groups_added=added,
        groups_removed=removed,
        password_changed=password_changed,
    )
    if result.changed:
        after: dict = {"role": target.key}
        if password_changed:  # what happened to it, never the password itself
            what = "none: a reset link" if unusable_password else "set" if created else "changed"
            after["password"] = what
        audit_record(
            action=AuditEvent.Action.STAFF_USER_SET,
            actor=None,
            subject=email,
            before={} if created else {"role": role_before.key if role_before else None},
            after=after,
            now=now,
        )
    return result
