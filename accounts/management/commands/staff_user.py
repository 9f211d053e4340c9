"""``manage.py staff_user EMAIL --role ROLE``: create or update a staff log-in (the first admin
of an installation, a billing admin, a sales rep or manager). It never prints a password."""

import getpass
import os
import sys
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts import services
from accounts.errors import ApplicationError
from accounts.models import User
from accounts.roles import STAFF_ROLES

SOURCE_FLAGS = "--password, --password-from-env VARIABLE or --no-password"


class Command(BaseCommand):
    help = (
        "Create or update a staff user with a role: superuser, billing-admin (group "
        '"Billing admins"), sales-rep ("Sales") or sales-manager ("Sales" and "Sales '
        "managers\"). The user leaves the other staff roles' groups. Running it again with "
        "the same arguments changes nothing. The password is typed at a prompt (twice), read "
        "from an environment variable, or not set at all (--no-password: a one-time "
        "password-reset link is printed instead); an existing user keeps theirs unless one of "
        "these is given. No password is ever printed."
    )
    # Tests hand the command a terminal of their own; call_command passes it through.
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="The staff user's e-mail address (their log-in).")
        parser.add_argument(
            "--role",
            choices=list(STAFF_ROLES),
            help="The role to hold; an existing staff user keeps theirs when it is left out.",
        )
        source = parser.add_mutually_exclusive_group()
        source.add_argument(
            "--password",
            action="store_true",
            help="Ask for a new password at a prompt (the default for a new user in a terminal).",
        )
        source.add_argument(
            "--password-from-env",
            metavar="VARIABLE",
            help="Take the password from this environment variable, e.g. HANDOFF_ADMIN_PASSWORD.",
        )
        source.add_argument(
            "--no-password",
            action="store_true",
            help="Leave no usable password and print a one-time link where the user sets one.",
        )

    def handle(self, *args: object, **options) -> None:
        self.stdin = options.get("stdin", sys.stdin)
        email: str = options["email"]
        role: str | None = options["role"]
        try:
            password = self._password(options, email=email)
        except KeyboardInterrupt:
            raise CommandError("Interrupted: nothing changed.") from None
        try:
            result = services.staff_user_set(
                email=email,
                role=role,
                password=password,
                unusable_password=options["no_password"],
            )
        except ApplicationError as exc:
            message = exc.message
            if exc.field == "role" and role is None:
                message += f" Use --role {{{','.join(STAFF_ROLES)}}}."
            elif exc.field == "password" and password is None and not options["no_password"]:
                message += f" Use {SOURCE_FLAGS}."
            raise CommandError(message) from exc

        self._report(result)
        if options["no_password"]:
            self._print_reset_link(result.user)

    def _password(self, options: dict, *, email: str) -> str | None:
        """The password asked for, or None to keep the current one."""
        if variable := options["password_from_env"]:
            value = os.environ.get(variable, "")
            if not value:
                raise CommandError(f"The environment variable {variable} is not set or empty.")
            return value
        if options["no_password"]:
            return None
        exists = User.objects.filter(email=User.objects.normalize_email(email)).exists()
        if not options["password"] and exists:
            return None
        if not self._interactive():
            if options["password"]:
                raise CommandError(
                    "--password asks at a prompt, and there is no terminal: use "
                    "--password-from-env VARIABLE instead."
                )
            return None  # a new user without a password: the service says what is missing
        first = getpass.getpass(f"Password for {email}: ")
        second = getpass.getpass("Password (again): ")
        if first != second:
            raise CommandError("The two passwords differ: nothing changed.")
        if not first:
            raise CommandError("The password is empty: nothing changed.")
        return first

    def _interactive(self) -> bool:
        isatty = getattr(self.stdin, "isatty", None)
        return bool(isatty and isatty())

    def _report(self, result: services.StaffUserResult) -> None:
        email, role = result.user.email, result.role.title
        if not result.changed:
            self.stdout.write(f"{email} is already a {role} as asked: nothing changed.")
            return
        if result.created:
            lines = [f"Created the staff user {email} as {role}."]
        else:
            lines = []
            if result.role_before is None:
                lines.append(f"{email} is now a {role}.")
            elif result.role_before != result.role:
                lines.append(f"{email}: role changed from {result.role_before.title} to {role}.")
            if "is_active" in result.fields_changed:
                lines.append(f"{email} can log in again (the user was deactivated).")
            if result.password_changed:
                lines.append(
                    f"{email}: the password no longer works; set a new one with the link below."
                    if not result.user.has_usable_password()
                    else f"{email}: password changed."
                )
            if not lines:  # the role stays; only its groups or flags were put right
                lines.append(f"{email}: put back to exactly a {role}.")
        for line in lines:
            self.stdout.write(self.style.SUCCESS(line))

    def _print_reset_link(self, user: User) -> None:
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        token = default_token_generator.make_token(user)
        path = reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})
        site = settings.HANDOFF_SITE_URL.rstrip("/")
        days = timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT).days
        validity = f"{days} days" if days != 1 else "1 day"
        self.stdout.write(
            f"One-time link where {user.email} sets a password (valid for {validity}, until used):"
        )
        self.stdout.write(f"  {site}{path}")
