"""Factories that build state through the project's own services."""

import factory
from factory.django import DjangoModelFactory

from accounts import services
from accounts.models import Membership, Role, User, Workspace
from billing import services as billing_services

PASSWORD = "a-long-test-password-42"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    full_name = factory.Faker("name")

    @classmethod
    def _create(cls, model_class, *args, email: str, **kwargs):
        existing = model_class.objects.filter(email=email.lower()).first()
        if existing is not None:
            return existing
        return model_class.objects.create_user(email, password=PASSWORD, **kwargs)


class WorkspaceFactory(DjangoModelFactory):
    """A workspace made by ``workspace_create``, owned by ``created_by``."""

    class Meta:
        model = Workspace

    name = factory.Sequence(lambda n: f"Company {n}")
    created_by = factory.SubFactory(UserFactory)

    @classmethod
    def _create(cls, model_class, *args, name: str, created_by: User, **kwargs):
        return services.workspace_create(name=name, owner=created_by, **kwargs)


def on_plan(workspace: Workspace, code: str) -> Workspace:
    """Move a workspace to the catalog plan ``code`` (by hand, as sales would)."""
    from billing.models import Plan

    billing_services.subscription_set_plan(
        workspace=workspace, plan=Plan.objects.get(code=code), actor=None, reason="test"
    )
    return workspace


def add_member(workspace: Workspace, email: str, *, role: str = Role.MEMBER) -> Membership:
    """A user (created if needed) joined through the one membership-creating service."""
    return services.membership_create(workspace=workspace, user=UserFactory(email=email), role=role)
