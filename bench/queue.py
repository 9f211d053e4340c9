"""Benchmark of the sales queue (issue 11, "Measured").

Builds synthetic leads with bulk SQL (INSERT … SELECT generate_series): one workspace per lead
with its subscription (free, Pro, Business or Enterprise), one to three members, a current
score and three weekly snapshots (for the trend); 70% of the leads open (new, working,
contacted, qualified), the rest won, lost, disqualified or expired; a third unassigned, the
others spread over five reps; upgrades and expansions; scores, SLA due times (some breached,
some at risk) and reasons spread out; one open lead in 25 snoozed. Then, on the same machine
in the same run, at 1,000 and at 100,000 leads:

- the queue page ``/sales/`` and the API ``GET /api/v1/pql/leads``, through Django's test
  client logged in as a sales rep, each in six typical views: the default (open, by score);
  filtered (``owner=mine&type=upgrade&score_min=60``); sorted by SLA; a search for one
  company (100 workspaces at either size); a broader search (0.7% of the workspaces, at least
  150); and page 10 of the default view (its ``after`` found by walking the keyset);
- every view shows a full page (50 leads) at both sizes, and the bench fails otherwise: a
  ratio of p95s is fair only when both sizes render as many rows (rendering a row costs more
  than finding it). So the 1,000 leads are shaped for it: the bench's rep owns three in seven
  assigned leads (its filtered view fills a page), the searched-for company has 100
  workspaces, the broad term never fewer than 150, and the keyset page is at the same depth
  (page 10) at both sizes rather than page 50 against the last of 14;
- p50 / p95 over ``ROUNDS`` requests of each (after a warm-up), the views taking turns so
  that drift of the shared machine hits them alike, and the queries of one request of each
  (``CaptureQueriesContext``): their number must not change with the number of leads, and
  none may count the leads.

Targets: p95 ≤ 150 ms at 100,000 leads, and ≤ 1.5x the p95 at 1,000.

Run: ``make bench`` (or ``.venv/bin/python scripts/test_services.py -- .venv/bin/python -m
bench.queue``). ``BENCH_QUEUE_ROUNDS`` changes the number of timed requests per view;
``BENCH_QUEUE_EXPLAIN=1`` prints EXPLAIN ANALYZE of each view's slowest query at each size.
"""

import html
import os
import re
import time
from urllib.parse import parse_qs, urlencode, urlsplit

from bench.common import django_setup, figure, percentile, quick, write_figures, write_report

SIZES = (1_000, 5_000) if quick() else (1_000, 100_000)
ROUNDS = int(os.environ.get("BENCH_QUEUE_ROUNDS", 5 if quick() else 50))
WARMUP = 5
REPS = 5
POOL_USERS = 50  # the workspaces' members, shared
# The page whose marker is walked to: the same depth at both sizes (the default view has 13
# full pages at 1,000 leads), so that both sizes time the same work.
PAGE = 10
ROWS = 50  # a page of the queue and of the API: every view shows this many at both sizes
TARGET_P95_MS = 150.0
TARGET_RATIO = 1.5
# A company a rep looks up: 100 workspaces (all of them open leads, 80 not snoozed: more than a
# page) whatever the number of leads.
SEARCH = "vandelay"
NAMED = 100
# A broader search: 0.7% of the workspaces at 100,000 (700), and never fewer than BROAD_MIN (so
# that at 1,000 leads it too fills a page: 0.7% would be 7 workspaces, 5 open leads).
SEARCH_BROAD = "initrode"
BROAD_SHARE = 0.007
BROAD_MIN = 150
VIEWS = {
    "default (open, by score)": {},
    "filtered (mine, upgrade, score ≥ 60)": {"owner": "mine", "type": "upgrade", "score_min": 60},
    "sorted by SLA": {"sort": "sla"},
    f"search “{SEARCH}”": {"q": SEARCH},
    f"search “{SEARCH_BROAD}”": {"q": SEARCH_BROAD},
    f"page {PAGE} by keyset": {"after": None},  # filled in by walking the pages
}
ENDPOINTS = {"page": "/sales/", "API": "/api/v1/pql/leads"}
COMPANIES = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Northwind",
    "Contoso",
    "Tyrell",
    "Soylent",
    "Cyberdyne",
    "Wonka",
    "Oscorp",
    "Aperture",
)
REASONS = (
    ("usage_share", "engagement", "uses 92% of 10,000 API calls"),
    ("seats_share", "engagement", "4 of 5 seats used"),
    ("active_people_7d", "engagement", "5 active people in the last 7 days"),
    ("company_domain", "fit", "company e-mail domain"),
    ("paywall_people_14d", "engagement", "3 people hit a paywall in the last 14 days"),
    ("invitations_30d", "engagement", "6 invitations sent in the last 30 days"),
)


# Data -----------------------------------------------------------------------------------------


def _sql(statement: str, params: dict | None = None) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params or {})


def reps_create() -> list:
    """Five sales reps (the first one is the bench's session)."""
    from django.contrib.auth.models import Group

    from accounts.models import User
    from accounts.roles import SALES

    sales = Group.objects.get(name=SALES)
    reps = []
    for n in range(REPS):
        rep, _ = User.objects.get_or_create(
            email=f"rep{n}@bench.example", defaults={"is_staff": True, "full_name": f"Rep {n}"}
        )
        rep.groups.add(sales)
        reps.append(rep)
    return reps


def build(n: int, *, reps: list) -> None:
    """Replace every workspace and lead by ``n`` synthetic ones (ids 1..n)."""
    from django.db import transaction
    from django.utils import timezone

    from billing.models import Plan
    from pql.scoring import SIGNALS
    from pql.services import scoring_model_published

    assert all(key in SIGNALS for key, _, _ in REASONS)
    plans = {plan.code: plan.pk for plan in Plan.objects.all()}
    p = {
        "n": n,
        "now": timezone.now(),
        "model": scoring_model_published().pk,
        "pool": POOL_USERS,
        "reps": [rep.pk for rep in reps],
        # The bench's rep (the first) owns three leads in seven assigned ones, the others one
        # each: its filtered view (mine, upgrade, score ≥ 60) then fills a page at 1,000 leads.
        "owners": [reps[0].pk, reps[0].pk, *[rep.pk for rep in reps]],
        "nowners": len(reps) + 2,
        "companies": list(COMPANIES),
        "ncompanies": len(COMPANIES),
        "named": NAMED,
        "broad": max(BROAD_MIN, int(n * BROAD_SHARE)),
        "plans": [plans["free"], plans["pro"], plans["business"], plans["enterprise"]],
        "reasons": [
            f'{{"signal": "{key}", "group": "{group}", "raw": 1, "points": {30 - 4 * k}, '
            f'"text": "{text}"}}'
            for k, (key, group, text) in enumerate(REASONS)
        ],
        "signals": [key for key, _, _ in REASONS],
        "nreasons": len(REASONS),
    }
    with transaction.atomic():
        _sql("TRUNCATE accounts_workspace RESTART IDENTITY CASCADE")
        _sql(
            "INSERT INTO accounts_user (password, is_superuser, email, full_name, is_staff, "
            "is_active, date_joined) SELECT '!', false, 'member' || j || '@bench.example', "
            "'', false, true, %(now)s FROM generate_series(1, %(pool)s) j "
            "ON CONFLICT DO NOTHING",
            p,
        )
        _sql(
            """
            INSERT INTO accounts_workspace (id, created_at, updated_at, name, slug,
                company_domain, time_zone, activated_at, created_by_id, deleted_at, is_demo,
                signup_source, team_size, use_case)
            SELECT i, c, c,
                CASE WHEN i %% (%(n)s / %(named)s) = 3 THEN 'Vandelay Industries ' || i
                    WHEN i %% (%(n)s / %(broad)s) = 5 THEN 'Initrode ' || i
                    ELSE (%(companies)s::text[])[1 + (i * 7) %% %(ncompanies)s] || ' ' || i
                    END,
                'bench-' || i,
                CASE WHEN i %% 10 < 6
                    THEN lower((%(companies)s::text[])[1 + (i * 7) %% %(ncompanies)s])
                        || i || '.example'
                    ELSE '' END,
                'UTC', c + interval '3 hours', NULL, NULL, false, '{}'::jsonb, '2-10', 'team'
            FROM generate_series(1, %(n)s) i,
                LATERAL (SELECT %(now)s::timestamptz - ((30 + i %% 400) || ' days')::interval
                    AS c) t
            """,
            p,
        )
        _sql("SELECT setval('accounts_workspace_id_seq', %(n)s)", p)
        _sql(
            """
            INSERT INTO accounts_membership (created_at, updated_at, role, user_id,
                workspace_id)
            SELECT w.created_at, w.created_at, CASE WHEN j = 0 THEN 'owner' ELSE 'member' END,
                u.id, w.id
            FROM accounts_workspace w
            CROSS JOIN LATERAL generate_series(0, w.id %% 3) j
            JOIN accounts_user u ON u.email = 'member' || (1 + (w.id + j) %% %(pool)s)
                || '@bench.example'
            """,
            p,
        )
        # Plans: 55% free, 30% Pro, 12% Business, 3% Enterprise.
        _sql(
            """
            INSERT INTO billing_subscription (created_at, updated_at, seats, status,
                stripe_customer_id, stripe_subscription_id, plan_id, price_id, workspace_id,
                cancel_at_period_end, currency, mrr_cents, billed_mrr_cents)
            SELECT w.created_at, w.created_at, CASE WHEN k > 1 THEN 5 ELSE 0 END, 'active',
                CASE WHEN k > 1 THEN 'cus_b' || w.id ELSE '' END,
                CASE WHEN k > 1 THEN 'sub_b' || w.id ELSE '' END,
                (%(plans)s::bigint[])[k], NULL, w.id, false, 'usd',
                (ARRAY[0, 24500, 99500, 250000])[k], (ARRAY[0, 24500, 99500, 250000])[k]
            FROM accounts_workspace w, LATERAL (SELECT CASE
                WHEN w.id %% 100 < 55 THEN 1 WHEN w.id %% 100 < 85 THEN 2
                WHEN w.id %% 100 < 97 THEN 3 ELSE 4 END AS k) t
            """,
            p,
        )
        # Scores spread over 0-100; the current score and snapshots 0, 7 and 14 days ago.
        _sql(
            """
            INSERT INTO pql_score (workspace_id, model_id, fit, engagement, is_pql, lead_type,
                components, computed_at, run_id)
            SELECT i, %(model)s, (i * 53) %% 101, (i * 37) %% 101, true,
                CASE WHEN i %% 3 = 0 THEN 'expansion' ELSE 'upgrade' END,
                '[]'::jsonb, %(now)s, NULL
            FROM generate_series(1, %(n)s) i
            """,
            p,
        )
        _sql(
            """
            INSERT INTO pql_scoresnapshot (workspace_id, day, fit, engagement, is_pql,
                model_id)
            SELECT s.workspace_id, (%(now)s::timestamptz)::date - d,
                s.fit, greatest(0, s.engagement - d - s.workspace_id %% 5), true, %(model)s
            FROM pql_score s, generate_series(0, 14, 7) d
            """,
            p,
        )
        # Leads: i %% 20 in 0-7 new, 8-10 working, 11-12 contacted, 13 qualified (open, 70%),
        # 14-15 won, 16-17 lost, 18 disqualified, 19 expired.
        _sql(
            """
            INSERT INTO pql_lead (workspace_id, type, status, model_id, fit_at_open,
                engagement_at_open, top_reasons, reason_signals, opened_at, sla_due_at,
                owner_id, closed_at, close_reason, won_via, mrr_at_open_cents,
                mrr_change_cents, currency, fit, engagement, first_contact_at, snoozed_until,
                sla_warned_at, sla_breached_at)
            SELECT s.workspace_id, s.lead_type, st, %(model)s, s.fit, s.engagement,
                jsonb_build_array((%(reasons)s::text[])[1 + r]::jsonb,
                    (%(reasons)s::text[])[1 + (r + 1) %% %(nreasons)s]::jsonb,
                    (%(reasons)s::text[])[1 + (r + 3) %% %(nreasons)s]::jsonb),
                ',' || (%(signals)s::text[])[1 + r] || ','
                    || (%(signals)s::text[])[1 + (r + 1) %% %(nreasons)s] || ','
                    || (%(signals)s::text[])[1 + (r + 3) %% %(nreasons)s] || ',',
                opened, due,
                CASE WHEN i %% 3 = 0 THEN NULL
                    ELSE (%(owners)s::bigint[])[1 + (i / 3) %% %(nowners)s] END,
                CASE WHEN open THEN NULL ELSE opened + interval '5 days' END,
                CASE WHEN st IN ('lost', 'disqualified') THEN 'no budget' ELSE '' END,
                CASE WHEN st = 'won' THEN 'sales' ELSE '' END,
                m.mrr_cents, CASE WHEN st = 'won' THEN 24500 END, 'usd',
                s.fit, s.engagement,
                CASE WHEN st IN ('contacted', 'qualified', 'won', 'lost')
                    THEN opened + interval '3 hours' END,
                CASE WHEN open AND i %% 25 = 7 THEN %(now)s + interval '3 days' END,
                CASE WHEN due > %(now)s AND due < %(now)s + interval '2 hours'
                    THEN %(now)s END,
                CASE WHEN due <= %(now)s AND st IN ('new', 'working') THEN due END
            FROM pql_score s
            JOIN billing_subscription m ON m.workspace_id = s.workspace_id,
            LATERAL (SELECT s.workspace_id AS i) x,
            LATERAL (SELECT (ARRAY['new', 'new', 'new', 'new', 'new', 'new', 'new', 'new',
                'working', 'working', 'working', 'contacted', 'contacted', 'qualified',
                'won', 'won', 'lost', 'lost', 'disqualified', 'expired'])[1 + i %% 20] AS st,
                i %% %(nreasons)s AS r,
                %(now)s::timestamptz - ((i %% 60) || ' days')::interval
                    - ((i %% 24) || ' hours')::interval AS opened,
                %(now)s::timestamptz + (((i * 13) %% 96 - 48) || ' hours')::interval AS due) y,
            LATERAL (SELECT y.st IN ('new', 'working', 'contacted', 'qualified') AS open) z
            """,
            p,
        )
    _sql("ANALYZE")


# Timing ---------------------------------------------------------------------------------------


def _client(rep):
    from django.test import Client

    client = Client(HTTP_HOST="localhost")
    client.force_login(rep)
    return client


def _walk(client, endpoint: str, pages: int) -> tuple[str, int]:
    """The ``after`` marker of page ``pages`` of the default view (or of its last page, when
    it has fewer), following the pages; and that page's number."""
    after = None
    page = 1
    while page < pages:
        response = client.get(endpoint, {"after": after} if after else {})
        assert response.status_code == 200, response.status_code
        if endpoint.startswith("/api/"):
            following = response.json()["next"]
        else:
            found = NEXT_LINK.search(response.content.decode())
            following = html.unescape(found.group(1)) if found else None
        if not following:
            break
        after = parse_qs(urlsplit(following).query)["after"][0]
        page += 1
    return after, page


def _queries(client, url: str) -> list[dict]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    if url.startswith("/api/"):
        rows = len(response.json()["results"])
    else:
        rows = response.content.decode().count('<tr id="lead-row-')
    assert rows == ROWS, f"{url} shows {rows} leads, not a page of {ROWS}: the sizes would differ"
    return list(captured.captured_queries)


NEXT_LINK = re.compile(r'<a href="([^"]*)" rel="next">')
COUNTING = re.compile(r'COUNT\(.*FROM "pql_lead"', re.S)


def measure(n: int, rep) -> dict:
    """Per (endpoint, view): samples in seconds, queries of one request, leads counted."""
    from django.db import connection

    client = _client(rep)
    urls = {}
    pages = {}
    for endpoint_name, endpoint in ENDPOINTS.items():
        for view_name, params in VIEWS.items():
            if "after" in params:
                after, page = _walk(client, endpoint, PAGE)
                params = {"after": after}
                pages[endpoint_name] = page
            urls[endpoint_name, view_name] = f"{endpoint}?{urlencode(params)}".rstrip("?")
    results = {key: {"url": url, "samples": []} for key, url in urls.items()}
    for key, url in urls.items():
        queries = _queries(client, url)
        results[key]["queries"] = len(queries)
        results[key]["counting"] = [q["sql"] for q in queries if COUNTING.search(q["sql"])]
        slowest = max(queries, key=lambda q: float(q["time"]))
        results[key]["slowest_ms"] = float(slowest["time"]) * 1000
        if os.environ.get("BENCH_QUEUE_EXPLAIN"):
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest["sql"])
                plan = "\n".join(row[0] for row in cursor.fetchall())
            print(f"\n--- {n:,} {key} ({results[key]['slowest_ms']:.1f} ms)\n{plan}", flush=True)
    for _ in range(WARMUP):
        for url in urls.values():
            client.get(url)
    for _ in range(ROUNDS):
        for key, url in urls.items():
            start = time.perf_counter()
            response = client.get(url)
            results[key]["samples"].append(time.perf_counter() - start)
            assert response.status_code == 200
    return results, pages


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def _load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    django_setup()
    from django.core.cache import cache

    from pql.models import OPEN_LEAD_STATUSES, Lead

    reps = reps_create()
    measured = {}
    facts = {}
    for n in SIZES:
        start = time.perf_counter()
        build(n, reps=reps)
        cache.clear()
        build_s = time.perf_counter() - start
        load_before = _load()
        start = time.perf_counter()
        measured[n], pages = measure(n, reps[0])
        facts[n] = {
            "build_s": build_s,
            "measure_s": time.perf_counter() - start,
            "open": Lead.objects.filter(status__in=OPEN_LEAD_STATUSES).count(),
            "mine": Lead.objects.filter(status__in=OPEN_LEAD_STATUSES, owner=reps[0]).count(),
            "load": f"{load_before} before, {_load()} after",
            "pages": pages,
        }
        print(f"{n:,} leads: built in {build_s:.1f} s, measured; load {facts[n]['load']}")

    small, large = SIZES
    lines = []
    verdicts = []
    figures = []
    for key in measured[large]:
        a, b = measured[small][key], measured[large][key]
        p95_small = percentile(a["samples"], 95)
        p95_large = percentile(b["samples"], 95)
        ratio = p95_large / p95_small
        lines.append(
            f"| {key[0]} | {key[1]} | {_ms(percentile(a['samples'], 50))} | {_ms(p95_small)} | "
            f"{_ms(percentile(b['samples'], 50))} | **{_ms(p95_large)}** | {ratio:.2f}x | "
            f"{a['queries']} / {b['queries']} | {b['slowest_ms']:.1f} |"
        )
        label = f"{key[0]}, {key[1]}"
        figures.append(
            figure(
                f"{label}: p95 at {large:,} leads",
                p95_large * 1000,
                unit="ms",
                baseline=f"p95 at {small:,} leads",
                baseline_value=p95_small * 1000,
                target=("ratio", "<=", TARGET_RATIO),
                note=f"p50 {_ms(percentile(b['samples'], 50))} ms; {b['queries']} queries",
            )
        )
        figures.append(
            figure(
                f"{label}: p95 at {large:,} leads, absolute",
                p95_large * 1000,
                unit="ms",
                target=("value", "<=", TARGET_P95_MS),
            )
        )
        verdicts.append(
            (
                f"{label}: p95 at {large:,} ≤ {TARGET_P95_MS:.0f} ms ({_ms(p95_large)} ms)",
                p95_large * 1000 <= TARGET_P95_MS,
            )
        )
        verdicts.append(
            (
                f"{label}: p95 at {large:,} ≤ {TARGET_RATIO}x the p95 at {small:,} ({ratio:.2f}x)",
                ratio <= TARGET_RATIO,
            )
        )
        verdicts.append(
            (
                f"{label}: the same number of queries ({a['queries']} / {b['queries']}), none "
                "counting the leads",
                a["queries"] == b["queries"] and not a["counting"] and not b["counting"],
            )
        )
    figures.append(
        figure(
            "every view: the same number of queries at both sizes, none counting the leads",
            all(ok for text, ok in verdicts if "queries" in text),
            target=("value", "==", True),
        )
    )
    urls = "\n".join(
        f"- {key[0]}, {key[1]}: `{value['url'][:120]}`" for key, value in measured[small].items()
    )
    report = "\n".join(
        [
            "# Benchmark: the sales queue",
            "",
            "Django's test client in one process on this machine (2 CPUs, shared), PostgreSQL "
            "from `scripts/test_services.py`, logged in as a sales rep; every request renders "
            "the whole page or API response (session, permissions, sidebar, rows with trend, "
            f"plan, seats and SLA). {ROUNDS} timed requests per view after {WARMUP} warm-up "
            "rounds, the views taking turns. Synthetic data: one workspace per lead with its "
            "subscription, members, score and three snapshots; 70% of leads open; a third "
            f"unassigned, the rest over {REPS} reps.",
            "",
            *[
                f"- {n:,} leads ({facts[n]['open']:,} open, {facts[n]['mine']:,} open ones "
                f"the rep's): built in {facts[n]['build_s']:.1f} s, measured in "
                f"{facts[n]['measure_s']:.1f} s; load average (1/5/15 min) "
                f"{facts[n]['load']}; the keyset view is page "
                f"{' / '.join(str(v) for v in facts[n]['pages'].values())} (page / API)"
                for n in SIZES
            ],
            "",
            f"| | view | p50 {small:,} (ms) | p95 {small:,} (ms) | p50 {large:,} (ms) | "
            f"p95 {large:,} (ms) | p95 ratio | queries {small:,} / {large:,} | "
            f"slowest query at {large:,} (ms) |",
            "|---|---|---|---|---|---|---|---|---|",
            *lines,
            "",
            f"Notes: every view shows a full page ({ROWS} leads) at both sizes, checked, so "
            f"that each ratio compares the same work: the keyset view is page {PAGE} at both; "
            f"the bench's rep owns enough leads for the filtered view to fill a page at "
            f"{small:,}; the one-company search matches {NAMED} workspaces at either size, the "
            f"broad one {BROAD_SHARE:.1%} of them but at least {BROAD_MIN}. Each view's query "
            "count includes the "
            "session, the user and their permissions; a search adds one (the matching "
            "workspaces' ids).",
            "",
            f"Addresses (at 1,000 leads; page {PAGE}'s marker differs at 100,000):",
            "",
            urls,
            "",
            *[f"- {'PASS' if ok else 'FAIL'}: {text}" for text, ok in verdicts],
            "",
            f"Verdict: {'PASS' if all(ok for _, ok in verdicts) else 'FAIL'}",
            "",
        ]
    )
    write_report("queue.md", report)
    write_figures(
        "queue",
        "Sales queue",
        figures,
        context=f"Django's test client as a sales rep; {ROUNDS} timed requests per view; "
        f"{small:,} and {large:,} leads.",
    )


if __name__ == "__main__":
    main()
