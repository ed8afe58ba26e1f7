"""Import and compile latency: cold, warm in one process, and from the disk cache in a new process.

Every sample comes from a fresh process that runs bench/probes/compile.py on the small
resolvers of bench/probes/small_resolvers.py. Cold runs have the disk cache off. Cache runs
use a temporary cache folder that one process filled first.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.harness import Bench, Row, Suite, SuiteResult, Target

REPOSITORY = Path(__file__).resolve().parents[2]


def probe_environment() -> dict[str, str]:
    """Return the environment of the probes: this one, with the repository on the path and Python's bytecode cache on.

    An installed package has its bytecode compiled by pip, so imports skip compiling the
    source. A PYTHONDONTWRITEBYTECODE of this environment would turn the cache off, and every
    lazy import would compile its module first.
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")]))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def compile_bytecode() -> str:
    """Fill the bytecode cache of featurejit and the probes, as pip does when it installs a package.

    Return "" on success, else why it failed; modules without a cache compile at each import.
    The probes import featurejit from the repository first, and this process may have imported
    an installed copy, so both are compiled.
    """
    import featurejit

    folders = sorted({str(REPOSITORY / "featurejit"), str(Path(featurejit.__file__).parent), str(REPOSITORY / "bench")})
    command = [sys.executable, "-m", "compileall", "-q", *folders]
    completed = subprocess.run(command, capture_output=True, text=True, env=probe_environment(), cwd=REPOSITORY, check=False, timeout=600)
    if completed.returncode != 0:
        return (completed.stdout + completed.stderr).strip()[-500:] or f"compileall exited with {completed.returncode}"
    return ""


def run_probe(cache_dir: Path | None, load_compiler: bool) -> dict[str, Any]:
    """Run the compile probe in a fresh interpreter; raise RuntimeError with its stderr if it fails."""
    env = probe_environment()
    if cache_dir is None:
        env["FEATUREJIT_CACHE"] = "0"
    else:
        env["FEATUREJIT_CACHE"] = "1"
        env["FEATUREJIT_CACHE_DIR"] = str(cache_dir)
    command = [sys.executable, "-m", "bench.probes.compile", *(["--load-compiler"] if load_compiler else [])]
    completed = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPOSITORY, check=False, timeout=600)
    if completed.returncode != 0:
        raise RuntimeError(f"the compile probe exited with {completed.returncode}: {completed.stderr.strip()[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


class CompileSuite(Suite):
    name = "compile"
    title = "Import and compile latency"
    description = (
        "`import featurejit`, the compiler's lazy imports and JIT engine setup, the first call of a small resolver "
        "(speed_mph on one-row arrays, which compiles a quick kernel, the optimized one following in the "
        "background), compile() of four others, and loads from the disk cache in a new process. "
        "Every sample is one fresh process."
    )
    kind = "latency"
    order = 30

    def run(self, bench: Bench) -> SuiteResult:
        runs = 1 if bench.options.quick else 3
        samples: dict[str, list[float]] = {}
        stages: dict[str, list[dict[str, float]]] = {}

        def add(name: str, value: float) -> None:
            samples.setdefault(name, []).append(value)

        try:
            bytecode_failure = compile_bytecode()
            with tempfile.TemporaryDirectory(prefix="featurejit-bench-cache-") as folder:
                cache_dir = Path(folder)
                for run in range(runs):
                    bench.status(f"{self.name}: cold process {run + 1} of {runs}")
                    loaded = run_probe(None, load_compiler=True)
                    add(IMPORT, loaded["import_ms"])
                    add(COMPILER_IMPORT, loaded["compiler_import_ms"])
                    add(ENGINE, loaded["engine_ms"])
                    add(FIRST, loaded["first_compile_ms"])
                    stages.setdefault(FIRST, []).append(loaded["first_stages_ms"])
                    add(OPTIMIZED, loaded["optimized_ready_ms"])
                    for warm in loaded["warm"]:
                        add(WARM, warm["ms"])
                        stages.setdefault(WARM, []).append(warm["stages_ms"])
                    add(SCALAR, loaded["scalar_compile_ms"])
                    stages.setdefault(SCALAR, []).append(loaded["scalar_stages_ms"])
                    cold = run_probe(None, load_compiler=False)
                    add(IMPORT, cold["import_ms"])
                    add(COLD_USER, cold["first_compile_ms"])
                bench.status(f"{self.name}: filling the disk cache")
                run_probe(cache_dir, load_compiler=False)
                for run in range(runs):
                    bench.status(f"{self.name}: process {run + 1} of {runs} with the disk cache")
                    cached = run_probe(cache_dir, load_compiler=True)
                    add(CACHE_LOAD, cached["first_stages_ms"].get("cache", float("nan")))
                    add(CACHE_LOAD_SCALAR, cached["scalar_stages_ms"].get("cache", float("nan")))
                    stages.setdefault(CACHE_LOAD, []).append(cached["first_stages_ms"])
                    user = run_probe(cache_dir, load_compiler=False)
                    add(CACHE_USER, user["first_compile_ms"])
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            row = Row(self.name, "", "compile probe", "featurejit", 1, 1, 1, "error", str(error))
            return self.result(rows=[row], notes=[f"The probe failed: {error}"])

        rows = [
            Row(self.name, "", name, "featurejit", 1, 1, 1, "ok", checks.get(name, ""), samples_ms=values)
            for name, values in samples.items()
        ]
        return self.result(rows=rows, targets=targets(samples), notes=notes(stages, runs, bytecode_failure))


IMPORT = "import featurejit"
COMPILER_IMPORT = "lazy import of the compiler (xDSL, llvmlite, pyarrow, numpy)"
ENGINE = "JIT engine setup"
FIRST = "first call of speed_mph, one row, compiler loaded: quick kernel compiled and run"
OPTIMIZED = "its optimized kernel ready, from the start of that call"
WARM = "compile() of a small resolver, optimized kernel, same process"
SCALAR = "scalar kernel compile on the first scalar call"
COLD_USER = "first call in a new process, lazy imports included"
CACHE_LOAD = "load of speed_mph from the disk cache, new process"
CACHE_LOAD_SCALAR = "load of its scalar kernel from the disk cache"
CACHE_USER = "first call in a new process, disk cache, lazy imports included"

checks = {
    FIRST: "batch kernel; stages in the notes",
    OPTIMIZED: "compiled on a background thread while the call returns",
    WARM: "branchy, is_delayed, clock_minutes, log_distance",
    CACHE_LOAD: "the 'cache' stage of explain().compile_ms",
}


def median_stages(runs: list[dict[str, float]]) -> str:
    names = list(dict.fromkeys(name for run in runs for name in run))
    return ", ".join(f"{name} {statistics.median(run.get(name, 0.0) for run in runs):.1f} ms" for name in names)


def targets(samples: dict[str, list[float]]) -> list[Target]:
    def check(name: str, limit: float, description: str) -> Target:
        values = samples.get(name)
        if not values:
            return Target(description, "not measured", None)
        median = statistics.median(values)
        return Target(description, f"{median:.2f} ms (median of {len(values)})", median < limit)

    return [
        check(IMPORT, 150, "`import featurejit` under 150 ms"),
        check(FIRST, 30, "a small resolver compiles in under 30 ms once the package is imported (speed_mph, quick kernel)"),
        check(WARM, 30, "a small resolver compiles in under 30 ms (compile(), optimized kernel, four other resolvers)"),
        check(CACHE_LOAD, 2, "a load from the disk cache in a new process under 2 ms"),
    ]


def notes(stages: dict[str, list[dict[str, float]]], runs: int, bytecode_failure: str) -> list[str]:
    lines = [f"{runs} process(es) per kind of run; rows are medians over processes (and over resolvers for warm compiles)."]
    for name, runs_stages in stages.items():
        lines.append(f"Stages of '{name}' (median): {median_stages(runs_stages)}.")
    lines += [
        "The llvm stage optimizes the LLVM IR with LLVM's O2 pipeline and loop vectorization, emits object code for the host "
        "CPU and loads it into the engine. The quick llvm stage skips the optimization and uses LLVM's fast "
        "instruction selector; its kernel runs two to four times slower. A call of fewer rows than "
        "FEATUREJIT_QUICK_ROWS (1,000,000) runs it while the optimized llvm stage runs on a background thread; "
        "larger calls and compile() wait for the optimized kernel.",
        "The load from the disk cache includes computing the key, reading and verifying the entry, checking the "
        "captured values and inlined resolvers, and loading the object code. Creating the JIT engine is the "
        "separate engine setup row, which includes MCJIT's first finalize in the process (about 1.2 ms).",
        "A first call in a new process that compiles also imports the compiler (xDSL and featurejit's frontend, "
        "passes and code generator), which takes most of its time. A hit in the disk cache imports none of them.",
        "The probes run with Python's bytecode cache, which the suite fills first with compileall, as pip fills it "
        "when it installs a package. Without it every lazy import compiles its module's source first.",
    ]
    if bytecode_failure:
        lines.append(f"Filling the bytecode cache failed, so some imports compiled their source: {bytecode_failure}")
    return lines


SUITE = CompileSuite()
