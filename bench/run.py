"""The command line of the harness: choose suites, run them with a progress display, write the outputs.

    featurejit bench [SUITE ...] [--rows N,N,...] [--repeats N] [--threads N] [--quick] [--output DIR]
    python -m bench --list
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import logging
import pkgutil
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.harness import Bench, Options, Suite, SuiteResult, describe_machine, library_versions, use_threads

BENCH_FOLDER = Path(__file__).resolve().parent
DEFAULT_ROWS = [10_000, 100_000, 1_000_000, 10_000_000]
QUICK_ROWS = [10_000, 100_000]
EXIT_FAILED = 1
EXIT_USAGE = 2


def discover_suites() -> dict[str, Suite]:
    """Import every module of bench.suites and return the suites they define, in their run order."""
    import bench.suites

    suites = []
    for module_info in pkgutil.iter_modules(bench.suites.__path__):
        module = importlib.import_module(f"bench.suites.{module_info.name}")
        suite = getattr(module, "SUITE", None)
        if isinstance(suite, Suite):
            suites.append(suite)
    suites.sort(key=lambda suite: (suite.order, suite.name))
    return {suite.name: suite for suite in suites}


def row_counts(text: str) -> list[int]:
    try:
        counts = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid --rows {text!r}: expected integers separated by commas") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"invalid --rows {text!r}: expected one or more counts of 1 or more")
    return sorted(set(counts))


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected an integer of 1 or more")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the harness's arguments to a parser, for `python -m bench` and for `featurejit bench`."""
    parser.add_argument("suites", nargs="*", metavar="SUITE", help="suites to run (default: all); see --list")
    parser.add_argument("--list", action="store_true", help="list the suites and exit")
    parser.add_argument(
        "--rows",
        type=row_counts,
        help="rows per call of the throughput suites, separated by commas "
        f"(default {','.join(map(str, DEFAULT_ROWS))}; with --quick {','.join(map(str, QUICK_ROWS))})",
    )
    parser.add_argument("--repeats", type=positive, help="timed rounds after the warm-up (default 7; 3 with --quick)")
    parser.add_argument(
        "--threads", type=positive, default=1, help="threads of featurejit and of every peer (default 1)"
    )
    parser.add_argument(
        "--python-rows",
        type=positive,
        default=200_000,
        help="rows that plain Python loops run on at most, because they are slow (default 200,000)",
    )
    parser.add_argument(
        "--max-call-seconds",
        type=float,
        default=10.0,
        help="skip a case at a row count where the smaller row counts predict a call longer than this, in "
        "seconds (default 10)",
    )
    parser.add_argument("--quick", action="store_true", help="fewer rows, repeats and samples, to try the harness")
    parser.add_argument(
        "--output",
        metavar="DIR",
        default=str(BENCH_FOLDER / "results"),
        help="folder that receives a subfolder per run with results.json, benchmarks.md and the charts "
        "(default bench/results, which git ignores)",
    )
    parser.add_argument(
        "--publish",
        action="store_true",
        help="also copy the page to bench/RESULTS.md and the charts to bench/charts/, which the README links",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Benchmark featurejit against its peers.")
    add_arguments(parser)
    return run(parser.parse_args(argv), " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]))


def consoles() -> tuple[Any, Any]:
    """Return the consoles for results and for messages.

    Markup is off, because messages contain brackets that rich would take for styles, such as
    the extra in "pip install -e '.[bench]'".
    """
    from rich.console import Console

    out, err = Console(markup=False), Console(stderr=True, markup=False, soft_wrap=True)
    if not out.is_terminal:
        # Output to a file or pipe keeps whole table rows, where a terminal wraps them to fit.
        out = Console(width=250, markup=False)
    return out, err


def run(args: argparse.Namespace, command: str) -> int:
    """Run the chosen suites; return 1 if a check failed or a case raised, 2 for an unknown suite, else 0."""
    out, err = consoles()
    # Thread counts must be in the environment before a peer reads them at import.
    use_threads(args.threads)
    # featurejit logs a warning per call that sets rows to null. The suites report those counts instead.
    logging.getLogger("featurejit").setLevel(logging.ERROR)
    # Warm-up calls compile the optimized kernels, so that no timed round runs a quick kernel
    # before its optimized tier is ready. The compile suite's probes run with the default.
    from featurejit.settings import settings

    settings.quick_rows = 0
    suites = discover_suites()
    if args.list:
        for suite in suites.values():
            out.print(f"{suite.name:<14} {suite.title}")
        return 0
    unknown = [name for name in args.suites if name not in suites]
    if unknown:
        err.print(f"error: unknown suite {unknown[0]!r}; the suites are: {', '.join(suites)}")
        return EXIT_USAGE
    chosen = [suites[name] for name in args.suites] if args.suites else list(suites.values())
    options = Options(
        rows=args.rows or (QUICK_ROWS if args.quick else DEFAULT_ROWS),
        repeats=args.repeats or (3 if args.quick else 7),
        threads=args.threads,
        quick=args.quick,
        python_rows=args.python_rows,
        max_call_seconds=args.max_call_seconds,
    )
    started = datetime.datetime.now(datetime.UTC)
    run_info: dict[str, Any] = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "machine": describe_machine(),
        "versions": library_versions(),
        "options": vars(options),
    }
    out.print(
        f"featurejit bench: {', '.join(suite.name for suite in chosen)}; {options.threads} thread(s), "
        f"{options.repeats} rounds, rows {', '.join(f'{rows:,}' for rows in options.rows)}"
    )
    results = run_suites(chosen, options, out, err)
    write_outputs(args, run_info, results, started, out)
    failures = [
        f"{result.name}: {row.name} ({row.status})"
        for result in results
        for row in result.rows
        if row.status in ("check failed", "error")
    ]
    if failures:
        err.print("FAILED: " + "; ".join(failures))
        return EXIT_FAILED
    return 0


def run_suites(suites: list[Suite], options: Options, out: Any, err: Any) -> list[SuiteResult]:
    """Run each suite under a progress display on stderr, and print its table when it ends."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from bench.report import print_suite

    progress = Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    bench = Bench(options, progress)
    results = []
    with progress:
        bench.task = progress.add_task("suites", total=len(suites))
        for suite in suites:
            bench.status(f"{suite.name}: starting")
            start = time.perf_counter()
            result = suite.run(bench)
            result.notes.append(f"The suite took {time.perf_counter() - start:.1f} s.")
            results.append(result)
            progress.advance(bench.task)
            progress.console.print()  # keeps the suite's table apart from the progress line
            print_suite(out, result)
    return results


def write_outputs(
    args: argparse.Namespace, run_info: dict[str, Any], results: list[SuiteResult], started: datetime.datetime, out: Any
) -> None:
    """Write the JSON, the charts and the Markdown page of the run, and publish them if asked."""
    from bench.report import draw_charts, markdown_page, write_json

    folder = Path(args.output) / started.strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    for problem in draw_charts(folder, results):
        out.print(problem)
    write_json(folder / "results.json", run_info, results)
    (folder / "benchmarks.md").write_text(markdown_page(run_info, results, "."), encoding="utf-8")
    out.print(f"\nwrote {folder / 'results.json'}, {folder / 'benchmarks.md'} and {len(list(folder.glob('*.png')))} charts")
    if args.publish:
        charts = BENCH_FOLDER / "charts"
        charts.mkdir(exist_ok=True)
        for chart in folder.glob("*.png"):
            shutil.copy(chart, charts / chart.name)
        (BENCH_FOLDER / "RESULTS.md").write_text(markdown_page(run_info, results, "charts"), encoding="utf-8")
        out.print(f"published {BENCH_FOLDER / 'RESULTS.md'} and the charts in {charts}")
