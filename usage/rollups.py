"""The daily rollup of product events, kept in the same transaction as the events.

Each stored product event adds one to its (workspace, name, UTC day) row of
``ProductEventDaily``; its person (the lower-cased e-mail address; events without one count
no person) is inserted into ``ActivePersonDay`` with ON CONFLICT DO NOTHING, and only the
rows that statement really inserted (RETURNING) add to the row's ``people``. Two
transactions recording the same person on the same day race on the unique index: the
second waits for the first and inserts nothing, so the count stays exact. Both statements
are plain SQL that PostgreSQL and SQLite (3.35+) run alike.

``product_event_rollups_rebuild`` recomputes the rollups of a range of workspaces from the
events themselves (the backfill migration and bulk loaders such as the demo seeding use
it).
"""

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, date, datetime

from django.db import connection
from django.db.models import Count, Max, Model, Q
from django.db.models.functions import Lower, TruncDate

from usage.models import ActivePersonDay, ProductEvent, ProductEventDaily


def _day(at: datetime) -> date:
    return at.astimezone(UTC).date()


def product_event_rollups_add(
    *, workspace_id: int, events: Iterable[tuple[str, str, datetime]]
) -> None:
    """Count stored events, given as (name, user_email, occurred_at), into the rollups.
    Call it inside the transaction that inserted them; two statements whatever their
    number."""
    counts: Counter[tuple[str, date]] = Counter()
    latest: dict[tuple[str, date], datetime] = {}
    people = set()
    for name, email, occurred_at in events:
        day = _day(occurred_at)
        counts[(name, day)] += 1
        latest[(name, day)] = max(latest.get((name, day), occurred_at), occurred_at)
        if email:
            people.add((day, name, email.lower()))
    if not counts:
        return
    new_people: Counter[tuple[str, date]] = Counter()
    if people:
        table = ActivePersonDay._meta.db_table
        rows = sorted(people)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (workspace_id, day, name, person) VALUES "  # noqa: S608
                + ", ".join(["(%s, %s, %s, %s)"] * len(rows))
                + " ON CONFLICT (workspace_id, day, name, person) DO NOTHING RETURNING name, day",
                [
                    value
                    for day, name, person in rows
                    for value in (
                        workspace_id,
                        connection.ops.adapt_datefield_value(day),
                        name,
                        person,
                    )
                ],
            )
            for name, day in cursor.fetchall():
                new_people[(name, day if isinstance(day, date) else date.fromisoformat(day))] += 1
    table = ProductEventDaily._meta.db_table
    keys = sorted(counts)
    ops = connection.ops
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (workspace_id, name, day, events, people, last_at) "  # noqa: S608
            "VALUES "
            + ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(keys))
            + " ON CONFLICT (workspace_id, name, day) DO UPDATE SET "
            f"events = {table}.events + excluded.events, "
            f"people = {table}.people + excluded.people, "
            f"last_at = CASE WHEN excluded.last_at > {table}.last_at "
            f"THEN excluded.last_at ELSE {table}.last_at END",
            [
                value
                for name, day in keys
                for value in (
                    workspace_id,
                    name,
                    ops.adapt_datefield_value(day),
                    counts[(name, day)],
                    new_people[(name, day)],
                    ops.adapt_datetimefield_value(latest[(name, day)]),
                )
            ],
        )


def product_event_rollups_rebuild(
    *,
    pk_from: int,
    pk_to: int,
    event_model: type[Model] | None = None,
    daily_model: type[Model] | None = None,
    person_model: type[Model] | None = None,
    batch_size: int = 5000,
) -> None:
    """Recompute the rollups of the workspaces with a primary key in ``[pk_from, pk_to)``
    from their product events. A migration passes its historical models."""
    event_model = event_model or ProductEvent
    daily_model = daily_model or ProductEventDaily
    person_model = person_model or ActivePersonDay
    in_range = Q(workspace_id__gte=pk_from, workspace_id__lt=pk_to)
    daily_model.objects.filter(in_range).delete()
    person_model.objects.filter(in_range).delete()
    events = event_model.objects.filter(in_range).annotate(day=TruncDate("occurred_at", tzinfo=UTC))
    person_rows = (
        events.exclude(user_email="")
        .annotate(person=Lower("user_email"))
        .values_list("workspace_id", "day", "name", "person")
        .distinct()
        .order_by()
    )
    people: Counter[tuple[int, str, date]] = Counter()
    batch = []
    for workspace_id, day, name, person in person_rows.iterator(chunk_size=batch_size):
        people[(workspace_id, name, day)] += 1
        batch.append(person_model(workspace_id=workspace_id, day=day, name=name, person=person))
        if len(batch) >= batch_size:
            person_model.objects.bulk_create(batch)
            batch = []
    person_model.objects.bulk_create(batch)
    daily_rows = (
        events.values("workspace_id", "name", "day")
        .annotate(events=Count("id"), last_at=Max("occurred_at"))
        .order_by()
    )
    batch = []
    for row in daily_rows.iterator(chunk_size=batch_size):
        key = (row["workspace_id"], row["name"], row["day"])
        batch.append(daily_model(**row, people=people[key]))
        if len(batch) >= batch_size:
            daily_model.objects.bulk_create(batch)
            batch = []
    daily_model.objects.bulk_create(batch)
