"""``manage.py seed_demo``: the documented log-ins, the bulk workspaces, idempotence and the
DEBUG guard. The module seeds once (``seeded``); each test starts from that state, and the
real workspaces that were there before a first seeding have their own module
(``test_seed_demo_beside_real_workspaces``)."""

import random
import re
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, Exists, F, Max, Min, OuterRef
from django.utils import timezone

from accounts import demo, roles, services
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
from tests.seeding import SeedRun, demo_seeded

README = Path(__file__).resolve().parents[2] / "README.md"

# The credentials the README documents: spelled out here, not imported, so a change to them
# fails a test.
OWNER = ("owner@demo.handoff.test", "handoff-demo-owner")
SALES = ("sales@demo.handoff.test", "handoff-demo-sales")
MANAGER = ("manager@demo.handoff.test", "handoff-demo-manager")
BILLING = ("billing@demo.handoff.test", "handoff-demo-billing")

CURL_LINE = re.compile(
    r'curl -H "Authorization: Bearer (hk_[0-9a-f]+_[\w-]+)" http://127\.0\.0\.1:8000/api/v1/workspace'
)


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """One seeding for the module, rolled back after its last test."""
    with demo_seeded(django_db_blocker) as run:
        yield run


@pytest.fixture
def debug(settings):
    """pytest-django runs with DEBUG off; seed_demo needs it on (the embedded default)."""
    settings.DEBUG = True


def seed_demo(**options: object) -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, **options)
    return out.getvalue()


def printed_key(output: str) -> str:
    match = CURL_LINE.search(output)
    assert match, output
    return match.group(1)


def row_counts() -> dict[str, int]:
    models = (User, Workspace, Membership, Invitation, OnboardingStep)
    return {model.__name__: model.objects.count() for model in models}


@pytest.mark.django_db
class TestFirstRun:
    def test_the_three_documented_log_ins_work_and_are_printed(self, seeded: SeedRun, client):
        output = seeded.output

        for email, password in (OWNER, SALES, BILLING):
            assert f"{email} / {password}" in output
            response = client.post("/login/", {"username": email, "password": password})
            assert response.status_code == 302, email
            client.logout()
        assert "http://127.0.0.1:8000/admin/" in output

    @pytest.mark.usefixtures("seeded")
    def test_owner_lands_in_acme_analytics_which_they_own(self, client):
        client.login(email=OWNER[0], password=OWNER[1])
        response = client.get("/")

        acme = Workspace.objects.get(name="Acme Analytics")
        assert response.status_code == 302
        assert response["Location"] == f"/w/{acme.slug}/"
        assert acme.company_domain == "acme-analytics.com"
        owner = Membership.objects.get(workspace=acme, user__email=OWNER[0])
        assert owner.role == Role.OWNER
        assert not owner.user.is_staff
        roles_in_acme = set(acme.memberships.values_list("role", flat=True))
        assert roles_in_acme == {Role.OWNER, Role.ADMIN, Role.MEMBER}
        [invitation] = acme.invitations.all()
        assert invitation.status() == InvitationStatus.PENDING

    @pytest.mark.usefixtures("seeded")
    def test_sales_rep_and_billing_admin_are_staff_in_their_groups(self, client):
        for (email, password), group in ((SALES, roles.SALES), (BILLING, roles.BILLING_ADMINS)):
            user = User.objects.get(email=email)
            assert user.is_staff
            assert not user.is_superuser
            assert list(user.groups.values_list("name", flat=True)) == [group]
            client.login(email=email, password=password)
            assert client.get("/admin/").status_code == 200
            client.logout()

    @pytest.mark.usefixtures("seeded")
    def test_the_sales_manager_works_the_queue_and_manages_it(self, client):
        user = User.objects.get(email=MANAGER[0])
        assert user.is_staff
        assert not user.is_superuser
        assert set(user.groups.values_list("name", flat=True)) == {
            roles.SALES,
            roles.SALES_MANAGERS,
        }
        assert client.login(email=MANAGER[0], password=MANAGER[1])
        assert client.get("/sales/").status_code == 200
        assert client.get("/sales/settings/").status_code == 200
        client.logout()
        assert client.login(email=SALES[0], password=SALES[1])
        assert client.get("/sales/").status_code == 200
        assert client.get("/sales/settings/").status_code == 403

    @pytest.mark.usefixtures("seeded")
    def test_three_hundred_workspaces_each_with_an_owner_and_a_unique_domain(self):
        bulk = Workspace.objects.exclude(name="Acme Analytics")
        assert bulk.count() == 300
        owners = Membership.objects.filter(workspace=OuterRef("pk"), role=Role.OWNER)
        assert not Workspace.objects.filter(~Exists(owners)).exists()
        # Sign-ups with a personal address have no company domain; the others are unique.
        domains = list(
            Workspace.objects.exclude(company_domain="").values_list("company_domain", flat=True)
        )
        assert len(set(domains)) == len(domains)
        assert 200 < len(domains) < 301
        sizes = set(bulk.annotate(n=Count("memberships")).values_list("n", flat=True))
        assert min(sizes) == 1
        assert max(sizes) <= 12

    def test_sign_ups_are_spread_over_the_past_year(self, seeded: SeedRun):
        now, after = seeded.started_at, seeded.finished_at

        bulk = Workspace.objects.exclude(name="Acme Analytics")
        dates = bulk.aggregate(oldest=Min("created_at"), newest=Max("created_at"))
        assert now - timedelta(days=365) <= dates["oldest"] < now - timedelta(days=300)
        assert now - timedelta(days=30) < dates["newest"] <= now
        assert not Membership.objects.filter(created_at__lt=F("workspace__created_at")).exists()
        joined = User.objects.aggregate(first=Min("date_joined"), last=Max("date_joined"))
        assert now - timedelta(days=365) <= joined["first"] <= joined["last"] <= after

    @pytest.mark.usefixtures("seeded")
    def test_members_have_lower_case_addresses_at_their_company_domain(self):
        members = Membership.objects.exclude(workspace__name="Acme Analytics").values_list(
            "user__email", "workspace__company_domain"
        )
        personal = 0
        for email, domain in members:
            assert email == email.lower()
            if domain:
                assert email.endswith(f"@{domain}"), (email, domain)
            else:  # a one-person sign-up with a personal address
                personal += 1
        assert personal > 0

    @pytest.mark.usefixtures("seeded")
    def test_only_the_demo_log_ins_can_log_in(self):
        usable = [user.email for user in User.objects.all() if user.has_usable_password()]

        assert sorted(usable) == sorted(email for email, _ in (OWNER, SALES, MANAGER, BILLING))

    @pytest.mark.usefixtures("seeded")
    def test_some_workspaces_activated_some_hours_or_days_after_sign_up(self):
        bulk = Workspace.objects.exclude(name="Acme Analytics")
        activated = list(bulk.exclude(activated_at=None))
        assert 0.2 * 300 < len(activated) < 0.9 * 300
        assert all(ws.time_to_value > timedelta(0) for ws in activated)
        assert max(ws.time_to_value for ws in activated) > timedelta(days=1)
        steps = OnboardingStep.objects.filter(workspace__in=activated, key="create_api_key")
        assert steps.count() == len(activated)
        assert ApiKey.objects.filter(workspace__in=activated).count() == len(activated)


@pytest.mark.django_db
@pytest.mark.usefixtures("debug")
class TestRunningAgain:
    def test_second_run_creates_no_duplicates_and_prints_a_new_working_key(
        self, seeded: SeedRun, client
    ):
        first_key = printed_key(seeded.output)
        counts = row_counts()

        second_key = printed_key(seed_demo())

        assert row_counts() == counts
        assert second_key != first_key
        assert ApiKey.objects.filter(name="Demo key (seed_demo)").count() == 2
        response = client.get("/api/v1/workspace", HTTP_AUTHORIZATION=f"Bearer {second_key}")
        assert response.status_code == 200
        assert response.json()["slug"] == Workspace.objects.get(name="Acme Analytics").slug

    @pytest.mark.usefixtures("seeded")
    def test_second_run_puts_changed_log_ins_back_as_documented(self, client):
        sales = User.objects.get(email=SALES[0])
        sales.set_password("something-else-entirely")
        sales.is_staff = False
        sales.save()
        sales.groups.clear()
        owner = User.objects.get(email=OWNER[0])
        owner.is_active = False
        owner.save()

        seed_demo()

        sales.refresh_from_db()
        assert sales.is_staff
        assert list(sales.groups.values_list("name", flat=True)) == [roles.SALES]
        assert client.login(email=SALES[0], password=SALES[1])
        assert client.login(email=OWNER[0], password=OWNER[1])

    @pytest.mark.usefixtures("seeded")
    def test_second_run_keeps_a_matching_password_hash_so_sessions_survive(self):
        hashes = dict(User.objects.filter(is_staff=True).values_list("email", "password"))

        seed_demo()

        assert dict(User.objects.filter(is_staff=True).values_list("email", "password")) == hashes


@pytest.mark.django_db
@pytest.mark.usefixtures("seeded")
def test_refuses_with_debug_off_and_changes_nothing(settings):
    settings.DEBUG = False
    User.objects.filter(email=SALES[0]).update(is_staff=False)
    counts = row_counts()

    with pytest.raises(CommandError, match="DEBUG"):
        seed_demo()

    assert row_counts() == counts
    assert not User.objects.get(email=SALES[0]).is_staff


@pytest.mark.django_db
@pytest.mark.usefixtures("seeded")
def test_force_seeds_with_debug_off(settings):
    settings.DEBUG = False
    User.objects.filter(email=SALES[0]).update(is_staff=False)

    printed_key(seed_demo(force=True))

    assert User.objects.get(email=SALES[0]).is_staff


def test_the_bulk_plan_is_the_same_on_every_run():
    now = timezone.now()
    plans = [demo.workspaces_plan(rng=random.Random(demo.SEED), now=now) for _ in range(2)]

    def shape(plan: list[demo.PlannedWorkspace]) -> list[tuple]:
        return [(ws.name, ws.company_domain, [m.email for m in ws.members]) for ws in plan]

    assert shape(plans[0]) == shape(plans[1])
    # Distinct company domains, but for one-person sign-ups with a personal address.
    domains = [ws.company_domain for ws in plans[0] if ws.company_domain]
    assert len(set(domains)) == len(domains) > 200


@pytest.mark.django_db
@pytest.mark.usefixtures("debug", "seeded")
class TestDemoWorkspaces:
    def test_every_seeded_workspace_is_marked_as_demo(self):
        assert not Workspace.objects.filter(is_demo=False).exists()
        assert Workspace.objects.filter(is_demo=True).count() == 301

    def test_the_demo_workspace_is_found_again_after_the_owner_renames_it(self):
        acme = Workspace.objects.get(name="Acme Analytics")
        owner = User.objects.get(email=OWNER[0])
        services.workspace_update(workspace=acme, actor=owner, name="Acme Corp", slug=acme.slug)
        counts = row_counts()

        seed_demo()

        assert row_counts() == counts
        assert not Workspace.objects.filter(name="Acme Analytics").exists()


def _readme_log_ins() -> list[dict[str, str]]:
    """The rows of the README's demo log-in table."""
    section = README.read_text().split("## Demo log-ins", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and "@" in cells[1]:
            who, email, password, where = cells
            rows.append(
                {
                    "who": who,
                    "email": email.strip("`"),
                    "password": password.strip("`"),
                    "where": where,
                }
            )
    return rows


@pytest.mark.django_db
def test_the_printed_log_ins_say_what_the_readme_table_says(seeded: SeedRun):
    output = seeded.output
    rows = _readme_log_ins()

    assert {row["email"] for row in rows} == {login.email for login in demo.DEMO_LOGINS}
    for row in rows:
        printed = output.split(f"{row['email']} / {row['password']}", 1)[1].split("\n")[1:3]
        purpose, go_to = (line.strip() for line in printed)
        path = re.match(r"`([^`]+)`", row["where"]).group(1)
        assert go_to.endswith(path), (row, go_to)
        note = re.search(r"\((.+)\)", row["where"])
        if note:
            assert note.group(1) in purpose, (row, purpose)
        group = re.search(r'group "([^"]+)"', row["who"])
        if group:
            assert f'"{group.group(1)}" group' in purpose, (row, purpose)
