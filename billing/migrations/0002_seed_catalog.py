"""The default catalog: Free, Pro and Business (per seat), Enterprise (private).

Billing admins edit all of it in the admin afterwards; this only gives a new installation a
sensible start.
"""

from django.db import migrations

FEATURES = [
    ("sso", "Single sign-on (SAML)", "Members log in through the company's identity provider."),
    ("audit_log", "Audit log", "Every change by every member, searchable and exportable."),
    ("priority_support", "Priority support", "Answers within four business hours."),
    ("advanced_analytics", "Advanced analytics", "Cohorts, funnels and scheduled reports."),
]

UNLIMITED = None

PLANS = [
    {
        "code": "free",
        "name": "Free",
        "description": "For individuals and small teams getting started.",
        "tier_rank": 0,
        "is_public": True,
        "is_default_free": True,
        "trial_days": 0,
        "prices": [],
        "limits": {"seats": 3, "projects": 3, "api_calls": 10_000, "storage_mb": 500},
        "features": [],
    },
    {
        "code": "pro",
        "name": "Pro",
        "description": "For growing teams that need more room.",
        "tier_rank": 1,
        "is_public": True,
        "is_default_free": False,
        "trial_days": 14,
        "prices": [("month", 1_200), ("year", 12_000)],
        "limits": {"seats": 50, "projects": 50, "api_calls": 250_000, "storage_mb": 10_000},
        "features": ["advanced_analytics"],
    },
    {
        "code": "business",
        "name": "Business",
        "description": "For companies with security and compliance needs.",
        "tier_rank": 2,
        "is_public": True,
        "is_default_free": False,
        "trial_days": 14,
        "prices": [("month", 2_400), ("year", 24_000)],
        "limits": {
            "seats": 500,
            "projects": UNLIMITED,
            "api_calls": 2_000_000,
            "storage_mb": 100_000,
        },
        "features": ["advanced_analytics", "sso", "audit_log", "priority_support"],
    },
    {
        "code": "enterprise",
        "name": "Enterprise",
        "description": "Custom limits, contracts and invoicing. Talk to sales.",
        "tier_rank": 3,
        "is_public": False,
        "is_default_free": False,
        "trial_days": 0,
        "prices": [],
        "limits": {
            "seats": UNLIMITED,
            "projects": UNLIMITED,
            "api_calls": UNLIMITED,
            "storage_mb": UNLIMITED,
        },
        "features": ["advanced_analytics", "sso", "audit_log", "priority_support"],
    },
]

# API calls past a paid plan's limit are allowed and billed as an upgrade signal (soft);
# everything else is hard.
SOFT = {("pro", "api_calls"), ("business", "api_calls")}


def seed(apps, schema_editor):
    Feature = apps.get_model("billing", "Feature")
    Plan = apps.get_model("billing", "Plan")
    Price = apps.get_model("billing", "Price")
    PlanLimit = apps.get_model("billing", "PlanLimit")
    PlanFeature = apps.get_model("billing", "PlanFeature")

    for key, name, description in FEATURES:
        Feature.objects.get_or_create(key=key, defaults={"name": name, "description": description})

    for spec in PLANS:
        plan, created = Plan.objects.get_or_create(
            code=spec["code"],
            defaults={
                key: spec[key]
                for key in ("name", "description", "tier_rank", "is_public", "is_default_free")
            }
            | {"trial_days": spec["trial_days"]},
        )
        if not created:
            continue
        for interval, amount_cents in spec["prices"]:
            Price.objects.create(
                plan=plan,
                interval=interval,
                amount_cents=amount_cents,
                currency="usd",
                scheme="per_seat",
            )
        for metric, limit in spec["limits"].items():
            PlanLimit.objects.create(
                plan=plan,
                metric_id=metric,
                limit=limit,
                enforcement="soft" if (spec["code"], metric) in SOFT else "hard",
            )
        for key, *_ in FEATURES:
            PlanFeature.objects.create(
                plan=plan, feature_id=key, enabled=key in spec["features"]
            )


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0001_initial"),
        ("usage", "0002_seed_metrics"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
