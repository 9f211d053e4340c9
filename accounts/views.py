"""Pages of accounts: sign-up, the workspace's onboarding, members, invitations, API keys,
projects, the audit log, the workspace's settings, a new workspace and the user's profile.

Every workspace page is wrapped in ``workspace_view``: it resolves the acting user's
membership through the tenancy selector (404 for a workspace the user is not in) and hands
it to the view; a workspace's former slug sends its members to the same page under the
current one. Changes go through services; a refused change re-renders the page with the
reason and the status the error carries. A change refused by the plan (``LimitExceeded``,
``FeatureNotIncluded``: 402) shows the paywall, ``templates/billing/_paywall.html``, where
the page shows its messages.
"""

import zoneinfo
from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordResetForm
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts import ratelimit, selectors, services
from accounts.audit import AuditVocabulary, audit_entries
from accounts.bruteforce import too_many_attempts
from accounts.errors import ApplicationError, UnknownToken
from accounts.forms import (
    AcceptAsNewUserForm,
    ApiKeyForm,
    InvitationForm,
    ProfileForm,
    ProjectForm,
    ProjectRenameForm,
    RoleForm,
    SignUpForm,
    WorkspaceDeleteForm,
    WorkspaceFitForm,
    WorkspaceForm,
    WorkspaceSettingsForm,
)
from accounts.models import Membership, OnboardingStep, Project, Role, User, Workspace
from accounts.signup_source import COOKIE as SOURCE_COOKIE
from accounts.signup_source import signup_source_read
from billing import selectors as billing_selectors
from billing.entitlements import catalog
from billing.limits import (
    FeatureNotIncluded,
    LimitCheck,
    LimitExceeded,
    feature_enforce,
    limit_check,
)
from billing.selfserve_forms import CancelForm
from billing.templatetags.money import money
from usage.models import Enforcement
from usage.selectors import activation_rule, metric_definitions

type WorkspaceView = Callable[..., HttpResponse]


def workspace_view(view: WorkspaceView) -> Callable[..., HttpResponse]:
    """Log-in required; passes the acting membership; 404 outside the user's workspaces."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, workspace_slug: str, **kwargs: object) -> HttpResponse:
        try:
            membership = selectors.workspace_membership_get(
                user=request.user, workspace_slug=workspace_slug
            )
        except Http404:
            current = selectors.workspace_former_slug_redirect(
                user=request.user, workspace_slug=workspace_slug
            )
            if current is None:
                raise
            return _under_current_slug(request, current)
        return view(request, membership, **kwargs)

    return wrapper


def _under_current_slug(request: HttpRequest, slug: str) -> HttpResponse:
    """The same page at the workspace's current address (a form posted to the old one is
    posted again there: 307 keeps the method and the body)."""
    match = request.resolver_match
    url = reverse(match.view_name, args=match.args, kwargs={**match.kwargs, "workspace_slug": slug})
    if request.META.get("QUERY_STRING"):
        url += "?" + request.META["QUERY_STRING"]
    status = 302 if request.method in ("GET", "HEAD") else 307
    return HttpResponseRedirect(url, status=status)


def _form_error(form: object, exc: ApplicationError) -> None:
    """Show the error at its field, or above the form when the field is not shown (a
    hidden one, like the time zone the browser fills in)."""
    fields = getattr(form, "fields", {})
    shown = exc.field in fields and not fields[exc.field].widget.is_hidden
    form.add_error(exc.field if shown else None, exc.message)


type Paywall = LimitExceeded | FeatureNotIncluded


def _paywall(exc: ApplicationError) -> Paywall | None:
    """The error as the paywall to show, when the plan refused the change."""
    return exc if isinstance(exc, LimitExceeded | FeatureNotIncluded) else None


def _paywall_at_limit(workspace: Workspace, result: LimitCheck) -> LimitExceeded | None:
    """The paywall to show before anyone tries: the next addition would be blocked. Only
    shown, not recorded: a paywall hit is recorded when a change is refused."""
    if result.allowed:
        return None
    upgrade_url = reverse("workspace_plan", kwargs={"workspace_slug": workspace.slug})
    return LimitExceeded(result, upgrade_url=upgrade_url)


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """Anonymous visitors go to sign-up; a member with one workspace goes straight to it."""
    if not request.user.is_authenticated:
        return redirect("signup")
    memberships = list(selectors.user_memberships(user=request.user))
    selectors.user_memberships_remember(user=request.user, memberships=memberships)
    if len(memberships) == 1 and not request.user.is_staff:
        return redirect("workspace_onboarding", workspace_slug=memberships[0].workspace.slug)
    return render(request, "accounts/home.html", {"memberships": memberships})


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = SignUpForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                user, workspace = services.user_sign_up(
                    email=form.cleaned_data["email"],
                    password=form.cleaned_data["password"],
                    workspace_name=form.cleaned_data["workspace_name"],
                    time_zone=form.cleaned_data["time_zone"] or "UTC",
                    signup_source=signup_source_read(request),
                )
            except ApplicationError as exc:
                _form_error(form, exc)
                status = exc.status
            else:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                messages.success(request, f"Welcome to Handoff! {workspace.name} is ready.")
                response = redirect("workspace_welcome", workspace_slug=workspace.slug)
                response.delete_cookie(SOURCE_COOKIE, samesite="Lax")
                return response
        else:
            status = 400
    return render(request, "accounts/signup.html", {"form": form}, status=status)


@workspace_view
@require_http_methods(["GET", "POST"])
def welcome(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The optional one-screen questions after sign-up (team size, use case); "Skip" goes
    straight on to the checklist, which the use case orders."""
    workspace = membership.workspace
    if not membership.can_manage:
        return redirect("workspace_onboarding", workspace_slug=workspace.slug)
    form = WorkspaceFitForm(
        request.POST or None,
        initial={"team_size": workspace.team_size, "use_case": workspace.use_case},
    )
    status = 200
    if request.method == "POST":
        if request.POST.get("action") == "skip":
            return redirect("workspace_onboarding", workspace_slug=workspace.slug)
        if form.is_valid():
            try:
                services.workspace_fit_set(
                    workspace=workspace,
                    actor=request.user,
                    team_size=form.cleaned_data["team_size"],
                    use_case=form.cleaned_data["use_case"],
                )
            except ApplicationError as exc:
                _form_error(form, exc)
                status = exc.status
            else:
                messages.success(request, "Thanks! Your checklist starts with what you need.")
                return redirect("workspace_onboarding", workspace_slug=workspace.slug)
        else:
            status = 400
    return render(
        request,
        "accounts/welcome.html",
        {"membership": membership, "workspace": workspace, "form": form},
        status=status,
    )


@require_safe
@workspace_view
def onboarding(request: HttpRequest, membership: Membership) -> HttpResponse:
    rule = activation_rule()
    activation_step = next((key for key in OnboardingStep.Key.values if rule.matches_step(key)), "")
    checklist = selectors.onboarding_checklist(
        workspace=membership.workspace, activation_step=activation_step
    )
    return render(
        request,
        "accounts/onboarding.html",
        {"membership": membership, "workspace": membership.workspace, "checklist": checklist},
    )


# Members and invitations ------------------------------------------------------------------


def _members_page(
    request: HttpRequest,
    membership: Membership,
    *,
    invite_form: InvitationForm | None = None,
    paywall: Paywall | None = None,
    status: int = 200,
) -> HttpResponse:
    workspace = membership.workspace
    seats = limit_check(workspace, "seats", 1)  # members + pending invitations, against the limit
    if paywall is None and membership.can_manage:
        paywall = _paywall_at_limit(workspace, seats)
    # Seats follow the team: when the seats paid are what is full, offer one more seat.
    seat_offer = None
    if (
        membership.can_manage
        and isinstance(paywall, LimitExceeded)
        and paywall.check.metric == "seats"
        and paywall.check.seats_paid_reached
    ):
        seat_offer = billing_selectors.subscription_seat_offer(workspace=workspace)
    context = {
        "membership": membership,
        "workspace": workspace,
        "members": selectors.workspace_members(workspace=workspace),
        "invitations": selectors.workspace_open_invitations(workspace=workspace),
        "invite_form": invite_form or InvitationForm(),
        "roles": RoleForm.base_fields["role"].choices,
        "seats": seats,
        "paywall": paywall,
        "seat_offer": seat_offer,
    }
    return render(request, "accounts/members.html", context, status=status)


def _refused(request: HttpRequest, membership: Membership, exc: ApplicationError) -> HttpResponse:
    paywall = _paywall(exc)
    if paywall is None:
        messages.error(request, exc.message)
    return _members_page(request, membership, paywall=paywall, status=exc.status)


def _back_to_members(membership: Membership) -> HttpResponse:
    return redirect("workspace_members", workspace_slug=membership.workspace.slug)


@require_safe
@workspace_view
def members(request: HttpRequest, membership: Membership) -> HttpResponse:
    return _members_page(request, membership)


@require_POST
@workspace_view
def invitation_create(request: HttpRequest, membership: Membership) -> HttpResponse:
    form = InvitationForm(request.POST)
    if not form.is_valid():
        return _members_page(request, membership, invite_form=form, status=400)
    try:
        invitation, _ = services.invitation_create(
            workspace=membership.workspace,
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
            actor=request.user,
        )
    except ApplicationError as exc:
        paywall = _paywall(exc)
        if paywall is None:
            _form_error(form, exc)
        return _members_page(
            request, membership, invite_form=form, paywall=paywall, status=exc.status
        )
    messages.success(request, f"Invitation sent to {invitation.email}.")
    return _back_to_members(membership)


def _invitation_act(
    request: HttpRequest,
    membership: Membership,
    invitation_id: int,
    act: Callable[..., object],
    done: str,
) -> HttpResponse:
    """Resend or revoke one of the workspace's invitations, then back to the members page
    with ``done`` (formatted with the address) or the reason it was refused."""
    invitation = selectors.workspace_invitation_get(
        workspace=membership.workspace, invitation_id=invitation_id
    )
    try:
        act(invitation=invitation, actor=request.user)
    except ApplicationError as exc:
        return _refused(request, membership, exc)
    messages.success(request, done.format(email=invitation.email))
    return _back_to_members(membership)


@require_POST
@workspace_view
def invitation_resend(request: HttpRequest, membership: Membership, invitation_id: int):
    return _invitation_act(
        request,
        membership,
        invitation_id,
        services.invitation_resend,
        "Invitation resent to {email}.",
    )


@require_POST
@workspace_view
def invitation_revoke(request: HttpRequest, membership: Membership, invitation_id: int):
    return _invitation_act(
        request,
        membership,
        invitation_id,
        services.invitation_revoke,
        "Invitation to {email} revoked.",
    )


@require_POST
@workspace_view
def member_change_role(request: HttpRequest, membership: Membership, membership_id: int):
    target = selectors.workspace_membership_get_by_id(
        workspace=membership.workspace, membership_id=membership_id
    )
    form = RoleForm(request.POST)
    if not form.is_valid():
        return _refused(request, membership, ApplicationError("Choose a valid role."))
    try:
        services.membership_change_role(
            membership=target, role=form.cleaned_data["role"], actor=request.user
        )
    except ApplicationError as exc:
        return _refused(request, membership, exc)
    messages.success(request, f"{target.user.email} is now {form.cleaned_data['role']}.")
    return _back_to_members(membership)


@require_POST
@workspace_view
def member_remove(request: HttpRequest, membership: Membership, membership_id: int):
    target = selectors.workspace_membership_get_by_id(
        workspace=membership.workspace, membership_id=membership_id
    )
    try:
        services.membership_remove(membership=target, actor=request.user)
    except ApplicationError as exc:
        return _refused(request, membership, exc)
    if target.user_id == request.user.pk:
        messages.success(request, f"You left {membership.workspace.name}.")
        return redirect("home")
    messages.success(request, f"{target.user.email} was removed.")
    return _back_to_members(membership)


# API keys ---------------------------------------------------------------------------------


def _api_keys_page(
    request: HttpRequest,
    membership: Membership,
    *,
    form: ApiKeyForm | None = None,
    new_key: str | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "membership": membership,
        "workspace": membership.workspace,
        "api_keys": selectors.workspace_api_keys(workspace=membership.workspace),
        "form": form or ApiKeyForm(),
        "new_key": new_key,
        "api_url": request.build_absolute_uri(reverse("api_workspace")),
    }
    return render(request, "accounts/api_keys.html", context, status=status)


@require_safe
@workspace_view
def api_keys(request: HttpRequest, membership: Membership) -> HttpResponse:
    return _api_keys_page(request, membership)


@require_POST
@workspace_view
def api_key_create(request: HttpRequest, membership: Membership) -> HttpResponse:
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _api_keys_page(request, membership, form=form, status=400)
    try:
        _, raw_key = services.api_key_create(
            workspace=membership.workspace, name=form.cleaned_data["name"], actor=request.user
        )
    except ApplicationError as exc:
        _form_error(form, exc)
        return _api_keys_page(request, membership, form=form, status=exc.status)
    # The only time the full key is shown: render it now rather than redirect.
    return _api_keys_page(request, membership, new_key=raw_key, status=201)


@require_POST
@workspace_view
def api_key_revoke(request: HttpRequest, membership: Membership, api_key_id: int):
    api_key = selectors.workspace_api_key_get(workspace=membership.workspace, api_key_id=api_key_id)
    try:
        services.api_key_revoke(api_key=api_key, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return _api_keys_page(request, membership, status=exc.status)
    messages.success(request, f"API key “{api_key.name}” revoked.")
    return redirect("workspace_api_keys", workspace_slug=membership.workspace.slug)


# Projects ---------------------------------------------------------------------------------


def _projects_page(
    request: HttpRequest,
    membership: Membership,
    *,
    form: ProjectForm | None = None,
    paywall: Paywall | None = None,
    status: int = 200,
) -> HttpResponse:
    workspace = membership.workspace
    usage = limit_check(workspace, "projects", 1)
    context = {
        "membership": membership,
        "workspace": workspace,
        "projects": selectors.workspace_projects(workspace=workspace),
        "form": form or ProjectForm(),
        "usage": usage,
        "paywall": paywall or _paywall_at_limit(workspace, usage),
    }
    return render(request, "accounts/projects.html", context, status=status)


def _may_delete_project(membership: Membership, project: Project) -> bool:
    """What ``project_delete`` allows, to show the link only where it works."""
    return membership.can_manage or project.created_by_id == membership.user_id


@require_safe
@workspace_view
def projects(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The workspace's projects; any member sees them and may create one."""
    return _projects_page(request, membership)


@require_POST
@workspace_view
def project_create(request: HttpRequest, membership: Membership) -> HttpResponse:
    form = ProjectForm(request.POST)
    if not form.is_valid():
        return _projects_page(request, membership, form=form, status=400)
    try:
        project = services.project_create(
            workspace=membership.workspace, name=form.cleaned_data["name"], actor=request.user
        )
    except ApplicationError as exc:
        paywall = _paywall(exc)
        if paywall is None:
            _form_error(form, exc)
        return _projects_page(request, membership, form=form, paywall=paywall, status=exc.status)
    messages.success(request, f"Project “{project.name}” created.")
    return redirect("workspace_projects", workspace_slug=membership.workspace.slug)


@require_http_methods(["GET", "POST"])
@workspace_view
def project_rename(request: HttpRequest, membership: Membership, project_id: int):
    """Rename a project: any member may, to a name no other project of the workspace has."""
    project = selectors.workspace_project_get(workspace=membership.workspace, project_id=project_id)
    form = ProjectRenameForm(request.POST or None, initial={"name": project.name})
    context = {"membership": membership, "workspace": membership.workspace, "project": project}
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            old_name = project.name
            try:
                project = services.project_rename(
                    project=project, name=form.cleaned_data["name"], actor=request.user
                )
            except ApplicationError as exc:
                _form_error(form, exc)
                status = exc.status
            else:
                messages.success(request, f"Project “{old_name}” is now “{project.name}”.")
                return redirect("workspace_projects", workspace_slug=membership.workspace.slug)
    context["form"] = form
    return render(request, "accounts/project_rename.html", context, status=status)


@require_http_methods(["GET", "POST"])
@workspace_view
def project_delete(request: HttpRequest, membership: Membership, project_id: int):
    """Asks first (GET), deletes on POST. Owners and admins delete any project, a member
    the ones they created."""
    project = selectors.workspace_project_get(workspace=membership.workspace, project_id=project_id)
    context: dict[str, object] = {
        "membership": membership,
        "workspace": membership.workspace,
        "project": project,
    }
    if request.method == "POST":
        try:
            services.project_delete(project=project, actor=request.user)
        except ApplicationError as exc:
            context["error"] = exc.message
            return render(request, "accounts/project_delete.html", context, status=exc.status)
        messages.success(request, f"Project “{project.name}” deleted.")
        return redirect("workspace_projects", workspace_slug=membership.workspace.slug)
    if not _may_delete_project(membership, project):
        context["error"] = "Only owners, admins and the member who created a project can delete it."
        return render(request, "accounts/project_delete.html", context, status=403)
    return render(request, "accounts/project_delete.html", context)


# Audit log --------------------------------------------------------------------------------

AUDIT_LOG_PAGE_SIZE = 50


@require_safe
@workspace_view
def audit_log(request: HttpRequest, membership: Membership) -> HttpResponse:
    """Every recorded change in the workspace, newest first. Owners and admins only, and
    only on a plan (or with an override) that includes the audit log feature."""
    workspace = membership.workspace
    context: dict[str, object] = {"membership": membership, "workspace": workspace}
    if not membership.can_manage:
        context["forbidden"] = "Only owners and admins of this workspace can see the audit log."
        return render(request, "accounts/audit_log.html", context, status=403)
    try:
        feature_enforce(workspace, "audit_log", user_email=request.user.email)
    except FeatureNotIncluded as exc:
        context["paywall"] = exc
        return render(request, "accounts/audit_log.html", context, status=exc.status)
    events = selectors.workspace_audit_events(workspace=workspace)
    page = Paginator(events, AUDIT_LOG_PAGE_SIZE).get_page(request.GET.get("page"))
    context["page"] = page
    context["entries"] = audit_entries(
        page.object_list,
        vocabulary=_audit_vocabulary(),
        tz=zoneinfo.ZoneInfo(workspace.time_zone),
    )
    return render(request, "accounts/audit_log.html", context)


def _audit_vocabulary() -> AuditVocabulary:
    """Names for the audit log's sentences, from the apps that own them (each loaded only
    if an entry on the page needs it; plans and metrics come from caches)."""
    return AuditVocabulary(
        plans=lambda: {plan.code: plan.name for plan in catalog().plans},
        metrics=lambda: {key: metric.name for key, metric in metric_definitions().items()},
        features=lambda: {
            key: feature.name for key, feature in billing_selectors.feature_definitions().items()
        },
        reasons=lambda: {
            str(value): str(label) for value, label in CancelForm.base_fields["reason"].choices
        },
        money=money,
        enforcement_notes={Enforcement.SOFT: "a soft limit: it warns, it does not block"},
    )


# Workspace settings -----------------------------------------------------------------------


def _settings_context(membership: Membership, **extra: object) -> dict[str, object]:
    return {"membership": membership, "workspace": membership.workspace, **extra}


def _settings_forbidden(request: HttpRequest, membership: Membership, template: str):
    context = _settings_context(
        membership, forbidden="Only owners and admins of this workspace can see its settings."
    )
    return render(request, template, context, status=403)


@require_http_methods(["GET", "POST"])
@workspace_view
def workspace_settings(request: HttpRequest, membership: Membership) -> HttpResponse:
    """Name and address. Owners change them; admins see them; members are refused."""
    if not membership.can_manage:
        return _settings_forbidden(request, membership, "accounts/workspace_settings.html")
    workspace = membership.workspace
    initial = {"name": workspace.name, "slug": workspace.slug}
    form = WorkspaceSettingsForm(request.POST or None, initial=initial)
    is_owner = membership.role == Role.OWNER
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            old_slug = workspace.slug
            try:
                workspace = services.workspace_update(
                    workspace=workspace,
                    actor=request.user,
                    name=form.cleaned_data["name"],
                    slug=form.cleaned_data["slug"],
                )
            except ApplicationError as exc:
                _form_error(form, exc)
                status = exc.status
                workspace.refresh_from_db()
            else:
                if workspace.slug != old_slug:
                    messages.success(
                        request,
                        f"Saved. The workspace's address is now /w/{workspace.slug}/: links "
                        f"with /w/{old_slug}/ still lead members here, but update the "
                        "bookmarks and links you share.",
                    )
                else:
                    messages.success(request, "Saved.")
                return redirect("workspace_settings", workspace_slug=workspace.slug)
    if not is_owner:
        for field in form.fields.values():
            field.disabled = True
    context = _settings_context(membership, form=form, is_owner=is_owner)
    return render(request, "accounts/workspace_settings.html", context, status=status)


@require_http_methods(["GET", "POST"])
@workspace_view
def workspace_delete(request: HttpRequest, membership: Membership) -> HttpResponse:
    """Says first what deleting does and what happens to the subscription; deletes on a
    POST that types the workspace's address. Owners only."""
    if not membership.can_manage:
        return _settings_forbidden(request, membership, "accounts/workspace_delete.html")
    workspace = membership.workspace
    form = WorkspaceDeleteForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            name = workspace.name
            try:
                services.workspace_delete(
                    workspace=workspace,
                    actor=request.user,
                    confirmation=form.cleaned_data["confirmation"],
                )
            except ApplicationError as exc:
                _form_error(form, exc)
                status = exc.status
            else:
                messages.success(request, f"{name} was deleted.")
                return redirect("home")
    subscription = billing_selectors.workspace_subscription(workspace_id=workspace.pk)
    context = _settings_context(
        membership,
        form=form,
        is_owner=membership.role == Role.OWNER,
        blocker=services.workspace_deletion_blocker(workspace=workspace),
        plan_name=subscription.plan.name,
        paid=subscription.is_paid,
        ends_at=subscription.current_period_end,
    )
    return render(request, "accounts/workspace_delete.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def workspace_new(request: HttpRequest) -> HttpResponse:
    """Another workspace for someone who already has an account; they are its owner."""
    form = WorkspaceForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                workspace = services.workspace_create(
                    name=form.cleaned_data["name"],
                    owner=request.user,
                    time_zone=form.cleaned_data["time_zone"] or "UTC",
                )
            except ApplicationError as exc:
                _form_error(form, exc)
                status = exc.status
            else:
                messages.success(request, f"{workspace.name} is ready.")
                return redirect("workspace_onboarding", workspace_slug=workspace.slug)
    return render(request, "accounts/workspace_new.html", {"form": form}, status=status)


# The user's profile -----------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    """Name and e-mail address; the password has its own page (Django's)."""
    user = request.user
    form = ProfileForm(
        request.POST or None, initial={"full_name": user.full_name, "email": user.email}
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                services.user_update_profile(
                    user=user,
                    full_name=form.cleaned_data["full_name"],
                    email=form.cleaned_data["email"],
                    current_password=form.cleaned_data["current_password"],
                )
            except ApplicationError as exc:
                _form_error(form, exc)
                status = exc.status
            else:
                messages.success(request, "Your profile is saved.")
                return redirect("profile")
    return render(request, "accounts/profile.html", {"form": form}, status=status)


# Password reset ---------------------------------------------------------------------------


class PasswordResetView(auth_views.PasswordResetView):
    """Django's password reset, with limits that say nothing about which addresses exist:
    an address gets at most a few links an hour (beyond, the same "check your e-mail" page
    and no e-mail), and a client address may ask a few more times an hour in all (beyond, a
    page saying so)."""

    def form_valid(self, form: PasswordResetForm) -> HttpResponse:
        client = ratelimit.client_ip(self.request) or "unknown"
        per_ip = ratelimit.password_reset_per_ip()
        if wait := ratelimit.blocked_for(per_ip, client):
            return too_many_attempts(
                self.request,
                title="Too many password resets",
                explanation=(
                    f"{per_ip.attempts} password resets were asked for from your network "
                    "within an hour, so no more are sent to it for now, to stop anyone "
                    "flooding inboxes. If you asked already, the link is in your e-mail."
                ),
                retry_after=wait,
            )
        ratelimit.hit(per_ip, client)
        email = User.objects.normalize_email(form.cleaned_data["email"])
        per_address = ratelimit.password_reset_per_address()
        if ratelimit.blocked_for(per_address, email):
            return HttpResponseRedirect(self.get_success_url())
        ratelimit.hit(per_address, email)
        return super().form_valid(form)


# Accepting an invitation ------------------------------------------------------------------


def _invitation_links_paused(request: HttpRequest, wait: int) -> HttpResponse:
    return too_many_attempts(
        request,
        title="Invitation links paused",
        explanation=(
            f"{ratelimit.invitation_token_failures().attempts} invitation links that do not "
            "exist were opened from your network in a short time, so invitation links are "
            "paused for it, to stop anyone guessing them. If you have a real invitation, "
            "copy its link from the newest e-mail exactly as it is."
        ),
        retry_after=wait,
    )


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The link in the invitation e-mail. A logged-in invitee joins with one click; someone
    without an account sets a password; someone with an account logs in first.

    Links that match no invitation are counted per client address: past the limit, every
    invitation link from that address is refused for a while (429), the right one too."""
    client = ratelimit.client_ip(request) or "unknown"
    if wait := ratelimit.blocked_for(ratelimit.invitation_token_failures(), client):
        return _invitation_links_paused(request, wait)
    try:
        invitation = services.invitation_check(token=token)
    except ApplicationError as exc:
        if isinstance(exc, UnknownToken) and (
            wait := ratelimit.hit(ratelimit.invitation_token_failures(), client)
        ):
            return _invitation_links_paused(request, wait)
        return render(
            request, "accounts/invitation_invalid.html", {"error": exc.message}, status=exc.status
        )
    has_account = User.objects.filter(email=invitation.email).exists()
    form = AcceptAsNewUserForm(request.POST or None)
    context = {"invitation": invitation, "has_account": has_account, "form": form}
    if request.method != "POST":
        return render(request, "accounts/invitation_accept.html", context)
    try:
        if request.user.is_authenticated:
            membership = services.invitation_accept(token=token, user=request.user)
        elif has_account:
            return redirect(f"{reverse('login')}?next={request.path}")
        elif form.is_valid():
            membership = services.invitation_accept_as_new_user(
                token=token,
                password=form.cleaned_data["password"],
                full_name=form.cleaned_data["full_name"],
            )
            login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
        else:
            return render(request, "accounts/invitation_accept.html", context, status=400)
    except ApplicationError as exc:
        if paywall := _paywall(exc):
            # The invitee is not a member yet: the paywall asks an owner to upgrade.
            context |= {"paywall": paywall, "paywall_outsider": True}
        elif exc.field in form.fields:
            form.add_error(exc.field, exc.message)
        else:
            context["error"] = exc.message
        return render(request, "accounts/invitation_accept.html", context, status=exc.status)
    messages.success(request, f"You joined {membership.workspace.name}.")
    return redirect("workspace_onboarding", workspace_slug=membership.workspace.slug)
