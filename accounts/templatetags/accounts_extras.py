"""Template tags of accounts: the workspace switcher's list."""

from django import template

from accounts import selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def switcher_memberships(context: template.Context) -> list | None:
    """The user's memberships when this request has read them already (every workspace
    page and the home page do), else None: the switcher then offers the list page. Never
    a query of its own."""
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return None
    return selectors.user_memberships_seen(user=user)
