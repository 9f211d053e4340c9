"""bench/REPORT.md from the figures the benchmarks wrote (bench/reports/*.json) and the run's
machine and total time (bench/reports/run.json): a table per benchmark with each figure
beside its baseline from the same run, the ratio, the target and whether it is met, and a
list of the targets missed. Everything from the "## Notes" heading of an existing REPORT.md
on (the reasons for missed targets, written by hand) is kept as it is.

Run: ``make bench`` calls it at the end; ``.venv/bin/python -m bench.report`` rewrites the
report from the JSON files already there.
"""

import json
from pathlib import Path

from bench.common import REPORTS, ROOT, target_met

REPORT = ROOT / "bench" / "REPORT.md"
NOTES_HEADING = "## Notes"
DEFAULT_NOTES = (
    f"{NOTES_HEADING}\n\n"
    "Written by hand, and kept by bench/report.py when it rewrites the rest of this file: "
    "the measured reason for each target missed.\n"
)
ORDER = ("plans", "ingestion", "webhooks", "pql", "queue", "metrics", "mixed")
SYMBOLS = {"<=": "≤", ">=": "≥", "<": "<", ">": ">", "==": "="}


def number(value: object) -> str:
    """A figure as the report prints it."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    return str(value)


def target_text(fig: dict) -> str:
    target = fig.get("target")
    if not target:
        return "—"
    limit = number(target["limit"])
    if target.get("on") == "ratio":
        return f"ratio {SYMBOLS[target['op']]} {limit}"
    unit = f" {fig['unit']}" if fig.get("unit") and not isinstance(target["limit"], bool) else ""
    return f"{SYMBOLS[target['op']]} {limit}{unit}"


def verdict(fig: dict) -> str:
    """ "met", "**NOT MET**", "not measured" (a target but no figure) or "—" (no target)."""
    if not fig.get("target"):
        return "—"
    met = target_met(fig)
    if met is None:
        return "**not measured**"
    return "met" if met else "**NOT MET**"


def missed(result: dict) -> list[dict]:
    """The figures of ``result`` with a target not met or not measured."""
    return [fig for fig in result["figures"] if fig.get("target") and not target_met(fig)]


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


def table(result: dict) -> list[str]:
    """The markdown table of one benchmark's figures."""
    lines = [
        "| figure | value | baseline (same run) | baseline value | ratio | target | met | notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for fig in result["figures"]:
        unit = f" {fig['unit']}" if fig.get("unit") and fig.get("value") is not None else ""
        base_unit = f" {fig['unit']}" if fig.get("unit") and fig.get("baseline_value") else ""
        lines.append(
            "| "
            + " | ".join(
                _cell(cell)
                for cell in (
                    fig["figure"],
                    number(fig.get("value")) + unit,
                    fig.get("baseline") or "—",
                    number(fig.get("baseline_value")) + base_unit,
                    number(fig.get("ratio")),
                    target_text(fig),
                    verdict(fig),
                    fig.get("note") or "",
                )
            )
            + " |"
        )
    return lines


def notes(existing: str | None) -> str:
    """The hand-written Notes section of an existing report, or the default one."""
    if existing and f"\n{NOTES_HEADING}" in f"\n{existing}":
        start = f"\n{existing}".index(f"\n{NOTES_HEADING}")
        return existing[start:].rstrip("\n") + "\n"
    return DEFAULT_NOTES


def render(results: list[dict], run: dict | None, existing: str | None = None) -> str:
    """The whole report: machine, summary, missed targets, one table per benchmark, notes."""
    order = {name: n for n, name in enumerate(ORDER)}
    results = sorted(results, key=lambda r: order.get(r["bench"], len(ORDER)))
    lines = [
        "# Benchmark report",
        "",
        "Written by `make bench` (bench/run.py, then bench/report.py) from the figures each "
        "benchmark measured; everything above the Notes section is rewritten on every run. "
        "Each figure stands beside its baseline measured in the same run.",
        "",
    ]
    if run:
        m = run["machine"]
        ram = f"{m['ram_gib']:.1f} GiB" if m.get("ram_gib") else "unknown"
        lines += [
            "## Machine and run",
            "",
            "| | |",
            "|---|---|",
            f"| CPU | {m['cpu']} |",
            f"| cores | {m['cores']} |",
            f"| RAM | {ram} |",
            f"| PostgreSQL | {m['postgresql']} |",
            f"| Redis | {m['redis']} |",
            f"| Python | {m['python']} |",
            f"| OS | {m.get('os', '')} |",
            f"| date (UTC) | {m['date']} |",
            *(
                [
                    "| load average (1/5/15 min) at start / end | "
                    + " / ".join(f"{x:.1f}" for x in run["load_average"]["start"])
                    + " ; "
                    + " / ".join(f"{x:.1f}" for x in run["load_average"]["end"])
                    + " |"
                ]
                if run.get("load_average")
                else []
            ),
            f"| total run time | {_clock(run['total_s'])} ({', '.join(run['benches'])}) |",
        ]
        if run.get("environment"):
            settings = ", ".join(f"{k}={v}" for k, v in sorted(run["environment"].items()))
            lines.append(f"| sizes set for the run | {settings} |")
        for partial in run.get("partial_runs", []):
            settings = ", ".join(f"{k}={v}" for k, v in sorted(partial["environment"].items()))
            lines.append(
                f"| later run of {', '.join(partial['benches'])} | {partial['machine']['date']}, "
                f"{_clock(partial['total_s'])} ({settings}) |"
            )
        if run.get("quick"):
            lines.append(
                "| sizes | **quick mode (BENCH_QUICK): small sizes, not the targets' sizes** |"
            )
        lines.append("")
    lines += [
        "## Summary",
        "",
        "| benchmark | run time | ran at (UTC) | figures | targets met | targets missed "
        "| load average (1 min) at start / end |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        with_target = [fig for fig in result["figures"] if fig.get("target")]
        miss = missed(result)
        status = "" if not result.get("exit_status") else f" (exit {result['exit_status']})"
        lines.append(
            f"| {result['title']} (`bench.{result['bench']}`){status} | "
            f"{_clock(result.get('elapsed_s'))} | {result.get('ran_at', '—')}"
            f"{' quick' if result.get('quick') else ''} | {len(result['figures'])} | "
            f"{len(with_target) - len(miss)} / {len(with_target)} | {len(miss)} | "
            + (
                " / ".join(f"{x:.1f}" for x in result["load_average"])
                if result.get("load_average")
                else "—"
            )
            + " |"
        )
    lines += ["", "## Targets missed", ""]
    all_missed = [(result, fig) for result in results for fig in missed(result)]
    if all_missed:
        lines.append("The reason for each is measured and written by hand under Notes.")
        lines.append("")
        for result, fig in all_missed:
            unit = f" {fig['unit']}" if fig.get("unit") and fig.get("value") is not None else ""
            shown = number(fig.get(fig["target"].get("on", "value")))
            lines.append(
                f"- {result['title']}: {fig['figure']}: "
                f"{fig['target'].get('on', 'value')} {shown}"
                f"{unit if fig['target'].get('on') != 'ratio' else ''}, "
                f"target {target_text(fig)} ({verdict(fig).strip('*').lower()})"
            )
    else:
        lines.append("None: every target is met.")
    lines.append("")
    failed = [r for r in results if r.get("exit_status") or not r["figures"]]
    for result in failed:
        lines += [f"**{result['title']} did not finish** (exit {result.get('exit_status')}).", ""]
    for result in results:
        lines += [
            f"## {result['title']}",
            "",
            f"`bench.{result['bench']}`, run time {_clock(result.get('elapsed_s'))}. "
            + result.get("context", ""),
            "",
            *table(result),
            "",
        ]
    return "\n".join(lines) + "\n" + notes(existing)


def load(directory: Path = REPORTS) -> tuple[list[dict], dict | None]:
    results = [
        json.loads(path.read_text())
        for path in sorted(directory.glob("*.json"))
        if path.name != "run.json"
    ]
    run_path = directory / "run.json"
    run = json.loads(run_path.read_text()) if run_path.exists() else None
    return results, run


def main() -> Path:
    results, run = load()
    existing = REPORT.read_text() if REPORT.exists() else None
    REPORT.write_text(render(results, run, existing))
    return REPORT


if __name__ == "__main__":
    print(main())
