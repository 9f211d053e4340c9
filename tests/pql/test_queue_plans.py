"""The queue's reads on PostgreSQL use the indexes made for them (bench/queue.py times them at
100,000 leads): the open queue is read in its order from an index and stops at the page, and
a search finds its workspaces through trigram indexes; a search sorts the same way whichever
way it is read."""

import pytest
from django.db import connection
from django.db.models import Q

from accounts import selectors as accounts_selectors
from accounts.models import Workspace
from pql import selectors
from tests.factories import WorkspaceFactory
from tests.pql.conftest import open_leads

# Steer the planner away from what is cheapest on a few rows (reading the whole table, then
# sorting) so that the plan shows which index the query can be answered from.
NO_SCANS_OR_SORTS = {
    "enable_seqscan": "off",
    "enable_sort": "off",
    "enable_incremental_sort": "off",
}


def _plan(queryset, **settings: str) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        for name, value in settings.items():
            cursor.execute(f"SET LOCAL {name} = {value}")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        for name in settings:
            cursor.execute(f"RESET {name}")
    return plan


def _page(params: dict, rep) -> object:
    query = selectors.queue_query_parse(params)
    return selectors.leads_queue_queryset(query, actor=rep)[: query.size + 1]


@pytest.mark.parametrize(
    ("sort", "index"),
    [
        ("score", "pql_lead_open_score"),
        ("-score", "pql_lead_open_score"),
        ("sla", "pql_lead_open_sla"),
        ("age", "pql_lead_open_age"),
        ("-age", "pql_lead_open_age"),
    ],
)
def test_the_open_queue_is_read_in_its_order_from_an_index_without_sorting(rep, sort, index):
    open_leads([f"Co {i}" for i in range(5)])

    plan = _plan(_page({"sort": sort}, rep), **NO_SCANS_OR_SORTS)

    assert index in plan
    assert "Sort" not in plan


def test_a_search_finds_its_workspaces_through_the_trigram_indexes(db):
    for name in ("Northwind Traders", "Contoso", "Fabrikam"):
        WorkspaceFactory(name=name)
    # The condition the queue's search reads workspaces with (workspace_ids_matching).
    matching = Workspace.objects.filter(
        Q(name__icontains="wind") | Q(company_domain__icontains="wind")
    )

    # With no table or full index scan allowed, only an index on the condition answers it.
    plan = _plan(matching, enable_seqscan="off", enable_indexscan="off", enable_indexonlyscan="off")

    assert "Bitmap Index Scan on pql_workspace_name_trgm" in plan
    assert "Bitmap Index Scan on pql_workspace_domain_trgm" in plan


def test_a_search_matching_few_workspaces_sorts_its_matches_instead_of_walking_the_queue(rep):
    open_leads(["Northwind Traders", "Contoso", "Fabrikam"])

    plan = _plan(_page({"q": "wind"}, rep))

    (sort_key,) = [line for line in plan.splitlines() if "Sort Key:" in line]
    assert "COALESCE" in sort_key
    assert "engagement" in sort_key


@pytest.mark.parametrize("sort", ["score", "-score", "sla", "age", "-age"])
def test_a_search_gives_the_same_pages_sorting_its_matches_or_walking_the_queue(
    rep, monkeypatch, sort
):
    leads = []
    for n, engagement in enumerate([40, 90, 90, 10, 75, 60, 90]):
        leads += open_leads([f"Wind {n}"], engagement=engagement, days_ago=n % 3 + 1)
    open_leads(["Contoso"], engagement=95)

    def walk() -> list[int]:
        seen, after = [], ""
        while True:
            query = selectors.queue_query_parse(
                {"q": "wind", "sort": sort, "size": "2", "after": after}
            )
            page = selectors.leads_queue(query, actor=rep)
            seen += [lead.pk for lead in page.leads]
            if page.next_after is None:
                return seen
            after = page.next_after

    sorted_matches = walk()
    monkeypatch.setattr(selectors, "SEARCH_SORTED", 0)  # more than 0 match: walk the queue
    walked = walk()

    field, *_ = selectors.SORTS[sort]
    name = field.lstrip("-")
    expected = sorted(
        leads, key=lambda lead: (getattr(lead, name), lead.pk), reverse=field.startswith("-")
    )
    assert sorted_matches == walked == [lead.pk for lead in expected]


def test_workspace_ids_matching_reads_names_and_domains_case_insensitively_up_to_a_limit(db):
    north = WorkspaceFactory(name="Northwind", company_domain="")
    acme = WorkspaceFactory(name="Acme", company_domain="northwind.example")
    WorkspaceFactory(name="Contoso", company_domain="")

    assert sorted(accounts_selectors.workspace_ids_matching(q="NORTHWIND", limit=2)) == [
        north.pk,
        acme.pk,
    ]
    assert accounts_selectors.workspace_ids_matching(q="northwind", limit=1) is None
    assert accounts_selectors.workspace_ids_matching(q="fabrikam", limit=0) == []
