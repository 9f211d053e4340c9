"""Billing fixtures. After every test of the Stripe webhooks, the revenue ledger's
invariant is checked for every workspace: the sum of its movements equals its
``Subscription.mrr_cents``, which equals the MRR computed from the mirror's state."""

from pathlib import Path

import pytest

STRIPE_TESTS = Path(__file__).resolve().parent / "stripe"


def ledger_violations() -> list[str]:
    """Every workspace whose ledger, stored MRR and mirrored state disagree."""
    from django.db.models import Sum

    from billing.ledger import subscription_mrr
    from billing.models import RevenueMovement, Subscription

    sums = dict(
        RevenueMovement.objects.values("workspace_id")
        .annotate(total=Sum("mrr_delta_cents"))
        .values_list("workspace_id", "total")
    )
    problems = []
    for subscription in Subscription.objects.select_related("price"):
        total = sums.pop(subscription.workspace_id, 0)
        computed = subscription_mrr(subscription)
        if not total == subscription.mrr_cents == computed:
            problems.append(
                f"workspace {subscription.workspace_id}: movements sum to {total}, "
                f"mrr_cents is {subscription.mrr_cents}, the mirror's state is worth {computed}"
            )
    problems += [f"workspace {w}: movements ({t}) but no subscription" for w, t in sums.items()]
    return problems


@pytest.fixture(autouse=True)
def _ledger_invariant(request):
    """After each test under tests/billing/stripe/ that uses the database."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None or STRIPE_TESTS not in Path(str(request.node.path)).parents:
        yield
        return
    transactional = marker.kwargs.get("transaction", False)
    request.getfixturevalue("transactional_db" if transactional else "db")
    yield
    problems = ledger_violations()
    assert not problems, "The revenue ledger's invariant is broken:\n" + "\n".join(problems)
