"""Every write to accounts: sign-up, workspaces, memberships, invitations, API keys, projects,
onboarding, staff; one module an entity, each name re-exported here.

Role rules live here, not in views: owners and admins manage the workspace; only an owner
can grant, change or remove the owner role; a workspace always keeps at least one owner.
Changes that touch memberships lock the workspace row first, so concurrent changes to one
workspace run one after the other.
"""

from accounts.services.api_keys import (
    API_KEY_PREFIX,
    API_KEY_TOUCH_INTERVAL,
    api_key_authenticate,
    api_key_create,
    api_key_revoke,
)
from accounts.services.invitations import (
    invitation_accept,
    invitation_accept_as_new_user,
    invitation_check,
    invitation_create,
    invitation_resend,
    invitation_revoke,
)
from accounts.services.memberships import (
    membership_change_role,
    membership_create,
    membership_remove,
)
from accounts.services.onboarding import (
    onboarding_step_complete,
    workspace_activate,
    workspace_fit_set,
)
from accounts.services.projects import project_create, project_delete, project_rename
from accounts.services.signup import user_sign_up
from accounts.services.staff import StaffUserResult, staff_user_set
from accounts.services.users import (
    PERSONAL_EMAIL_DOMAINS,
    company_domain_from_email,
    user_create,
    user_update_profile,
)
from accounts.services.workspaces import (
    DELETED_SLUG_PREFIX,
    RESERVED_SLUGS,
    SLUG_PATTERN,
    workspace_create,
    workspace_delete,
    workspace_deletion_blocker,
    workspace_update,
)

__all__ = [
    "API_KEY_PREFIX",
    "API_KEY_TOUCH_INTERVAL",
    "DELETED_SLUG_PREFIX",
    "PERSONAL_EMAIL_DOMAINS",
    "RESERVED_SLUGS",
    "SLUG_PATTERN",
    "StaffUserResult",
    "api_key_authenticate",
    "api_key_create",
    "api_key_revoke",
    "company_domain_from_email",
    "invitation_accept",
    "invitation_accept_as_new_user",
    "invitation_check",
    "invitation_create",
    "invitation_resend",
    "invitation_revoke",
    "membership_change_role",
    "membership_create",
    "membership_remove",
    "onboarding_step_complete",
    "project_create",
    "project_delete",
    "project_rename",
    "staff_user_set",
    "user_create",
    "user_sign_up",
    "user_update_profile",
    "workspace_activate",
    "workspace_create",
    "workspace_delete",
    "workspace_deletion_blocker",
    "workspace_fit_set",
    "workspace_update",
]
