"""Pages of accounts: sign-up, the workspace's onboarding, members, invitations and API keys.

Every workspace page is wrapped in ``workspace_view``: it resolves the acting user's
membership through the tenancy selector (404 for a workspace the user is not in) and hands
it to the view. Changes go through services; a refused change re-renders the page with the
reason and the status the error carries.
"""

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts import selectors, services
from accounts.errors import ApplicationError
from accounts.forms import AcceptAsNewUserForm, ApiKeyForm, InvitationForm, RoleForm, SignUpForm
from accounts.models import Membership, User

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
    checklist = selectors.onboarding_checklist(
        workspace=membership.workspace, activation_step=settings.HANDOFF_ACTIVATION_STEP
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
    status: int = 200,
) -> HttpResponse:
    workspace = membership.workspace
    context = {
        "membership": membership,
        "workspace": workspace,
        "members": selectors.workspace_members(workspace=workspace),
        "invitations": selectors.workspace_open_invitations(workspace=workspace),
        "invite_form": invite_form or InvitationForm(),
        "roles": RoleForm.base_fields["role"].choices,
    }
    return render(request, "accounts/members.html", context, status=status)


def _refused(request: HttpRequest, membership: Membership, exc: ApplicationError) -> HttpResponse:
    messages.error(request, exc.message)
    return _members_page(request, membership, status=exc.status)


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
        _form_error(form, exc)
        return _members_page(request, membership, invite_form=form, status=exc.status)
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
        if exc.field in form.fields:
            form.add_error(exc.field, exc.message)
        else:
            context["error"] = exc.message
        return render(request, "accounts/invitation_accept.html", context, status=exc.status)
    messages.success(request, f"You joined {membership.workspace.name}.")
    return redirect("workspace_onboarding", workspace_slug=membership.workspace.slug)
