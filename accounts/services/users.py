"""Users: creating one, and changing a user's own profile."""

from django.contrib.auth import password_validation
from django.contrib.auth.hashers import check_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from accounts.audit import audit_record
from accounts.errors import ApplicationError, Conflict
from accounts.free_mail import FREE_MAIL_DOMAINS
from accounts.models import (
    AuditEvent,
    User,
)

# Mail providers whose domain says nothing about the company a person works for.
PERSONAL_EMAIL_DOMAINS = FREE_MAIL_DOMAINS


def user_create(*, email: str, password: str, full_name: str = "") -> User:
    """Create a user after checking the e-mail (format, unused in any letter case) and the
    password (Django's validators)."""
    email = User.objects.normalize_email(email)
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ApplicationError("Enter a valid e-mail address.", field="email") from exc
    if User.objects.filter(email=email).exists():
        raise Conflict("An account with this e-mail address already exists.", field="email")
    candidate = User(email=email, full_name=full_name)
    try:
        password_validation.validate_password(password, user=candidate)
    except ValidationError as exc:
        raise ApplicationError(" ".join(exc.messages), field="password") from exc
    try:
        with transaction.atomic():
            return User.objects.create_user(email=email, password=password, full_name=full_name)
    except IntegrityError as exc:  # a concurrent sign-up with the same address won the race
        raise Conflict(
            "An account with this e-mail address already exists.", field="email"
        ) from exc


def company_domain_from_email(email: str) -> str:
    """The company's domain from a work address; empty for personal mail providers."""
    domain = email.rpartition("@")[2].lower()
    return "" if domain in PERSONAL_EMAIL_DOMAINS else domain


@transaction.atomic
def user_update_profile(
    *, user: User, full_name: str, email: str, current_password: str = ""
) -> User:
    """Change a user's name and e-mail address. A new address must be valid and unused (in
    any letter case), and needs the current password: the address is the log-in."""
    full_name = full_name.strip()
    if len(full_name) > 150:
        raise ApplicationError("Keep the name to 150 characters.", field="full_name")
    email = User.objects.normalize_email(email)
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ApplicationError("Enter a valid e-mail address.", field="email") from exc
    user = User.objects.select_for_update().get(pk=user.pk)
    changed = []
    if full_name != user.full_name:
        user.full_name = full_name
        changed.append("full_name")
    old_email = user.email
    if email != old_email:
        if not current_password or not check_password(current_password, user.password):
            raise ApplicationError(
                "Enter your current password to change your e-mail address.",
                field="current_password",
            )
        if User.objects.filter(email=email).exclude(pk=user.pk).exists():
            raise Conflict("Another account already uses this e-mail address.", field="email")
        user.email = email
        changed.append("email")
    if not changed:
        return user
    try:
        with transaction.atomic():
            user.save(update_fields=changed)
    except IntegrityError as exc:  # the address was taken a moment ago
        raise Conflict("Another account already uses this e-mail address.", field="email") from exc
    if "email" in changed:
        audit_record(
            action=AuditEvent.Action.USER_EMAIL_CHANGED,
            actor=user,
            subject=email,
            before={"email": old_email},
            after={"email": email},
        )
    return user
