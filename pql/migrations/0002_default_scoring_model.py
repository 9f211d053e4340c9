"""A sensible first scoring model, published as version 1 with every signal.

Billing admins tune it in the admin afterwards (an edit makes version 2, and so on). The rule:
engagement 60 or more and fit 40 or more.
"""

from django.db import migrations
from django.utils import timezone

FIT_SIGNALS = {
    "company_domain": [["company", 35], ["free_mail", 0], ["none", 0]],
    # The smallest team each answer allows: 1, 2-10, 11-50, 51-200, 201+.
    "team_size": [[1, 0], [2, 10], [11, 20], [51, 25]],
    "use_case": [["sales", 20], ["team", 15], ["metering", 15], ["exploring", 0]],
    "signup_source": [["paid", 10], ["campaign", 8], ["referral", 8], ["direct", 5]],
    "region": [["americas", 10], ["europe", 10], ["oceania", 8], ["asia", 5], ["africa", 5]],
}
ENGAGEMENT_BANDS = {
    "usage_share": [[50, 10], [80, 20], [100, 25]],
    "seats_share": [[67, 5], [100, 10]],
    "usage_growth": [[25, 5], [50, 8], [100, 10]],
    "time_to_first_value": [[0, 5], [24, 3], [168, 1]],
    "recency": [[0, 6], [2, 4], [7, 1], [14, 0]],
}
ENGAGEMENT_WEIGHTS = {  # key: (points per unit, at most)
    "active_people_7d": (3, 15),
    "active_people_30d": (1, 5),
    "activated": (5, 5),
    "paywall_people_14d": (4, 10),
    "paywall_days_14d": (2, 8),
    "invitations_30d": (2, 6),
}


def create_default(apps, schema_editor):
    ScoringModel = apps.get_model("pql", "ScoringModel")
    Signal = apps.get_model("pql", "Signal")
    if ScoringModel.objects.exists():
        return
    model = ScoringModel.objects.create(
        name="Default",
        version=1,
        status="published",
        published_at=timezone.now(),
        engagement_min=60,
        fit_min=40,
        daily_activity_cap=5,
        decay_after_days=7,
        decay_half_life_days=7,
        expire_below_days=14,
        expire_inactive_days=21,
        sla_hours=24,
    )
    rows = [Signal(model=model, key=k, group="fit", bands=b) for k, b in FIT_SIGNALS.items()]
    rows += [
        Signal(model=model, key=k, group="engagement", bands=b)
        for k, b in ENGAGEMENT_BANDS.items()
    ]
    rows += [
        Signal(model=model, key=k, group="engagement", weight=w, max_points=m)
        for k, (w, m) in ENGAGEMENT_WEIGHTS.items()
    ]
    Signal.objects.bulk_create(rows)


def delete_default(apps, schema_editor):
    apps.get_model("pql", "ScoringModel").objects.filter(version=1).delete()


class Migration(migrations.Migration):
    dependencies = [("pql", "0001_initial")]

    operations = [migrations.RunPython(create_default, delete_default)]
