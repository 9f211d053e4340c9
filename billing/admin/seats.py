"""What staff see about seats granted beyond those a workspace pays for."""

from billing.entitlements import workspace_entitlements


def seats_granted_beyond_paid(workspace_id: int) -> str:
    """The seats an override lets a per-seat workspace use beyond those it pays for, said
    for staff (billing charges the seats paid); "" when there is no such gap."""
    entitlements = workspace_entitlements(workspace_id=workspace_id)
    grant = entitlements.seat_override
    if grant is None:
        return ""
    usable = "unlimited seats" if grant.limit is None else f"{grant.limit:,} seats"
    until = f" until {grant.expires_at:%b %-d, %Y}" if grant.expires_at else ""
    return (
        f"{usable} usable through an override ({grant.reason}){until}; billed for "
        f"{entitlements.seats_paid}"
    )
