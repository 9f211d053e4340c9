"""``manage.py staff_user``: staff log-ins with a role, made idempotently, never printing a
password.

The terminal is the edge of the world here: tests hand the command a stand-in terminal and
answer ``getpass`` prompts; everything else (users, groups, audit rows, the reset link) is real.
"""

import getpass
import io
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from accounts import roles
from accounts.models import AuditEvent, User
from tests.factories import PASSWORD, UserFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

EMAIL = "ops@handoff.example"
SECRET = "correct-horse-battery-staple-7"
OTHER_SECRET = "tr0mbone-quiet-lantern-harbor"


class Terminal(io.StringIO):
    """stdin as a person at a terminal."""

    def isatty(self) -> bool:
        return True


class NoTerminal(io.StringIO):
    """stdin of a script, a container or CI."""

    def isatty(self) -> bool:
        return False


def staff_user(*args: str, terminal: bool = False) -> str:
    """Run the command; return everything it wrote (stdout and stderr)."""
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "staff_user",
        *args,
        stdout=out,
        stderr=err,
        stdin=Terminal() if terminal else NoTerminal(),
    )
    return out.getvalue() + err.getvalue()


@pytest.fixture
def env_password(monkeypatch):
    monkeypatch.setenv("HANDOFF_ADMIN_PASSWORD", SECRET)
    return ("--password-from-env", "HANDOFF_ADMIN_PASSWORD")


@pytest.fixture
def typed(monkeypatch):
    """What the person types at the password prompts, in order; records the prompts."""
    answers: list[str] = []
    prompts: list[str] = []

    def fake_getpass(prompt: str = "Password: ", stream=None) -> str:
        prompts.append(prompt)
        return answers.pop(0)

    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    return answers, prompts


def staff_groups(email: str = EMAIL) -> set[str]:
    return set(
        User.objects.get(email=email)
        .groups.filter(name__in=roles.STAFF_GROUPS)
        .values_list("name", flat=True)
    )


def test_the_sales_managers_group_exists_beside_sales_and_billing_admins():
    assert Group.objects.filter(name__in=roles.STAFF_GROUPS).count() == 3


@pytest.mark.parametrize(
    ("role", "groups", "is_superuser"),
    [
        ("superuser", set(), True),
        ("billing-admin", {roles.BILLING_ADMINS}, False),
        ("sales-rep", {roles.SALES}, False),
        ("sales-manager", {roles.SALES, roles.SALES_MANAGERS}, False),
    ],
)
def test_each_role_creates_an_active_staff_user_in_its_groups_who_can_log_in(
    client, env_password, role, groups, is_superuser
):
    output = staff_user(EMAIL, "--role", role, *env_password)

    user = User.objects.get(email=EMAIL)
    assert (user.is_staff, user.is_active, user.is_superuser) == (True, True, is_superuser)
    assert staff_groups() == groups
    assert f"Created the staff user {EMAIL} as {roles.STAFF_ROLES[role].title}." in output
    assert client.login(email=EMAIL, password=SECRET)
    assert client.get("/admin/").status_code == 200


def test_a_billing_admin_edits_plans_a_sales_rep_only_views_them(client, env_password):
    staff_user("billing@handoff.example", "--role", "billing-admin", *env_password)
    staff_user("rep@handoff.example", "--role", "sales-rep", *env_password)

    client.login(email="billing@handoff.example", password=SECRET)
    assert client.get("/admin/billing/plan/add/").status_code == 200
    client.login(email="rep@handoff.example", password=SECRET)
    assert client.get("/admin/billing/plan/").status_code == 200
    assert client.get("/admin/billing/plan/add/").status_code == 403


def test_running_it_twice_changes_nothing_the_second_time_and_says_so(env_password):
    staff_user(EMAIL, "--role", "sales-manager", *env_password)
    before = User.objects.values().get(email=EMAIL)

    output = staff_user(EMAIL, "--role", "sales-manager", *env_password)

    assert output.strip() == f"{EMAIL} is already a sales manager as asked: nothing changed."
    assert User.objects.values().get(email=EMAIL) == before
    assert staff_groups() == {roles.SALES, roles.SALES_MANAGERS}
    assert AuditEvent.objects.filter(action=AuditEvent.Action.STAFF_USER_SET).count() == 1


def test_changing_the_role_leaves_the_other_roles_groups_and_keeps_other_groups(
    client, env_password
):
    staff_user(EMAIL, "--role", "sales-manager", *env_password)
    newsletter = Group.objects.create(name="Newsletter editors")
    User.objects.get(email=EMAIL).groups.add(newsletter)

    output = staff_user(EMAIL, "--role", "billing-admin")
    assert staff_groups() == {roles.BILLING_ADMINS}
    assert f"{EMAIL}: role changed from sales manager to billing admin." in output

    staff_user(EMAIL, "--role", "superuser")
    user = User.objects.get(email=EMAIL)
    assert user.is_superuser
    assert staff_groups() == set()

    output = staff_user(EMAIL, "--role", "sales-rep")
    user.refresh_from_db()
    assert not user.is_superuser
    assert staff_groups() == {roles.SALES}
    assert "from superuser to sales rep" in output
    assert user.groups.filter(name="Newsletter editors").exists()
    # The password given at creation still works: a role change leaves it alone.
    assert client.login(email=EMAIL, password=SECRET)


def test_an_existing_staff_user_keeps_their_role_when_only_the_password_changes(
    client, env_password, monkeypatch
):
    staff_user(EMAIL, "--role", "billing-admin", *env_password)
    monkeypatch.setenv("HANDOFF_ADMIN_PASSWORD", OTHER_SECRET)

    output = staff_user(EMAIL, *env_password)

    assert f"{EMAIL}: password changed." in output
    assert staff_groups() == {roles.BILLING_ADMINS}
    assert not client.login(email=EMAIL, password=SECRET)
    assert client.login(email=EMAIL, password=OTHER_SECRET)


def test_an_end_user_becomes_staff_and_keeps_their_workspace_and_password(client):
    owner = UserFactory(email="founder@northwind.io")
    workspace = WorkspaceFactory(name="Northwind", created_by=owner)

    output = staff_user("founder@northwind.io", "--role", "sales-rep")

    owner.refresh_from_db()
    assert owner.is_staff
    assert "founder@northwind.io is now a sales rep." in output
    assert owner.memberships.filter(workspace=workspace).exists()
    assert client.login(email="founder@northwind.io", password=PASSWORD)


def test_a_deactivated_staff_user_is_let_back_in(env_password):
    staff_user(EMAIL, "--role", "sales-rep", *env_password)
    User.objects.filter(email=EMAIL).update(is_active=False)

    output = staff_user(EMAIL, "--role", "sales-rep")

    assert User.objects.get(email=EMAIL).is_active
    assert "can log in again" in output


def test_a_change_is_audited_without_the_password(env_password):
    staff_user(EMAIL, "--role", "sales-rep", *env_password)
    staff_user(EMAIL, "--role", "sales-manager")
    staff_user(EMAIL, "--no-password")

    events = list(
        AuditEvent.objects.filter(action=AuditEvent.Action.STAFF_USER_SET, subject=EMAIL)
        .order_by("id")
        .values("actor", "workspace", "before", "after")
    )
    assert events == [
        {
            "actor": None,
            "workspace": None,
            "before": {},
            "after": {"role": "sales-rep", "password": "set"},
        },
        {
            "actor": None,
            "workspace": None,
            "before": {"role": "sales-rep"},
            "after": {"role": "sales-manager"},
        },
        {
            "actor": None,
            "workspace": None,
            "before": {"role": "sales-manager"},
            "after": {"role": "sales-manager", "password": "none: a reset link"},
        },
    ]
    assert SECRET not in str(events)


def test_a_role_is_needed_for_someone_who_is_not_staff_yet():
    UserFactory(email="someone@northwind.io")

    with pytest.raises(CommandError, match=r"is not staff: give the role to hold\. Use --role"):
        staff_user("someone@northwind.io")

    assert not User.objects.get(email="someone@northwind.io").is_staff


# Where the password comes from -----------------------------------------------------------


def test_a_new_user_in_a_terminal_is_asked_for_the_password_twice(client, typed):
    answers, prompts = typed
    answers += [SECRET, SECRET]

    output = staff_user(EMAIL, "--role", "superuser", terminal=True)

    assert prompts == [f"Password for {EMAIL}: ", "Password (again): "]
    assert client.login(email=EMAIL, password=SECRET)
    assert SECRET not in output


def test_two_different_passwords_at_the_prompt_create_nothing(typed):
    answers, _ = typed
    answers += [SECRET, OTHER_SECRET]

    with pytest.raises(CommandError, match="The two passwords differ: nothing changed"):
        staff_user(EMAIL, "--role", "superuser", terminal=True)

    assert not User.objects.filter(email=EMAIL).exists()


def test_password_asks_an_existing_user_for_a_new_one(client, env_password, typed):
    staff_user(EMAIL, "--role", "sales-rep", *env_password)
    answers, _ = typed
    answers += [OTHER_SECRET, OTHER_SECRET]

    staff_user(EMAIL, "--password", terminal=True)

    assert client.login(email=EMAIL, password=OTHER_SECRET)


def test_password_prompt_without_a_terminal_is_refused():
    with pytest.raises(CommandError, match="no terminal: use --password-from-env"):
        staff_user(EMAIL, "--role", "superuser", "--password")

    assert not User.objects.filter(email=EMAIL).exists()


def test_a_new_user_without_a_terminal_or_a_password_source_is_refused():
    with pytest.raises(
        CommandError,
        match=r"is a new user: it needs a password, or a password-reset link instead\. "
        r"Use --password, --password-from-env VARIABLE or --no-password\.",
    ):
        staff_user(EMAIL, "--role", "superuser")

    assert not User.objects.filter(email=EMAIL).exists()


def test_an_unset_password_variable_is_refused(monkeypatch):
    monkeypatch.delenv("HANDOFF_ADMIN_PASSWORD", raising=False)

    with pytest.raises(CommandError, match="HANDOFF_ADMIN_PASSWORD is not set or empty"):
        staff_user(EMAIL, "--role", "superuser", "--password-from-env", "HANDOFF_ADMIN_PASSWORD")

    assert not User.objects.filter(email=EMAIL).exists()


def test_no_password_prints_a_one_time_link_where_the_user_sets_one(client, settings):
    settings.HANDOFF_SITE_URL = "https://handoff.example.com/"

    output = staff_user(EMAIL, "--role", "superuser", "--no-password")

    user = User.objects.get(email=EMAIL)
    assert not user.has_usable_password()
    link = next(word for word in output.split() if word.startswith("https://"))
    assert link.startswith("https://handoff.example.com/reset/")
    assert "valid for 3 days, until used" in output

    form = client.get(urlsplit(link).path, follow=True)
    assert form.status_code == 200
    assert form.context["validlink"]
    set_password_url = form.redirect_chain[-1][0]
    done = client.post(
        set_password_url, {"new_password1": OTHER_SECRET, "new_password2": OTHER_SECRET}
    )
    assert done.status_code == 302
    assert client.login(email=EMAIL, password=OTHER_SECRET)

    client.logout()
    again = client.get(urlsplit(link).path, follow=True)
    assert not again.context["validlink"]


def test_no_password_twice_changes_nothing_but_prints_a_fresh_link():
    staff_user(EMAIL, "--role", "sales-rep", "--no-password")
    before = User.objects.values().get(email=EMAIL)

    output = staff_user(EMAIL, "--role", "sales-rep", "--no-password")

    assert "nothing changed" in output
    assert "/reset/" in output
    assert User.objects.values().get(email=EMAIL) == before


def test_no_password_for_an_existing_user_stops_their_old_password(client, env_password):
    staff_user(EMAIL, "--role", "sales-rep", *env_password)

    output = staff_user(EMAIL, "--no-password")

    assert "the password no longer works; set a new one with the link below" in output
    assert not client.login(email=EMAIL, password=SECRET)


# Bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["not-an-email", "ops@", "ops handoff@example.com", ""])
def test_an_invalid_email_is_refused_and_nothing_is_stored(env_password, email):
    with pytest.raises(CommandError, match="is not a valid e-mail address"):
        staff_user(email, "--role", "superuser", *env_password)

    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short1", "too short"),
        ("password123", "too common"),
        ("83920174653", "entirely numeric"),
        ("ops@handoff.example", "too similar"),
    ],
)
def test_a_weak_password_is_refused_with_the_validators_reason(monkeypatch, password, reason):
    monkeypatch.setenv("HANDOFF_ADMIN_PASSWORD", password)

    with pytest.raises(CommandError, match=reason):
        staff_user(EMAIL, "--role", "superuser", "--password-from-env", "HANDOFF_ADMIN_PASSWORD")

    assert not User.objects.filter(email=EMAIL).exists()


def test_a_weak_password_leaves_an_existing_user_as_they_were(client, env_password, monkeypatch):
    staff_user(EMAIL, "--role", "sales-rep", *env_password)
    monkeypatch.setenv("HANDOFF_ADMIN_PASSWORD", "short1")

    with pytest.raises(CommandError, match="too short"):
        staff_user(EMAIL, "--role", "billing-admin", *env_password)

    assert staff_groups() == {roles.SALES}
    assert client.login(email=EMAIL, password=SECRET)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--role", "admin"), "invalid choice: 'admin'"),
        (("--role", "superuser", "--no-password", "--password"), "not allowed with argument"),
        (
            ("--role", "superuser", "--no-password", "--password-from-env", "X"),
            "not allowed with argument",
        ),
    ],
)
def test_unknown_roles_and_two_password_sources_are_refused(args, message):
    with pytest.raises(CommandError, match=message):
        staff_user(EMAIL, *args)

    assert not User.objects.exists()


# Passwords never printed ------------------------------------------------------------------


def test_no_password_appears_in_anything_the_command_writes(client, monkeypatch, typed):
    monkeypatch.setenv("HANDOFF_ADMIN_PASSWORD", SECRET)
    answers, _ = typed
    answers += [OTHER_SECRET, OTHER_SECRET]

    outputs = [
        staff_user(EMAIL, "--role", "superuser", "--password-from-env", "HANDOFF_ADMIN_PASSWORD"),
        staff_user(EMAIL, "--role", "superuser", "--password-from-env", "HANDOFF_ADMIN_PASSWORD"),
        staff_user(EMAIL, "--role", "sales-rep", "--password", terminal=True),
        staff_user(EMAIL, "--role", "sales-rep", "--no-password"),
        staff_user("second@handoff.example", "--role", "sales-rep", "--no-password"),
    ]

    written = "\n".join(outputs)
    assert SECRET not in written
    assert OTHER_SECRET not in written
    second = User.objects.get(email="second@handoff.example")
    # The unusable password's random text is not shown either; only a reset link is.
    assert second.password.lstrip("!") not in written
    assert written.count("/reset/") == 2
