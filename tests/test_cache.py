"""The disk cache of compiled kernels, across processes: hits, invalidation, damage and contention."""

from __future__ import annotations

import datetime
import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pytest

from featurejit import cache, jit_resolver
from featurejit.runtime.state import ir_type_of, ir_type_text, python_name_of_text
from featurejit.runtime.temporal import arrow_type_of_result
from featurejit.settings import settings

HELPER = """\
from featurejit import jit_resolver

@jit_resolver
def bonus(x: int) -> int:
    return x + {increment}
"""

USER = """\
from featurejit import jit_resolver
import cache_helper

LIMIT = {limit}

@jit_resolver
def total(x: int) -> int:
    return cache_helper.bonus(x) * 2 if x < LIMIT else -1
"""

# The compile stages of a kernel that was compiled, not loaded from the cache.
COMPILED_STAGES = ["lower", "passes", "codegen", "llvm"]

# Compiles `total` for its annotated types and calls it on one row, then prints the compile
# stages of each kernel (a kernel from the cache has the single stage "cache") and the result.
PROBE = """\
import json, logging, sys
logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(message)s")
import cache_user
total = cache_user.total
total.compile()
batch_stages = list(total.explain(show=False).compile_ms)
result = total(3)
scalar_stages = list(total.explain(show=False).compile_ms)
print(json.dumps({"batch": batch_stages, "scalar": scalar_stages, "result": result}))
"""


def write_modules(folder: Path, increment: int = 1, limit: int = 10) -> None:
    (folder / "cache_helper.py").write_text(HELPER.format(increment=increment))
    (folder / "cache_user.py").write_text(USER.format(limit=limit))


def run_probe(
    folder: Path, cache_dir: Path, extra_env: dict[str, str] | None = None, probe: str = PROBE
) -> tuple[dict, str]:
    """Run a probe in a new process; return its JSON output and its stderr."""
    env = {
        **os.environ,
        "FEATUREJIT_CACHE": "1",
        "FEATUREJIT_CACHE_DIR": str(cache_dir),
        "PYTHONPATH": os.pathsep.join([str(folder), str(Path(__file__).resolve().parents[1])]),
        "PYTHONDONTWRITEBYTECODE": "1",
        **(extra_env or {}),
    }
    completed = subprocess.run(
        [sys.executable, "-c", probe], cwd=folder, env=env, capture_output=True, text=True, check=False, timeout=300
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1]), completed.stderr


def entry_files(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.rglob(f"*{cache.ENTRY_SUFFIX}"))


@pytest.fixture
def cached_module(tmp_path: Path) -> tuple[Path, Path]:
    """Return a folder with the probe's modules and an empty cache folder."""
    folder = tmp_path / "modules"
    folder.mkdir()
    write_modules(folder)
    return folder, tmp_path / "cache"


# --------------------------------------------------------------------------------------
# Across processes
# --------------------------------------------------------------------------------------


def test_new_process_loads_from_cache(cached_module: tuple[Path, Path]) -> None:
    folder, cache_dir = cached_module
    first, _ = run_probe(folder, cache_dir)
    assert first["batch"] == COMPILED_STAGES
    assert first["result"] == 8
    assert len(entry_files(cache_dir)) == 2  # the batch kernel and the scalar kernel

    second, _ = run_probe(folder, cache_dir)
    assert second["batch"] == ["cache"]
    assert second["scalar"] == ["cache"]
    assert second["result"] == 8


MOVED = """\
import datetime
from featurejit import jit_resolver

@jit_resolver
def moved(t: datetime.datetime) -> datetime.datetime:
    return t + datetime.timedelta(seconds=1)
"""

# Calls resolvers as a restarted service does: a batch call, a scalar call, and a batch call
# whose datetime result has its zone fixed by the kernel. Then it prints the results, whether
# every kernel came from the disk cache, and which xDSL and compiler modules the calls imported.
HIT_PROBE = """\
import datetime, json, sys
import pyarrow as pa
import cache_moved, cache_user
total = cache_user.total
batch = total(pa.array([3, 20])).to_pylist()
scalar = total(3)
moved = cache_moved.moved(pa.array([datetime.datetime(2020, 5, 1, 3)], pa.timestamp("s", tz="Asia/Kolkata")))
explained = str(cache_moved.moved.explain(show=False))
compiler_modules = ("xdsl", "featurejit.compiler", "featurejit.frontend.lower", "featurejit.passes")
imported = sorted(name for name in sys.modules if name.startswith(compiler_modules))
states = [total.state, cache_moved.moved.state]
kernels = [kernel for state in states for kernel in (*state.batch_kernels.values(), *state.scalar_kernels.values())]
print(json.dumps({
    "batch": batch,
    "scalar": scalar,
    "moved": [str(moved.type), moved.to_pylist()[0].isoformat()],
    "cached": [kernel.cached for kernel in kernels],
    "imported": imported,
    "explained": explained,
}))
"""


def test_cache_hit_skips_compiler_imports(cached_module: tuple[Path, Path]) -> None:
    folder, cache_dir = cached_module
    (folder / "cache_moved.py").write_text(MOVED)
    # Every kernel is compiled optimized and stored at once, whatever tier the tests run.
    environment = {"FEATUREJIT_QUICK_ROWS": "0"}
    first, _ = run_probe(folder, cache_dir, environment, probe=HIT_PROBE)
    # explain() adds the kernel of the default layouts (naive datetimes), which it describes.
    assert first["cached"] == [False, False, False, False]

    second, _ = run_probe(folder, cache_dir, environment, probe=HIT_PROBE)
    assert second["cached"] == [True, True, True, True]
    assert second["imported"] == []
    assert second["batch"] == [8, -1]
    assert second["scalar"] == 8
    assert second["moved"] == ["timestamp[us, tz=Asia/Kolkata]", "2020-05-01T08:30:01+05:30"]
    assert "IR type naive datetime" in second["explained"], second["explained"]


def test_edited_helper_in_other_module_recompiles(cached_module: tuple[Path, Path]) -> None:
    folder, cache_dir = cached_module
    run_probe(folder, cache_dir)
    write_modules(folder, increment=100)

    edited, _ = run_probe(folder, cache_dir)
    assert edited["batch"] == COMPILED_STAGES
    assert edited["result"] == 206


def test_changed_constant_makes_new_variant(cached_module: tuple[Path, Path]) -> None:
    folder, cache_dir = cached_module
    run_probe(folder, cache_dir)
    write_modules(folder, limit=2)

    changed, _ = run_probe(folder, cache_dir)
    assert changed["batch"] == COMPILED_STAGES
    assert changed["result"] == -1
    assert len(entry_files(cache_dir)) == 4

    write_modules(folder, limit=10)
    restored, _ = run_probe(folder, cache_dir)
    assert restored["batch"] == ["cache"]
    assert restored["result"] == 8


FUSED_USER = """\
from featurejit import jit_resolver
import cache_helper

SCALE = {scale}

@jit_resolver
def doubled(x: int) -> int:
    return cache_helper.bonus(x) * 2

@jit_resolver(on_error="null")
def scaled(doubled: int, y: float) -> float:
    return doubled * SCALE / y
"""

# Fuses the two resolvers of FUSED_USER and runs them on a small table, then prints the
# compile stages of the fused kernel and the result.
FUSED_PROBE = """\
import json
import pyarrow as pa
import featurejit as fj
import cache_fused
fused = fj.fuse(cache_fused.doubled, cache_fused.scaled, outputs={outputs})
table = fused(pa.table({{"x": [1, 2], "y": [2.0, 0.0]}}))
kernel = fused.state.last_kernel
print(json.dumps({{"stages": list(kernel.stage_seconds), "result": table.to_pydict()}}))
"""


def run_fused_probe(folder: Path, cache_dir: Path, scale: float = 1.5, outputs: list[str] | None = None) -> dict:
    """Write the fused module with `scale`, run the fused probe in a new process, and return its output."""
    (folder / "cache_fused.py").write_text(FUSED_USER.format(scale=scale))
    env = {
        **os.environ,
        "FEATUREJIT_CACHE": "1",
        "FEATUREJIT_CACHE_DIR": str(cache_dir),
        "PYTHONPATH": os.pathsep.join([str(folder), str(Path(__file__).resolve().parents[1])]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    probe = FUSED_PROBE.format(outputs=repr(outputs))
    completed = subprocess.run(
        [sys.executable, "-c", probe], cwd=folder, env=env, capture_output=True, text=True, check=False, timeout=300
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_fused_kernel_loads_from_cache(cached_module: tuple[Path, Path]) -> None:
    folder, cache_dir = cached_module
    first = run_fused_probe(folder, cache_dir)
    assert first["stages"] == COMPILED_STAGES
    assert first["result"] == {"doubled": [4, 6], "scaled": [3.0, None]}

    second = run_fused_probe(folder, cache_dir)
    assert second["stages"] == ["cache"]
    assert second["result"] == first["result"]


def test_fused_kernel_sees_edits(cached_module: tuple[Path, Path]) -> None:
    folder, cache_dir = cached_module
    run_fused_probe(folder, cache_dir)

    rescaled = run_fused_probe(folder, cache_dir, scale=0.5)
    assert rescaled["stages"] == COMPILED_STAGES
    assert rescaled["result"]["scaled"] == [1.0, None]

    write_modules(folder, increment=100)
    edited = run_fused_probe(folder, cache_dir, scale=0.5)
    assert edited["stages"] == COMPILED_STAGES
    assert edited["result"]["doubled"] == [202, 204]

    only_scaled = run_fused_probe(folder, cache_dir, scale=0.5, outputs=["scaled"])
    assert only_scaled["stages"] == COMPILED_STAGES
    assert only_scaled["result"] == {"scaled": [50.5, None]}


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "empty", "garbage"])
def test_damaged_entry_is_logged_and_replaced(cached_module: tuple[Path, Path], damage: str) -> None:
    folder, cache_dir = cached_module
    run_probe(folder, cache_dir)
    entries = entry_files(cache_dir)
    data = {path: path.read_bytes() for path in entries}
    for path, contents in data.items():
        if damage == "truncate":
            path.write_bytes(contents[: len(contents) // 2])
        elif damage == "flip_byte":
            path.write_bytes(contents[:-10] + bytes([contents[-10] ^ 0xFF]) + contents[-9:])
        elif damage == "empty":
            path.write_bytes(b"")
        else:
            path.write_bytes(b"not a kernel\n" * 40)

    recompiled, errors = run_probe(folder, cache_dir)
    assert recompiled["batch"] == COMPILED_STAGES
    assert recompiled["result"] == 8
    assert errors.count("kernel cache: ignoring") == 2, errors
    assert entry_files(cache_dir) == entries
    for path in entries:
        cache.decode_entry(path.read_bytes())  # raises CorruptEntry if still damaged

    again, errors = run_probe(folder, cache_dir)
    assert again["batch"] == ["cache"]
    assert "kernel cache" not in errors


def test_concurrent_processes_leave_one_entry(cached_module: tuple[Path, Path]) -> None:
    folder, cache_dir = cached_module
    env = {
        **os.environ,
        "FEATUREJIT_CACHE": "1",
        "FEATUREJIT_CACHE_DIR": str(cache_dir),
        "PYTHONPATH": os.pathsep.join([str(folder), str(Path(__file__).resolve().parents[1])]),
    }
    processes = [
        subprocess.Popen([sys.executable, "-c", PROBE], cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    for process in processes:
        output, errors = process.communicate(timeout=300)
        assert process.returncode == 0, errors.decode()
        assert json.loads(output.decode().splitlines()[-1])["result"] == 8
    entries = entry_files(cache_dir)
    assert len(entries) == 2
    for path in entries:
        cache.decode_entry(path.read_bytes())
    leftovers = [path for path in cache_dir.rglob("*") if path.name.startswith(cache.TEMPORARY_PREFIX)]
    assert leftovers == []


def test_unwritable_cache_warns_once(cached_module: tuple[Path, Path], tmp_path: Path) -> None:
    folder, _ = cached_module
    blocker = tmp_path / "a_file"
    blocker.write_text("the cache folder would be below this file\n")
    result, errors = run_probe(folder, blocker / "cache")
    assert result["result"] == 8
    assert result["batch"] == COMPILED_STAGES
    assert errors.count("kernel cache: cannot write") == 1, errors


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can write to read-only folders")
def test_read_only_cache_serves_hits(cached_module: tuple[Path, Path]) -> None:
    folder, cache_dir = cached_module
    run_probe(folder, cache_dir)
    folders = [path for path in [cache_dir, *cache_dir.rglob("*")] if path.is_dir()]
    for path in folders:
        path.chmod(0o555)
    try:
        second, errors = run_probe(folder, cache_dir)
        write_modules(folder, increment=5)
        third, more_errors = run_probe(folder, cache_dir)
    finally:
        for path in folders:
            path.chmod(0o755)
    assert second["batch"] == ["cache"]
    assert "kernel cache" not in errors
    assert third["result"] == 16
    assert more_errors.count("kernel cache: cannot write") == 1


def test_cache_off_writes_nothing(cached_module: tuple[Path, Path]) -> None:
    folder, cache_dir = cached_module
    result, _ = run_probe(folder, cache_dir, {"FEATUREJIT_CACHE": "0"})
    assert result["result"] == 8
    assert not cache_dir.exists()


# --------------------------------------------------------------------------------------
# In this process
# --------------------------------------------------------------------------------------


@pytest.fixture
def cache_on(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Turn the disk cache on with an empty folder for one test."""
    settings.cache_enabled, settings.cache_dir = True, tmp_path / "cache"
    try:
        yield tmp_path / "cache"
    finally:
        settings.cache_enabled = False


def run_two_new_resolvers(caplog: pytest.LogCaptureFixture) -> None:
    """Compile and call two resolvers that no earlier call compiled, capturing featurejit's warnings."""

    @jit_resolver
    def first(x: float) -> float:
        return x * 2

    @jit_resolver
    def second(x: float) -> float:
        return x * 3

    with caplog.at_level(logging.WARNING, logger="featurejit"):
        assert first(pa.array([1.0])).to_pylist() == [2.0]
        assert second(pa.array([1.0])).to_pylist() == [3.0]


def test_full_disk_warns_once(cache_on: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache.os, "replace", disk_full)
    cache_object = cache.get_cache()
    assert cache_object is not None
    cache_object.writable = True

    run_two_new_resolvers(caplog)
    warnings = [record for record in caplog.records if "cannot write" in record.getMessage()]
    assert len(warnings) == 1
    assert "No space left on device" in warnings[0].getMessage()
    assert [path for path in cache_on.rglob("*") if path.is_file()] == []


def test_entry_blocked_by_folder_skips_only_it(
    cache_on: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cache_object = cache.get_cache()
    assert cache_object is not None
    cache_object.writable = True
    real_replace = os.replace
    blocked = []

    def replace_once_into_folder(source: str, target: Path) -> None:
        if not blocked:  # the first entry's path is a folder, as a user's mkdir might leave it
            blocked.append(Path(target))
            Path(target).mkdir(parents=True)
        real_replace(source, target)

    monkeypatch.setattr(cache.os, "replace", replace_once_into_folder)

    run_two_new_resolvers(caplog)
    warnings = [record.getMessage() for record in caplog.records if "kernel cache: cannot write" in record.getMessage()]
    assert len(warnings) == 1
    assert str(blocked[0]) in warnings[0]
    assert "that kernel is not stored" in warnings[0]
    assert cache_object.writable
    assert [path for path in cache_on.rglob("*.fjk") if path.is_file()], "the second kernel is stored"


def test_cache_command_rejects_folder_inside_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from featurejit.cli import main

    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    saved = settings.cache_dir
    settings.cache_dir = blocker / "sub"
    try:
        assert main(["cache", "info"]) == 2
    finally:
        settings.cache_dir = saved
    assert f"is inside {blocker}, which is a file, not a folder" in capsys.readouterr().err


def test_identical_resolvers_share_an_entry(cache_on: Path) -> None:
    def make(factor: float):  # type: ignore[no-untyped-def]
        @jit_resolver
        def times(x: float) -> float:
            return x * factor

        return times

    two, also_two, three = make(2.0).compile(), make(2.0).compile(), make(3.0).compile()
    assert list(two.explain(show=False).compile_ms) == COMPILED_STAGES
    assert list(also_two.explain(show=False).compile_ms) == ["cache"]
    assert list(three.explain(show=False).compile_ms) == COMPILED_STAGES
    assert two(pa.array([1.5])).to_pylist() == [3.0]
    assert also_two(pa.array([1.5])).to_pylist() == [3.0]
    assert three(pa.array([1.5])).to_pylist() == [4.5]
    assert len(entry_files(cache_on)) == 2


def test_dump_of_cached_kernel(cache_on: Path) -> None:
    def make():  # type: ignore[no-untyped-def]
        @jit_resolver
        def halve(x: float) -> float:
            return x / 2

        return halve

    compiled, loaded = make(), make()
    compiled.compile()
    loaded.compile()
    assert list(loaded.explain(show=False).compile_ms) == ["cache"]
    for stage in ("ir", "optimized", "llvm", "asm"):
        assert loaded.dump(stage) == compiled.dump(stage)


def test_clear_removes_only_cache_files(cache_on: Path) -> None:
    @jit_resolver
    def plus_one(x: int) -> int:
        return x + 1

    assert plus_one(pa.array([1])).to_pylist() == [2]
    other = cache_on / "notes.txt"
    other.write_text("not the cache's\n")
    kernel_cache = cache.get_cache()
    assert kernel_cache is not None
    removed, removed_bytes = kernel_cache.clear()
    assert removed == 1
    assert removed_bytes > 0
    assert entry_files(cache_on) == []
    assert other.read_text() == "not the cache's\n"


def stored_entry(cache_on: Path) -> tuple[cache.KernelCache, Path]:
    kernel_cache = cache.get_cache()
    assert kernel_cache is not None

    @jit_resolver
    def doubled(x: float) -> float:
        return x * 2

    assert doubled(pa.array([1.5])).to_pylist() == [3.0]
    (path,) = entry_files(cache_on)
    return kernel_cache, path


def test_entry_in_another_folder_is_ignored(cache_on: Path, caplog: pytest.LogCaptureFixture) -> None:
    kernel_cache, path = stored_entry(cache_on)
    assert kernel_cache.read(path, path.parent.name) is not None
    with caplog.at_level(logging.WARNING, logger="featurejit"):
        assert kernel_cache.read(path, "0" * 64) is None
    assert "belongs to another kernel's folder" in caplog.text
    assert not path.exists()


def test_entry_without_code_texts_is_ignored(cache_on: Path, caplog: pytest.LogCaptureFixture) -> None:
    kernel_cache, path = stored_entry(cache_on)
    entry = cache.decode_entry(path.read_bytes())
    del entry.metadata["texts"]
    path.write_bytes(cache.encode_entry(entry))  # a valid checksum over incomplete metadata
    with caplog.at_level(logging.WARNING, logger="featurejit"):
        assert kernel_cache.read(path, path.parent.name) is None
    assert "its metadata has no texts" in caplog.text


def test_vanishing_folders_do_not_stop_eviction(cache_on: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kernel_cache, path = stored_entry(cache_on)
    real_scandir = os.scandir

    def scandir_of_deleted_folder(folder: str) -> object:
        if Path(folder) == path.parent:  # another process removed it after the listing of its parent
            raise FileNotFoundError(2, "No such file or directory", folder)
        return real_scandir(folder)

    monkeypatch.setattr(cache.os, "scandir", scandir_of_deleted_folder)
    kernel_cache.evict()
    assert kernel_cache.temporary_files() == []


def test_failed_store_keeps_kernel_compiled(
    cache_on: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def deleted_meanwhile(*args: object) -> None:
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr(cache.KernelCache, "store", deleted_meanwhile)

    @jit_resolver(mode="require")
    def tripled(x: float) -> float:
        return x * 3

    with caplog.at_level(logging.WARNING, logger="featurejit"):
        assert tripled(pa.array([1.5])).to_pylist() == [4.5]
    assert tripled.explain(show=False).native
    assert "the kernel stays compiled but is not cached" in caplog.text


def test_join_kernel_loads_from_cache(cache_on: Path, caplog: pytest.LogCaptureFixture) -> None:
    from featurejit.joins.compiled import KERNELS

    with caplog.at_level(logging.DEBUG, logger="featurejit"):
        compiled = KERNELS.load("key_range")
        (path,) = entry_files(cache_on)
        loaded = KERNELS.load("key_range")
    assert loaded == compiled  # the engine maps a symbol it loaded before to the same address
    assert "kernel cache: loaded join kernel key_range " in caplog.text
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert path.exists()


def test_file_at_entry_folder_skips_only_that_entry(
    cache_on: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    kernel_cache = cache.get_cache()
    assert kernel_cache is not None
    kernel_cache.writable = True
    real_folder = cache.KernelCache.folder
    blocked: list[Path] = []

    def folder_with_file_once(self: cache.KernelCache, lookup_key: str) -> Path:
        folder = real_folder(self, lookup_key)
        if not blocked:  # the first entry's folder path is a file, as a stray copy might leave it
            blocked.append(folder)
            folder.parent.mkdir(parents=True, exist_ok=True)
            folder.write_text("not a folder")
        return folder

    monkeypatch.setattr(cache.KernelCache, "folder", folder_with_file_once)

    run_two_new_resolvers(caplog)
    assert kernel_cache.writable
    assert "that kernel is not stored" in caplog.text
    assert len(entry_files(cache_on)) == 1, "the second kernel is stored"


def test_dangling_link_as_cache_folder_warns_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    link = tmp_path / "cache"
    link.symlink_to(tmp_path / "unmounted")
    settings.cache_enabled, settings.cache_dir = True, link
    try:
        run_two_new_resolvers(caplog)
    finally:
        settings.cache_enabled = False
    warnings = [record.getMessage() for record in caplog.records if "kernel cache" in record.getMessage()]
    assert len(warnings) == 1, warnings
    assert f"{link} is a symbolic link to {tmp_path / 'unmounted'}, which does not exist" in warnings[0]


def test_eviction_keeps_size_below_maximum(cache_on: Path) -> None:
    kernel_cache = cache.get_cache()
    assert kernel_cache is not None
    saved = settings.cache_max_bytes
    try:
        for step in range(1, 5):
            resolver = jit_resolver(make_adder(step))
            assert resolver(pa.array([1])).to_pylist() == [1 + step]
            if step == 1:
                settings.cache_max_bytes = int(entry_files(cache_on)[0].stat().st_size * 2.5)
        entries = entry_files(cache_on)
        assert len(entries) == 2
        assert sum(path.stat().st_size for path in entries) <= settings.cache_max_bytes
    finally:
        settings.cache_max_bytes = saved


def make_adder(step: int):  # type: ignore[no-untyped-def]
    def adder(x: int) -> int:
        return x + step

    return adder


# --------------------------------------------------------------------------------------
# Units
# --------------------------------------------------------------------------------------


def test_decode_rejects_other_files() -> None:
    entry = cache.CacheEntry("d" * 64, ["f"], b"\x7fELF", {"manifest": {}})
    data = cache.encode_entry(entry)
    assert cache.decode_entry(data).object_code == b"\x7fELF"
    for damaged in (b"", data[:10], data[:-1], b"XXXX" + data[4:], data[:-1] + b"\x00"):
        with pytest.raises(cache.CorruptEntry):
            cache.decode_entry(damaged)


def test_values_are_described_stably() -> None:
    import math

    assert cache.describe_value(-0.0) != cache.describe_value(0.0)
    assert cache.describe_value(1) != cache.describe_value(True)
    assert cache.describe_value(1) != cache.describe_value(1.0)
    assert cache.describe_value(math.nan) == cache.describe_value(float("nan"))
    assert cache.describe_value(math) == "module:math"
    assert cache.describe_value(math.sqrt) == "builtin:math.sqrt"
    assert cache.describe_value(abs) == "builtin:builtins.abs"
    assert cache.describe_value(object()) is None


def test_source_text_spans_the_definition() -> None:
    text = cache.source_text(make_adder)
    assert text.startswith("def make_adder(step: int)")
    assert text.rstrip().endswith("return adder")
    assert textwrap.dedent(cache.source_text(make_adder(1))).startswith("def adder(x: int) -> int:")


def test_cache_command_reports_and_clears(cache_on: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from featurejit.cli import main

    @jit_resolver
    def minus_one(x: int) -> int:
        return x - 1

    assert minus_one(pa.array([1])).to_pylist() == [0]
    assert main(["cache", "info"]) == 0
    output = capsys.readouterr().out
    assert f"folder: {cache_on}" in output
    assert "entries: 1 of format version 1" in output
    assert main(["cache", "clear"]) == 0
    assert "removed 1 entry" in capsys.readouterr().out
    assert entry_files(cache_on) == []
    assert main(["cache", "info"]) == 0
    assert "entries: 0" in capsys.readouterr().out
    assert main(["cache", "compact"]) == 2


def test_cache_info_says_when_folder_cannot_be_written(
    cache_on: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    from featurejit.cli import main

    cache_on.mkdir(parents=True, exist_ok=True)
    assert main(["cache", "info"]) == 0
    assert "cache: on\n" in capsys.readouterr().out

    def fail_to_create(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", fail_to_create)
    assert main(["cache", "info"]) == 0
    assert "cache: on, but the folder cannot be written (Permission denied)" in capsys.readouterr().out


def test_cache_command_rejects_a_file_as_folder(cache_on: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from featurejit.cli import main

    cache_on.write_text("not a folder")
    for action in ("info", "clear"):
        assert main(["cache", action]) == 2
        assert "is a file, not a folder; set FEATUREJIT_CACHE_DIR to a folder" in capsys.readouterr().err
    assert cache_on.read_text() == "not a folder"


def test_known_types_print_as_keyed() -> None:
    for text, type_ in cache.known_types().items():
        assert str(type_) == text
        assert cache.parse_type(text) == type_


@pytest.mark.parametrize("python_type", [bool, int, float, str, datetime.datetime, datetime.date, datetime.timedelta])
@pytest.mark.parametrize("optional", [False, True])
def test_type_texts_print_as_ir_types(python_type: type, optional: bool) -> None:
    zones = ["", "UTC", "+05:30", "America/New_York"] if python_type is datetime.datetime else [""]
    for zone in zones:
        assert ir_type_text(python_type, optional, zone) == str(ir_type_of(python_type, optional, zone))


@pytest.mark.parametrize("optional", [False, True])
def test_arrow_type_of_printed_result(optional: bool) -> None:
    for zone in ["", "UTC", "+05:30", "America/New_York"]:
        printed = str(ir_type_of(datetime.datetime, optional, zone))
        assert arrow_type_of_result(printed) == pa.timestamp("us", tz=zone or None)
    for python_type in (int, float, bool, str, datetime.date, datetime.timedelta):
        assert arrow_type_of_result(str(ir_type_of(python_type, optional))) is None


def test_python_names_of_printed_types() -> None:
    from featurejit.ir.dialect import dyn, none_type, python_name

    types = [dyn, none_type, *cache.known_types().values()]
    for python_type in (bool, int, float, str, datetime.date, datetime.timedelta, datetime.datetime):
        for optional in (False, True):
            for zone in ["", "UTC", "America/New_York"] if python_type is datetime.datetime else [""]:
                types.append(ir_type_of(python_type, optional, zone))
    for type_ in types:
        assert python_name_of_text(str(type_)) == python_name(type_), str(type_)
