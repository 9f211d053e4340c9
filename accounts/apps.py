from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Users, workspaces (the tenant), memberships, invitations and workspace API keys."""

    name = "accounts"
