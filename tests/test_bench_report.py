"""bench/report.py: each figure beside its baseline, the ratio, the target and met or not, the
missed targets listed, and the hand-written Notes kept between runs."""

from bench.common import figure, target_met
from bench.report import missed, render, table

RUN = {
    "machine": {
        "cpu": "Test CPU 9000",
        "cores": 2,
        "ram_gib": 8.0,
        "postgresql": "17.2",
        "redis": "7.2.4",
        "python": "3.13.1",
        "os": "Linux",
        "date": "2026-12-02T03:00:00+00:00",
    },
    "total_s": 1131.0,
    "benches": ["ingestion", "pql"],
}


def _results() -> list[dict]:
    return [
        {
            "bench": "pql",
            "title": "PQL scoring",
            "context": "",
            "elapsed_s": 301.0,
            "exit_status": 0,
            "figures": [
                figure(
                    "job at 1,000,000 workspaces",
                    150.0,
                    unit="s",
                    target=("value", "<=", 120),
                ),
                figure("job at 2,000,000 workspaces", None, unit="s", target=("value", "<=", 240)),
            ],
        },
        {
            "bench": "ingestion",
            "title": "Usage ingestion",
            "context": "",
            "elapsed_s": 65.0,
            "exit_status": 0,
            "figures": [
                figure(
                    "endpoint rate / COPY rate",
                    12_000.0,
                    unit="events/s",
                    baseline="COPY",
                    baseline_value=100_000.0,
                    target=("ratio", ">=", 0.05),
                ),
                figure("counters equal the events stored", False, target=("value", "==", True)),
            ],
        },
    ]


def test_target_applies_to_the_value_or_to_the_ratio_to_the_baseline():
    on_ratio = figure("x", 4.0, baseline="b", baseline_value=100.0, target=("ratio", ">=", 0.05))
    assert on_ratio["ratio"] == 0.04
    assert on_ratio["met"] is False
    assert target_met(on_ratio | {"target": {"on": "value", "op": ">=", "limit": 0.05}}) is True
    assert figure("y", 10.0, target=("value", "<=", 10))["met"] is True
    assert figure("y", 10.5, target=("value", "<=", 10))["met"] is False
    assert figure("z", 3.0)["met"] is None
    assert figure("unmeasured", None, target=("value", "<=", 10))["met"] is None


def test_table_row_shows_figure_baseline_ratio_target_and_verdict():
    rows = table(_results()[1])
    assert rows[2] == (
        "| endpoint rate / COPY rate | 12,000 events/s | COPY | 100,000 events/s | 0.12 "
        "| ratio ≥ 0.05 | met |  |"
    )
    assert rows[3] == (
        "| counters equal the events stored | no | — | — | — | = yes | **NOT MET** |  |"
    )


def test_report_lists_missed_and_unmeasured_targets_and_the_machine():
    results = _results()
    assert [fig["figure"] for fig in missed(results[0])] == [
        "job at 1,000,000 workspaces",
        "job at 2,000,000 workspaces",
    ]
    text = render(results, RUN)
    listed = text.split("## Targets missed")[1].split("\n## ")[0]
    assert "PQL scoring: job at 1,000,000 workspaces: value 150 s, target ≤ 120 s (not met)" in (
        listed
    )
    assert "job at 2,000,000 workspaces: value —, target ≤ 240 s (not measured)" in listed
    assert "counters equal the events stored" in listed
    assert "endpoint rate" not in listed
    assert "| CPU | Test CPU 9000 |" in text
    assert "| total run time | 18:51 (ingestion, pql) |" in text
    # The benchmarks in the order of the run, whatever the order of their files.
    assert text.index("## Usage ingestion") < text.index("## PQL scoring")
    assert "| Usage ingestion (`bench.ingestion`) | 1:05 |" in text


def test_hand_written_notes_are_kept_when_the_report_is_rewritten():
    first = render(_results(), RUN)
    assert first.endswith("the measured reason for each target missed.\n")
    edited = first + "\n- PQL at 1M: the build's COPY competes with the workers for 2 cores.\n"
    again = render(_results()[:1], RUN, existing=edited)
    assert again.endswith("- PQL at 1M: the build's COPY competes with the workers for 2 cores.\n")
    assert again.count("## Notes") == 1
    assert "## Usage ingestion" not in again


def test_a_later_run_of_some_benchmarks_is_listed_beside_the_whole_runs_total():
    run = RUN | {
        "environment": {"BENCH_PQL_MAX": "100000"},
        "partial_runs": [
            {
                "machine": RUN["machine"] | {"date": "2026-12-02T03:10:00+00:00"},
                "total_s": 905.0,
                "benches": ["pql"],
                "environment": {"BENCH_PQL_MAX": "1000000"},
            }
        ],
    }
    text = render(_results(), run)
    assert "| total run time | 18:51 (ingestion, pql) |" in text
    assert "| sizes set for the run | BENCH_PQL_MAX=100000 |" in text
    assert "| later run of pql | 2026-12-02T03:10:00+00:00, 15:05 (BENCH_PQL_MAX=1000000) |" in text
