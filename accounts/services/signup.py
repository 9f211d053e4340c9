"""Self-serve sign-up: a new user and the workspace they own."""

from django.db import transaction

from accounts.models import (
    User,
    Workspace,
)
from accounts.services.users import company_domain_from_email, user_create
from accounts.services.workspaces import workspace_create


@transaction.atomic
def user_sign_up(
    *,
    email: str,
    password: str,
    workspace_name: str = "",
    time_zone: str = "UTC",
    signup_source: dict[str, str] | None = None,
) -> tuple[User, Workspace]:
    """Self-serve sign-up: a new user and a new workspace they own, or nothing at all.
    ``signup_source`` is where the first visit came from (``accounts.signup_source``)."""
    user = user_create(email=email, password=password)
    if not workspace_name.strip():
        domain = company_domain_from_email(user.email)
        workspace_name = domain.split(".")[0].title() if domain else user.email.split("@")[0]
    workspace = workspace_create(
        name=workspace_name, owner=user, time_zone=time_zone, signup_source=signup_source
    )
    return user, workspace
