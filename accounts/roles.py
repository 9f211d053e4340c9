"""Staff roles are Django groups, created by accounts' migrations 0002 and 0008; these are
their names, and the roles ``manage.py staff_user`` gives (a superuser, or a set of groups)."""

from collections.abc import Iterable
from dataclasses import dataclass

SALES = "Sales"
BILLING_ADMINS = "Billing admins"
# Sales reps who may also assign leads to others, act on leads in bulk and set up the queue.
# Its members are in "Sales" too; the queue's migrations grant the group its permissions.
SALES_MANAGERS = "Sales managers"

STAFF_GROUPS = (SALES, SALES_MANAGERS, BILLING_ADMINS)


@dataclass(frozen=True)
class StaffRole:
    """A kind of staff user: a superuser, or staff in exactly these groups."""

    key: str
    title: str
    groups: frozenset[str] = frozenset()
    is_superuser: bool = False


SUPERUSER = StaffRole(key="superuser", title="superuser", is_superuser=True)
BILLING_ADMIN = StaffRole(
    key="billing-admin", title="billing admin", groups=frozenset({BILLING_ADMINS})
)
SALES_REP = StaffRole(key="sales-rep", title="sales rep", groups=frozenset({SALES}))
SALES_MANAGER = StaffRole(
    key="sales-manager", title="sales manager", groups=frozenset({SALES, SALES_MANAGERS})
)

STAFF_ROLES = {role.key: role for role in (SUPERUSER, BILLING_ADMIN, SALES_REP, SALES_MANAGER)}


def staff_role_of(
    *, is_staff: bool, is_superuser: bool, group_names: Iterable[str]
) -> StaffRole | None:
    """The role a user holds: superuser whatever their groups; otherwise the role whose staff
    groups are exactly theirs (other groups do not count); None for anyone else."""
    if is_superuser:
        return SUPERUSER
    if not is_staff:
        return None
    held = frozenset(group_names) & frozenset(STAFF_GROUPS)
    matches = (role for role in STAFF_ROLES.values() if role.groups and role.groups == held)
    return next(matches, None)
