"""Output of a run: a table on the terminal, a JSON file, a Markdown page and PNG charts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.harness import Row, SuiteResult

STATUS_TEXT = {"missing": "MISSING", "check failed": "CHECK FAILED", "error": "ERROR", "skipped": "SKIPPED"}


def format_rate(per_second: float) -> str:
    if per_second >= 1e9:
        return f"{per_second / 1e9:.2f} G"
    if per_second >= 1e6:
        return f"{per_second / 1e6:.1f} M"
    if per_second >= 1e3:
        return f"{per_second / 1e3:.1f} k"
    return f"{per_second:.0f}"


def format_time(milliseconds: float) -> str:
    if milliseconds >= 1000:
        return f"{milliseconds / 1000:.2f} s"
    if milliseconds >= 1:
        return f"{milliseconds:.2f} ms"
    if milliseconds >= 0.001:
        return f"{milliseconds * 1000:.2f} us"
    return f"{milliseconds * 1e6:.0f} ns"


def format_ratio(row: Row) -> str:
    return "-" if row.ratio is None else f"{row.ratio:.2f}x"


def table_columns(kind: str) -> list[str]:
    if kind == "throughput":
        return ["rows", "case", "threads", "median", "min-max", "rows/s", "values/s", "featurejit x", "check"]
    return ["case", "threads", "median", "p50", "p99", "min-max", "x reference", "check"]


def table_cells(kind: str, row: Row) -> list[str]:
    """Return one row of a suite's table; a row that was not timed shows its status instead of times."""
    if kind == "throughput":
        head = [f"{row.rows:,}", row.name, str(row.threads)]
        if not row.ok:
            return [*head, STATUS_TEXT.get(row.status, row.status), "", "", "", "", row.check]
        spread = f"{format_time(min(row.samples_ms))} - {format_time(max(row.samples_ms))}"
        return [
            *head,
            format_time(row.median_ms),
            spread,
            format_rate(row.rows_per_second),
            format_rate(row.values_per_second),
            format_ratio(row),
            row.check,
        ]
    head = [row.name, str(row.threads)]
    if not row.ok:
        return [*head, STATUS_TEXT.get(row.status, row.status), "", "", "", "", row.check]
    spread = f"{format_time(min(row.samples_ms))} - {format_time(max(row.samples_ms))}"
    return [
        *head,
        format_time(row.median_ms),
        format_time(row.percentile_ms(50)),
        format_time(row.percentile_ms(99)),
        spread,
        format_ratio(row),
        row.check,
    ]


# --------------------------------------------------------------------------------------
# Terminal
# --------------------------------------------------------------------------------------


def print_suite(console: Any, result: SuiteResult) -> None:
    from rich.table import Table

    console.print()
    console.print(f"{result.title} ({result.name})", style="bold")
    if result.skipped:
        console.print(f"  skipped: {result.skipped}")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    columns = table_columns(result.kind)
    for column in columns:
        table.add_column(column, justify="left" if column in ("case", "check") else "right", overflow="fold")
    for row in result.rows:
        table.add_row(*table_cells(result.kind, row))
    console.print(table)
    for target in result.targets:
        mark = {True: "met", False: "NOT MET", None: "not measured"}[target.met]
        console.print(f"  target: {target.description}: {target.measured} ({mark})")
    for note in result.notes:
        console.print(f"  note: {note}")


# --------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------


def write_json(path: Path, run: dict[str, Any], results: list[SuiteResult]) -> None:
    document = {
        **run,
        "suites": [
            {
                "name": result.name,
                "title": result.title,
                "description": result.description,
                "kind": result.kind,
                "skipped": result.skipped,
                "targets": [vars(target) for target in result.targets],
                "notes": result.notes,
                "charts": result.charts,
                "rows": [row.summary() for row in result.rows],
            }
            for result in results
        ],
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------


def markdown_table(result: SuiteResult) -> list[str]:
    columns = table_columns(result.kind)
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in result.rows:
        cells = [cell.replace("|", "\\|") for cell in table_cells(result.kind, row)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown_page(run: dict[str, Any], results: list[SuiteResult], chart_folder: str) -> str:
    """Return the benchmark page: the machine, then each suite's table, targets, notes and charts."""
    machine = run["machine"]
    versions = ", ".join(f"{name} {version}" for name, version in run["versions"].items())
    lines = [
        "# featurejit benchmark results",
        "",
        "Generated by the harness in this folder; see [README.md](README.md) for the method and the suites.",
        "",
        f"- Date: {run['date']}",
        f"- Command: `{run['command']}`",
        f"- CPU: {machine['cpu_model']} (LLVM host CPU `{machine['llvm_host_cpu']}`), "
        f"{machine['logical_cpus']} logical CPUs, {machine['usable_cpus']} usable; {machine['platform']}",
        f"- Load average at start: {', '.join(f'{load:.2f}' for load in machine['load_average_at_start'] or [])}",
        f"- Versions: {versions}",
        f"- Method: one warm-up call per case, checked against featurejit's result, then {run['options']['repeats']} "
        "rounds that each time every case once; medians with the min-max spread. The thread count of every row is "
        "in its `threads` column.",
        "",
    ]
    for result in results:
        lines += [f"## {result.title}", "", result.description, ""]
        if result.skipped:
            lines += [f"Skipped: {result.skipped}", ""]
            continue
        lines += markdown_table(result)
        lines.append("")
        if result.targets:
            lines.append("Targets:")
            lines.append("")
            for target in result.targets:
                mark = {True: "met", False: "**not met**", None: "not measured"}[target.met]
                lines.append(f"- {target.description}: {target.measured} ({mark})")
            lines.append("")
        if result.notes:
            lines.append("Notes:")
            lines.append("")
            lines += [f"- {note}" for note in result.notes]
            lines.append("")
        for chart in result.charts:
            lines += [f"![{result.title}]({chart_folder}/{Path(chart).name})", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Charts
# --------------------------------------------------------------------------------------


def draw_charts(folder: Path, results: list[SuiteResult]) -> list[str]:
    """Draw a PNG per suite: throughput against rows, or latency percentiles. Return what is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        return [f"charts not drawn: matplotlib is not installed ({error}); pip install -e '.[bench]'"]
    for result in results:
        rows = [row for row in result.rows if row.ok]
        if not rows or result.skipped:
            continue
        path = folder / f"{result.name}.png"
        figure, axes = plt.subplots(figsize=(11, 5), dpi=100)
        # tab20 has 20 distinct colors, enough for the cases of a suite without repeats.
        colormap = plt.get_cmap("tab20")
        axes.set_prop_cycle(color=[colormap(index) for index in range(20)])
        if result.kind == "throughput":
            draw_throughput(axes, rows)
        else:
            draw_latency(axes, rows)
        axes.set_title(result.title)
        figure.tight_layout()
        figure.savefig(path)
        plt.close(figure)
        result.charts.append(path.name)
    return []


def draw_throughput(axes: Any, rows: list[Row]) -> None:
    by_case: dict[str, list[Row]] = {}
    for row in rows:
        by_case.setdefault(row.name, []).append(row)
    for name, case_rows in by_case.items():
        case_rows.sort(key=lambda row: row.rows)
        axes.plot(
            [row.rows for row in case_rows],
            [row.rows_per_second / 1e6 for row in case_rows],
            marker="o",
            linewidth=2.5 if case_rows[0].reference else 1.2,
            label=f"{name} ({case_rows[0].threads} thr)",
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("rows per call")
    axes.set_ylabel("million rows per second (median)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def draw_latency(axes: Any, rows: list[Row]) -> None:
    import numpy as np

    names = [row.name for row in rows]
    positions = np.arange(len(rows))
    width = 0.38
    p50 = [row.percentile_ms(50) for row in rows]
    p99 = [row.percentile_ms(99) for row in rows]
    axes.barh(positions - width / 2, p50, width, label="p50")
    axes.barh(positions + width / 2, p99, width, label="p99")
    axes.set_yticks(positions)
    axes.set_yticklabels(names, fontsize=7)
    axes.invert_yaxis()
    axes.set_xscale("log")
    axes.set_xlabel("ms per operation (log scale)")
    axes.grid(True, axis="x", which="both", alpha=0.3)
    axes.legend(fontsize=8)
