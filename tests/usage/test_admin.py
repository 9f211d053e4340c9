"""Billing admins configure the activation rule in the admin."""

import pytest
from django.contrib.auth.models import Group

from accounts.roles import BILLING_ADMINS, SALES
from tests.factories import UserFactory
from usage.models import ActivationRule
from usage.selectors import activation_rule

pytestmark = pytest.mark.django_db

URL = "/admin/usage/activationrule/1/change/"


def _staff(client, group):
    user = UserFactory(email=f"{group.split()[0].lower()}@handoff.test", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client.force_login(user)


def test_a_billing_admin_changes_the_activation_rule_and_it_applies_at_once(client):
    _staff(client, BILLING_ADMINS)
    assert activation_rule().value == "first_usage_event"

    response = client.post(URL, {"kind": "product_event", "value": "report_exported"})

    assert response.status_code == 302
    assert (activation_rule().kind, activation_rule().value) == ("product_event", "report_exported")


def test_sales_can_read_the_rule_but_not_change_it(client):
    _staff(client, SALES)

    assert client.get(URL).status_code == 200
    assert client.post(URL, {"kind": "product_event", "value": "x"}).status_code == 403
    assert ActivationRule.objects.get().value == "first_usage_event"


def test_a_malformed_rule_is_refused(client):
    _staff(client, BILLING_ADMINS)

    response = client.post(URL, {"kind": "telepathy", "value": "not a slug!"})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors.keys() == {"kind", "value"}
    assert ActivationRule.objects.get().kind == "checklist_step"
