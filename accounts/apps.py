from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Users, workspaces (the tenant), memberships, invitations and workspace API keys."""

    name = "accounts"

    def ready(self) -> None:
        from accounts import signals  # noqa: F401 - connects the cache invalidation receiver
