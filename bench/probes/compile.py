"""Time featurejit's import and compiles in this fresh process, and print them as JSON.

    python -m bench.probes.compile [--load-compiler]

With --load-compiler the probe imports the compiler and creates the JIT engine before the
first compile, and times each step on its own. Without, the first call includes them, as it
does for a user. The disk cache is used as the environment sets it.

The first call passes one-row arrays, so it compiles a quick kernel and the optimized one
follows in the background; the probe times both. The other resolvers are compiled with
compile(), which builds the optimized kernel at once.
"""

import time

started = time.perf_counter()
import featurejit  # noqa: E402, F401 - the import is what this line times

imported = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402


def stages(resolver: object) -> dict[str, float]:
    return dict(resolver.explain(show=False).compile_ms)  # type: ignore[attr-defined]


def main() -> None:
    report: dict[str, object] = {"import_ms": (imported - started) * 1000}
    if "--load-compiler" in sys.argv:
        start = time.perf_counter()
        from featurejit import compiler  # noqa: F401 - the compiler's modules: xDSL, llvmlite
        from featurejit.runtime import state  # noqa: F401 - the runtime: pyarrow, numpy

        loaded = time.perf_counter()
        from featurejit.codegen.engine import get_engine

        get_engine()
        report["compiler_import_ms"] = (loaded - start) * 1000
        report["engine_ms"] = (time.perf_counter() - loaded) * 1000

    import pyarrow as pa

    from bench.probes import small_resolvers

    distance, air_time = pa.array([1400]), pa.array([227])
    start = time.perf_counter()
    small_resolvers.speed_mph(distance, air_time)
    report["first_compile_ms"] = (time.perf_counter() - start) * 1000
    report["first_stages_ms"] = stages(small_resolvers.speed_mph)
    small_resolvers.speed_mph.compile()  # waits for the optimized kernel
    report["optimized_ready_ms"] = (time.perf_counter() - start) * 1000
    report["optimized_stages_ms"] = stages(small_resolvers.speed_mph)

    warm = []
    for resolver in small_resolvers.WARM:
        start = time.perf_counter()
        resolver.compile()
        warm.append({"name": resolver.name, "ms": (time.perf_counter() - start) * 1000, "stages_ms": stages(resolver)})
    report["warm"] = warm

    start = time.perf_counter()
    small_resolvers.speed_mph(1400, 227)
    report["scalar_compile_ms"] = (time.perf_counter() - start) * 1000
    report["scalar_stages_ms"] = stages(small_resolvers.speed_mph)
    report["native"] = all(resolver.explain(show=False).native for resolver in [small_resolvers.speed_mph, *small_resolvers.WARM])
    print(json.dumps(report))


main()
