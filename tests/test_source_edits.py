"""A resolver's file edited on disk after the import: compiles use the text Python imported."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pyarrow as pa
import pytest

SOURCE = '''
import featurejit as fj


@fj.jit_resolver
def helper(x: int) -> int:
    return x + 1


@fj.jit_resolver
def doubled(x: int) -> int:
    return helper(x) * 2
'''


def import_file(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("cache", ["off", "on"])
def test_edit_after_import_keeps_imported_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: str) -> None:
    if cache == "off":
        monkeypatch.setenv("FEATUREJIT_CACHE", "0")
    else:
        monkeypatch.setenv("FEATUREJIT_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / f"edited_{cache}.py"
    path.write_text(SOURCE)
    module = import_file(path, f"featurejit_test_edited_{cache}")
    try:
        assert module.doubled(pa.array([1, 2], pa.int64())).to_pylist() == [4, 6]
        assert module.doubled.explain(show=False).native
        # An editor saves a new version; the process keeps running the imported one.
        path.write_text(SOURCE.replace("x + 1", "x + 100").replace("* 2", "* 3"))
        assert module.doubled(pa.array([1, 2], pa.int32())).to_pylist() == [4, 6]
        assert module.doubled(5) == module.doubled.function(5) == 12
    finally:
        sys.modules.pop(f"featurejit_test_edited_{cache}", None)
