"""Pages of accounts: sign-up, the workspace's onboarding, members, invitations, API keys,
projects and the audit log.

Every workspace page is wrapped in ``workspace_view``: it resolves the acting user's
membership through the tenancy selector (404 for a workspace the user is not in) and hands
it to the view. Changes go through services; a refused change re-renders the page with the
reason and the status the error carries. A change refused by the plan (``LimitExceeded``,
``FeatureNotIncluded``: 402) shows the paywall, ``templates/billing/_paywall.html``, where
the page shows its messages.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts import selectors, services
from accounts.errors import ApplicationError
from accounts.forms import (
    AcceptAsNewUserForm,
    ApiKeyForm,
    InvitationForm,
    ProjectForm,
    RoleForm,
    SignUpForm,
)
from accounts.models import Membership, OnboardingStep, User, Workspace
from billing import services as billing_services
from usage.limits import FeatureNotIncluded, LimitCheck, LimitExceeded, check, feature_enforce
from usage.selectors import activation_rule

type WorkspaceView = Callable[..., HttpResponse]


def workspace_view(view: WorkspaceView) -> Callable[..., HttpResponse]:
    """Log-in required; passes the acting membership; 404 outside the user's workspaces."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, workspace_slug: str, **kwargs: object) -> HttpResponse:
        membership = selectors.workspace_membership_get(
            user=request.user, workspace_slug=workspace_slug
        )
        return view(request, membership, **kwargs)

    return wrapper


def _form_error(form: object, exc: ApplicationError) -> None:
    field = exc.field if exc.field in getattr(form, "fields", {}) else None
    form.add_error(field, exc.message)


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


def home(request: HttpRequest) -> HttpResponse:
    """Anonymous visitors go to sign-up; a member with one workspace goes straight to it."""
    if not request.user.is_authenticated:
        return redirect("signup")
    memberships = list(selectors.user_memberships(user=request.user))
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
                )
            except ApplicationError as exc:
                _form_error(form, exc)
                status = exc.status
            else:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                messages.success(request, f"Welcome to Handoff! {workspace.name} is ready.")
                return redirect("workspace_onboarding", workspace_slug=workspace.slug)
        else:
            status = 400
    return render(request, "accounts/signup.html", {"form": form}, status=status)


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
    seats = check(workspace, "seats", 1)  # members + pending invitations, against the limit
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
        seat_offer = billing_services.subscription_seat_offer(workspace=workspace)
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


@require_POST
@workspace_view
def invitation_resend(request: HttpRequest, membership: Membership, invitation_id: int):
    invitation = selectors.workspace_invitation_get(
        workspace=membership.workspace, invitation_id=invitation_id
    )
    try:
        services.invitation_resend(invitation=invitation, actor=request.user)
    except ApplicationError as exc:
        return _refused(request, membership, exc)
    messages.success(request, f"Invitation resent to {invitation.email}.")
    return _back_to_members(membership)


@require_POST
@workspace_view
def invitation_revoke(request: HttpRequest, membership: Membership, invitation_id: int):
    invitation = selectors.workspace_invitation_get(
        workspace=membership.workspace, invitation_id=invitation_id
    )
    try:
        services.invitation_revoke(invitation=invitation, actor=request.user)
    except ApplicationError as exc:
        return _refused(request, membership, exc)
    messages.success(request, f"Invitation to {invitation.email} revoked.")
    return _back_to_members(membership)


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
    usage = check(workspace, "projects", 1)
    context = {
        "membership": membership,
        "workspace": workspace,
        "projects": selectors.workspace_projects(workspace=workspace),
        "form": form or ProjectForm(),
        "usage": usage,
        "paywall": paywall or _paywall_at_limit(workspace, usage),
    }
    return render(request, "accounts/projects.html", context, status=status)


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


# Audit log --------------------------------------------------------------------------------

AUDIT_LOG_PAGE_SIZE = 50


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
    context["page"] = Paginator(events, AUDIT_LOG_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "accounts/audit_log.html", context)


# Accepting an invitation ------------------------------------------------------------------


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The link in the invitation e-mail. A logged-in invitee joins with one click; someone
    without an account sets a password; someone with an account logs in first."""
    try:
        invitation = services.invitation_check(token=token)
    except ApplicationError as exc:
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
