"""The disk cache of compiled kernels: object code keyed by everything that decides it.

An entry is found in two steps, so that a hit runs neither the frontend nor LLVM's optimizer
and code generator:

1. The lookup key hashes what is known before compiling. That is the resolver's module,
   name and source text, the parameter types and Arrow layouts, the output type and the
   kind of entry. It also covers the featurejit version, a fingerprint of its compiler's
   files, the LLVM version, the target triple, the CPU name and features, and the
   interpreter's version and ABI. The key names a folder.
2. Each file in that folder is one variant, named by its content digest: the lookup key,
   the optimized IR and the dependency manifest. The manifest lists each captured name with
   a description of its value, and each inlined resolver with a hash of its source text and
   its default values. A variant is used only if every dependency still describes the same.

Entries are written to a temporary file and renamed into place, so readers see a whole
entry or none, and processes compiling the same kernel at once leave one good entry. Each
entry carries a SHA-256 of its contents: a truncated or corrupt one is logged, deleted and
compiled again. If the folder cannot be written (read only, disk full), the process logs one
warning and keeps compiling in memory.

Entry layout: the header (magic, format version, SHA-256 of the rest, metadata length),
the metadata as JSON, then the object code.
"""

from __future__ import annotations

import datetime
import errno
import functools
import hashlib
import json
import logging
import os
import re
import struct
import sys
import tempfile
import threading
import time
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from featurejit.compiled_kernel import BATCH_KERNEL_TYPE, CompiledKernel
from featurejit.frontend.captures import Capture
from featurejit.settings import settings
from featurejit.source_lines import lines_of

logger = logging.getLogger("featurejit")

FORMAT_VERSION = 1
MAGIC = b"FJKC"
HEADER = struct.Struct("<4sI32sI")  # magic, format version, SHA-256 of the rest, metadata length
ENTRY_SUFFIX = ".fjk"
TEMPORARY_PREFIX = ".tmp-"
# Temporary files older than this are left over from a process that died while writing.
STALE_TEMPORARY_SECONDS = 3600
KEY_PATTERN = re.compile(r"^[0-9a-f]{64}$")


# Write errors that every later write would meet too: a full disk, missing permissions, a
# read-only file system, or a cache folder path that runs through a file. Other errors skip
# only the entry that met them.
FOLDER_ERRORS = frozenset(
    {
        errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.ENAMETOOLONG,
        errno.EFBIG,  # a file size limit (ulimit -f)
        errno.ELOOP,  # a cycle of symbolic links in the cache folder's path
    }
)


class CorruptEntry(Exception):
    """An entry file that is truncated, altered or of another format."""


# --------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------


def source_text(function: Callable[..., Any]) -> str:
    """Return the text of a function's definition, decorators included, or "" when its file is unknown.

    This reads the lines the code object spans, as the file was when its resolvers were
    decorated (see featurejit.source_lines), which costs microseconds where
    inspect.getsource tokenizes the file.
    """
    code = function.__code__
    lines = lines_of(function)
    numbers = [line for _, _, line in code.co_lines() if line is not None]
    if not lines or not numbers:
        return ""
    return "".join(lines[code.co_firstlineno - 1 : max(numbers)])


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@functools.cache
def compiler_fingerprint() -> str:
    """Return a hash of the size and modification time of every file of the featurejit package.

    Any edit of the compiler then changes every key, even without a version change.
    """
    package = Path(__file__).resolve().parent
    parts = []
    for path in sorted(package.rglob("*.py")):
        status = path.stat()
        parts.append(f"{path.relative_to(package)}:{status.st_size}:{status.st_mtime_ns}")
    return sha256_text("\n".join(parts))


@functools.cache
def environment_key() -> str:
    """Return a hash of the versions, CPU and interpreter ABI that object code depends on."""
    from featurejit import __version__
    from featurejit.codegen.engine import get_engine, llvm_version
    from featurejit.codegen.pyabi import FLOAT_VALUE_OFFSET, TYPE_OFFSET

    engine = get_engine()
    parts = [
        FORMAT_VERSION,
        __version__,
        compiler_fingerprint(),
        llvm_version(),
        engine.triple,
        engine.cpu_name,
        engine.cpu_features,
        sys.implementation.cache_tag,
        sys.version,
        getattr(sys, "abiflags", ""),
        TYPE_OFFSET,
        FLOAT_VALUE_OFFSET,
    ]
    return sha256_text(json.dumps(parts))


@dataclass(frozen=True)
class KernelRequest:
    """The inputs of a compile that the lookup key hashes."""

    function: Callable[..., Any]
    parameter_types: tuple[str, ...]
    layouts: tuple[Any, ...] | None
    output: type

    @property
    def kind(self) -> str:
        return "scalar" if self.layouts is None else "batch"

    @functools.cached_property
    def source(self) -> str:
        return source_text(self.function)

    @functools.cached_property
    def lookup_key(self) -> str:
        layouts = None if self.layouts is None else [repr(layout) for layout in self.layouts]
        parts = [
            environment_key(),
            self.function.__module__,
            self.function.__qualname__,
            self.source,
            list(self.parameter_types),
            zone_fingerprints(self.parameter_types),
            layouts,
            self.output.__name__,
            self.kind,
        ]
        return sha256_text(json.dumps(parts))

    @property
    def roots(self) -> list[Callable[..., Any]]:
        """Return the functions that the kernel compiles, whose sources the lookup key contains."""
        return [self.function]

    def content_digest(self, optimized_ir: str, manifest: dict[str, Any]) -> str:
        return sha256_text(json.dumps([self.lookup_key, optimized_ir, manifest], sort_keys=True))


@dataclass(frozen=True)
class FusedKernelRequest(KernelRequest):
    """The inputs of a fused kernel's compile: every member, its bindings, and the requested outputs.

    `function` is the first member's function. `members` holds, in dependency order, each
    member's function, output column and (parameter, column) bindings.
    """

    members: tuple[tuple[Callable[..., Any], str, tuple[tuple[str, str], ...]], ...] = ()
    outputs: tuple[str, ...] = ()
    output_types: tuple[type, ...] = ()

    @property
    def kind(self) -> str:
        return "fused"

    @functools.cached_property
    def source(self) -> str:
        sources = [source_text(function) for function, _, _ in self.members]
        return "" if not all(sources) else "\n".join(sources)

    @property
    def roots(self) -> list[Callable[..., Any]]:
        return list(dict.fromkeys(function for function, _, _ in self.members))

    @functools.cached_property
    def lookup_key(self) -> str:
        members = [
            [function.__module__, function.__qualname__, source_text(function), output, [list(pair) for pair in columns]]
            for function, output, columns in self.members
        ]
        parts = [
            environment_key(),
            members,
            list(self.outputs),
            [output.__name__ for output in self.output_types],
            list(self.parameter_types),
            zone_fingerprints(self.parameter_types),
            [repr(layout) for layout in self.layouts or ()],
            self.kind,
        ]
        return sha256_text(json.dumps(parts))


def zone_fingerprints(parameter_types: Sequence[str]) -> list[str]:
    """Return a digest of the zone file of each zone key in the parameter types.

    Kernels hold offset tables of those zones, so a tzdata update must change the key.
    """
    from featurejit.zones import is_fixed

    digests = []
    for zone in sorted(set(ZONE_IN_TYPE.findall(" ".join(parameter_types)))):
        if zone and not is_fixed(zone):
            # Imported only here, because most kernels have no zone key and the import takes milliseconds.
            from featurejit.codegen.zonetables import ZoneDataError, read_zone_file

            try:
                digests.append(f"{zone}:{hashlib.sha256(read_zone_file(zone)).hexdigest()}")
            except ZoneDataError:
                digests.append(f"{zone}:missing")
    return digests


ZONE_IN_TYPE = re.compile(r'!py\.datetime<"([^"]*)">')


# --------------------------------------------------------------------------------------
# Dependencies: captured values and inlined resolvers
# --------------------------------------------------------------------------------------


def is_resolver(value: Any) -> bool:
    return getattr(value, "__featurejit_resolver__", False) is True


def describe_value(value: Any) -> str | None:
    """Return a description of a captured value that is equal across processes, or None if there is none."""
    if value is None:
        return "None"
    if type(value) in (bool, int):
        return f"{type(value).__name__}:{value!r}"
    if type(value) is float:
        return f"float:{value.hex()}"  # hex keeps -0.0 apart from 0.0
    if isinstance(value, types.ModuleType):
        return f"module:{value.__name__}"
    if is_resolver(value):
        return f"resolver:{value.function.__module__}.{value.function.__qualname__}"
    if isinstance(value, types.BuiltinFunctionType | type):
        module = getattr(value, "__module__", None) or getattr(getattr(value, "__self__", None), "__name__", "")
        return f"builtin:{module}.{value.__qualname__}"
    return describe_temporal(value)


def describe_temporal(value: Any) -> str | None:
    """Describe a datetime, date, timedelta or zone constant, or return None for another value.

    A zoneinfo zone is described by its key and the digest of its zone file, because kernels
    hold offsets computed from that file. A tzinfo without a zone name has no description.
    """
    import zoneinfo

    from featurejit.zones import zone_of_tzinfo

    if type(value) is datetime.timedelta:
        return f"timedelta:{value.days}:{value.seconds}:{value.microseconds}"
    if type(value) is datetime.date:
        return f"date:{value.isoformat()}"
    if type(value) is datetime.timezone:
        return f"timezone:{value!r}"
    if type(value) is zoneinfo.ZoneInfo:
        if zone_of_tzinfo(value) is None:
            return None
        fingerprints = zone_fingerprints([f'!py.datetime<"{value.key}">'])
        return f"zoneinfo:{fingerprints[0] if fingerprints else value.key}"
    if type(value) is datetime.datetime:
        zone = "naive" if value.tzinfo is None else describe_temporal(value.tzinfo)
        if zone is None:
            return None
        return f"datetime:{value.replace(tzinfo=None).isoformat()}:fold={value.fold}:{zone}"
    return None


def describe_defaults(function: Callable[..., Any]) -> list[Any] | None:
    """Return descriptions of a function's default values, or None if one has no description."""
    defaults = [*(function.__defaults__ or ()), *sorted((function.__kwdefaults__ or {}).items())]
    described = []
    for default in defaults:
        value = default[1] if isinstance(default, tuple) else default
        description = describe_value(value)
        if description is None:
            return None
        described.append(description)
    return described


def dependency_manifest(
    roots: Sequence[Callable[..., Any]], captures: Sequence[Capture], inlined: Sequence[Callable[..., Any]]
) -> dict[str, Any] | None:
    """Describe every captured value and inlined resolver, or return None if one cannot be described.

    `roots` are the functions the kernel compiles: one resolver, or the members of a fused
    group. A capture's owner is the index of its function among the roots followed by the
    inlined functions that are not roots. Each such inlined function names the capture,
    `via`, whose value is its resolver object.
    """
    inlined = [callee for callee in inlined if callee not in roots]
    owners = [*roots, *inlined]
    records = []
    for capture in captures:
        owner = next((index for index, candidate in enumerate(owners) if candidate is capture.function), None)
        description = describe_value(capture.value)
        if owner is None or description is None:
            return None
        records.append({"owner": owner, "name": capture.name, "attributes": list(capture.attributes), "value": description})
    callees = []
    for callee in inlined:
        via = next(
            (
                index
                for index, capture in enumerate(captures)
                if is_resolver(capture.value) and capture.value.function is callee
            ),
            None,
        )
        source = source_text(callee)
        defaults = describe_defaults(callee)
        if via is None or not source or defaults is None:
            return None
        callees.append({"via": via, "source": sha256_text(source), "defaults": defaults})
    return {"captures": records, "callees": callees}


def check_dependencies(
    roots: Sequence[Callable[..., Any]], manifest: dict[str, Any]
) -> tuple[list[Capture], list[Callable[..., Any]]] | None:
    """Resolve a manifest's captures again, and return them and the inlined functions if all are unchanged."""
    callees = manifest["callees"]
    owners: list[Callable[..., Any] | None] = [*roots, *([None] * len(callees))]
    via = {callee["via"]: index for index, callee in enumerate(callees)}
    captures = []
    for index, record in enumerate(manifest["captures"]):
        owner = owners[record["owner"]]
        if owner is None:
            return None
        probe = Capture(owner, record["name"], tuple(record["attributes"]), None)
        current = probe.current_value()
        if describe_value(current) != record["value"]:
            return None
        captures.append(Capture(owner, record["name"], tuple(record["attributes"]), current))
        if index in via:
            callee = callees[via[index]]
            inner = current.function
            if sha256_text(source_text(inner)) != callee["source"] or describe_defaults(inner) != callee["defaults"]:
                return None
            owners[len(roots) + via[index]] = inner
    if any(owner is None for owner in owners):
        return None
    return captures, [owner for owner in owners[1:] if owner is not None]


# --------------------------------------------------------------------------------------
# Entries
# --------------------------------------------------------------------------------------


@dataclass
class CacheEntry:
    """A compiled kernel as stored: its object code, entry points, IR texts and dependencies."""

    digest: str
    entry_points: list[str]
    object_code: bytes
    metadata: dict[str, Any]
    captures: list[Capture] = field(default_factory=list)
    inlined: list[Callable[..., Any]] = field(default_factory=list)


def encode_entry(entry: CacheEntry) -> bytes:
    metadata = json.dumps(
        {"digest": entry.digest, "entry_points": entry.entry_points, **entry.metadata}, sort_keys=True
    ).encode("utf-8", "surrogatepass")
    body = metadata + entry.object_code
    return HEADER.pack(MAGIC, FORMAT_VERSION, hashlib.sha256(body).digest(), len(metadata)) + body


def decode_entry(data: bytes) -> CacheEntry:
    """Parse an entry file; raise CorruptEntry if it is truncated, altered or of another format."""
    if len(data) < HEADER.size:
        raise CorruptEntry(f"{len(data)} bytes is shorter than the {HEADER.size}-byte header")
    magic, version, checksum, metadata_length = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CorruptEntry("it does not start with the entry magic")
    if version != FORMAT_VERSION:
        raise CorruptEntry(f"format version {version}, expected {FORMAT_VERSION}")
    body = memoryview(data)[HEADER.size :]
    if hashlib.sha256(body).digest() != checksum:
        raise CorruptEntry("its SHA-256 does not match its contents")
    if metadata_length > len(body):
        raise CorruptEntry("the metadata length exceeds the file")
    try:
        metadata = json.loads(bytes(body[:metadata_length]))
        digest = metadata.pop("digest")
        entry_points = metadata.pop("entry_points")
    except (ValueError, KeyError) as error:
        raise CorruptEntry(f"its metadata is invalid: {error}") from None
    return CacheEntry(digest, entry_points, bytes(body[metadata_length:]), metadata)


# Metadata that every entry has (KernelCache.store adds the lookup key), and what a resolver's
# kernel adds, which load_kernel reads. Join kernels (kind "join") store only the first.
REQUIRED_METADATA = ("lookup_key", "manifest")
REQUIRED_RESOLVER_METADATA = ("result_type", "symbol", "texts")
REQUIRED_TEXTS = ("ir", "optimized", "llvm", "optimized_llvm")


def check_metadata(metadata: dict[str, Any], lookup_key: str) -> None:
    """Raise CorruptEntry if an entry's metadata lacks a field that loading reads, or names another key."""
    required = REQUIRED_METADATA if metadata.get("kind") == "join" else REQUIRED_METADATA + REQUIRED_RESOLVER_METADATA
    missing = [name for name in required if name not in metadata]
    if missing:
        raise CorruptEntry(f"its metadata has no {missing[0]}")
    if metadata["lookup_key"] != lookup_key:
        raise CorruptEntry("it belongs to another kernel's folder")
    if "texts" in required:
        texts = metadata["texts"]
        if not isinstance(texts, dict) or any(name not in texts for name in REQUIRED_TEXTS):
            raise CorruptEntry("its metadata lacks some of the kernel's code texts")


class KernelCache:
    """The cache folder of this process, with the state of its warnings."""

    def __init__(self, root: Path):
        self.root = root
        self.writable = True
        self.lock = threading.Lock()

    @property
    def entries_root(self) -> Path:
        return self.root / f"v{FORMAT_VERSION}"

    def folder(self, lookup_key: str) -> Path:
        return self.entries_root / lookup_key

    # ----------------------------------------------------------------------------------
    # Reading
    # ----------------------------------------------------------------------------------

    def load(self, request: KernelRequest) -> CacheEntry | None:
        """Return the variant of this request whose dependencies are unchanged, or None."""
        if not request.source:
            return None
        folder = self.folder(request.lookup_key)
        try:
            names = sorted(name for name in os.listdir(folder) if name.endswith(ENTRY_SUFFIX))
        except FileNotFoundError:
            return None
        except OSError as error:
            logger.debug("kernel cache: cannot list %s: %s", folder, error)
            return None
        for name in names:
            entry = self.read(folder / name, request.lookup_key)
            if entry is None:
                continue
            dependencies = check_dependencies(request.roots, entry.metadata["manifest"])
            if dependencies is None:
                continue
            entry.captures, entry.inlined = dependencies
            touch(folder / name)
            return entry
        return None

    def read(self, path: Path, lookup_key: str) -> CacheEntry | None:
        """Return the entry at `path` if it is intact and belongs to `lookup_key`; delete it otherwise."""
        try:
            data = path.read_bytes()
        except OSError as error:
            logger.debug("kernel cache: cannot read %s: %s", path, error)
            return None
        try:
            entry = decode_entry(data)
            check_metadata(entry.metadata, lookup_key)
        except CorruptEntry as error:
            logger.warning("kernel cache: ignoring %s because %s; the kernel is compiled again", path, error)
            remove_quietly(path)
            return None
        return entry

    # ----------------------------------------------------------------------------------
    # Writing
    # ----------------------------------------------------------------------------------

    def store(self, request: KernelRequest, entry: CacheEntry) -> None:
        """Write an entry atomically; after a write error, warn once and stop writing."""
        if not self.writable or not request.source:
            return
        folder = self.folder(request.lookup_key)
        data = encode_entry(replace(entry, metadata={**entry.metadata, "lookup_key": request.lookup_key}))
        temporary = None
        try:
            folder.mkdir(parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, dir=folder)
            with os.fdopen(descriptor, "wb") as output:
                output.write(data)
            os.replace(temporary, folder / f"{entry.digest}{ENTRY_SUFFIX}")
            temporary = None
        except OSError as error:
            failed = error.filename2 or error.filename or folder  # os.replace names the target second
            # mkdir(exist_ok=True) raises EEXIST for a file at the entry folder's path, which blocks
            # only this entry, and for a symbolic link to nothing on the path, which blocks them all.
            dangling = error.errno == errno.EEXIST and broken_link_in_path(folder) is not None
            if error.errno not in FOLDER_ERRORS and not dangling:
                # Something in the way of this one entry, such as a folder at its path: skip it only.
                logger.warning("kernel cache: cannot write %s (%s); that kernel is not stored", failed, error.strerror or error)
                return
            with self.lock:
                if self.writable:
                    self.writable = False
                    problem, fix = self.describe_write_error(folder, error)
                    logger.warning(
                        "kernel cache: cannot write to %s (%s); this process compiles kernels in memory only. %s",
                        failed,
                        problem,
                        fix,
                    )
            return
        finally:
            if temporary is not None:
                remove_quietly(Path(temporary))
        logger.debug("kernel cache: stored %s", folder / f"{entry.digest}{ENTRY_SUFFIX}")
        self.evict()

    def describe_write_error(self, folder: Path, error: OSError) -> tuple[str, str]:
        """Return why `folder` cannot be written, and the fix to suggest."""
        broken = broken_link_in_path(folder)
        if broken is not None:
            link, problem = broken
            return (
                f"{link} is a symbolic link {problem}",
                "Fix the link, set FEATUREJIT_CACHE_DIR to another folder, or set FEATUREJIT_CACHE=0",
            )
        blocking = file_in_path(folder)
        if blocking is None:
            return (
                str(error.strerror or error),
                "Free space or fix the permissions, set FEATUREJIT_CACHE_DIR to another folder, or set "
                "FEATUREJIT_CACHE=0",
            )
        fix_setting = "Set FEATUREJIT_CACHE_DIR to a folder, or set FEATUREJIT_CACHE=0"
        if blocking == self.root:
            return f"the cache folder {blocking} is a file", fix_setting
        if blocking in self.root.parents:
            return f"the cache folder {self.root} is inside {blocking}, which is a file", fix_setting
        return (
            f"{blocking} is a file where the cache expects a folder",
            "Delete that file, set FEATUREJIT_CACHE_DIR to another folder, or set FEATUREJIT_CACHE=0",
        )

    def evict(self) -> None:
        """Delete the least recently used entries while the cache holds more than its maximum size."""
        for leftover in self.temporary_files():
            remove_quietly(leftover)
        files = self.files()
        total = sum(size for _, size, _ in files)
        if total <= settings.cache_max_bytes:
            return
        for path, size, _ in sorted(files, key=lambda item: item[2]):
            if total <= settings.cache_max_bytes:
                break
            if remove_quietly(path):
                total -= size
                remove_empty_folder(path.parent)

    # ----------------------------------------------------------------------------------
    # Inspection and clearing
    # ----------------------------------------------------------------------------------

    def files(self) -> list[tuple[Path, int, float]]:
        """Return (path, size, last use) of every entry of this format."""
        found = []
        try:
            folders = list(os.scandir(self.entries_root))
        except OSError:
            return []
        for folder in folders:
            if not (KEY_PATTERN.match(folder.name) and folder.is_dir()):
                continue
            try:
                for item in os.scandir(folder.path):
                    if item.name.endswith(ENTRY_SUFFIX):
                        status = item.stat()
                        found.append((Path(item.path), status.st_size, status.st_mtime))
            except OSError:
                continue
        return found

    def clear(self) -> tuple[int, int]:
        """Delete every entry and leftover temporary file, of every format; return (files, bytes) removed.

        Only files that the cache creates are removed, so a folder set by mistake keeps its other files.
        """
        removed = removed_bytes = 0
        if not self.root.is_dir():
            return 0, 0
        for version_folder in self.root.iterdir():
            if not re.fullmatch(r"v\d+", version_folder.name) or not version_folder.is_dir():
                continue
            for folder in version_folder.iterdir():
                if not (KEY_PATTERN.match(folder.name) and folder.is_dir()):
                    continue
                try:
                    items = list(folder.iterdir())
                except OSError:  # another process evicted the folder's last entry meanwhile
                    continue
                for item in items:
                    if item.name.endswith(ENTRY_SUFFIX) or item.name.startswith(TEMPORARY_PREFIX):
                        try:
                            size = item.stat().st_size
                            item.unlink()
                        except FileNotFoundError:
                            continue
                        removed += 1
                        removed_bytes += size
                remove_empty_folder(folder)
            remove_empty_folder(version_folder)
        return removed, removed_bytes

    def temporary_files(self) -> list[Path]:
        """Return temporary files older than an hour, which a process that died while writing left."""
        now = time.time()
        leftovers = []
        try:
            folders = list(os.scandir(self.entries_root))
        except OSError:  # another process may clear or trim the cache at any time
            return []
        for folder in folders:
            try:
                items = list(os.scandir(folder.path))
            except OSError:
                continue
            for item in items:
                if not item.name.startswith(TEMPORARY_PREFIX):
                    continue
                try:
                    if now - item.stat().st_mtime > STALE_TEMPORARY_SECONDS:
                        leftovers.append(Path(item.path))
                except OSError:
                    continue
        return leftovers


def broken_link_in_path(path: Path) -> tuple[Path, str] | None:
    """Return the first folder of `path`, from the root down, that is a symbolic link that leads nowhere, and why."""
    for candidate in [*reversed(path.parents), path]:
        if not candidate.is_symlink():
            continue
        try:
            candidate.stat()
        except FileNotFoundError:
            return candidate, f"to {os.readlink(candidate)}, which does not exist"
        except OSError as error:
            if error.errno == errno.ELOOP:
                return candidate, "in a cycle of links"
    return None


def touch(path: Path) -> None:
    """Record a use of an entry in its modification time, which eviction orders by."""
    try:
        os.utime(path)
    except OSError:
        pass  # a read-only cache still serves hits


def remove_quietly(path: Path) -> bool:
    try:
        path.unlink()
        return True
    except OSError:
        return False


def file_in_path(folder: Path) -> Path | None:
    """Return the file that takes the place of `folder` or of one of its parents, or None if there is none."""
    existing = next((path for path in (folder, *folder.parents) if path.exists()), None)
    return existing if existing is not None and not existing.is_dir() else None


def remove_empty_folder(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass  # not empty, or already gone


_cache: KernelCache | None = None
_cache_lock = threading.Lock()


def get_cache() -> KernelCache | None:
    """Return the process's kernel cache, or None when FEATUREJIT_CACHE=0."""
    global _cache
    if not settings.cache_enabled:
        return None
    if _cache is None or _cache.root != settings.cache_dir:
        with _cache_lock:
            if _cache is None or _cache.root != settings.cache_dir:
                _cache = KernelCache(settings.cache_dir)
    return _cache


# --------------------------------------------------------------------------------------
# The compiler's hook
# --------------------------------------------------------------------------------------


def load_kernel(request: KernelRequest, name: str) -> CompiledKernel | None:
    """Return a CompiledKernel from the disk cache for this request, or None on a miss."""
    kernel_cache = get_cache()
    if kernel_cache is None:
        return None
    from featurejit.codegen.engine import get_engine

    # The first call creates the JIT engine, which is process setup, so the load's time leaves it out.
    environment_key()
    start = time.perf_counter()
    entry = kernel_cache.load(request)
    if entry is None:
        logger.debug("kernel cache: miss for %s (%s)", name, request.kind)
        return None
    try:
        addresses = get_engine().load_object(entry.object_code, entry.entry_points)
    except ValueError as error:
        logger.warning("kernel cache: the entry %s of %s cannot be loaded (%s); compiling", entry.digest, name, error)
        return None
    texts = entry.metadata["texts"]
    points = [addresses[entry_point] for entry_point in entry.entry_points]
    kernel = CompiledKernel(
        entry=BATCH_KERNEL_TYPE(points[0]) if request.layouts is not None else None,
        symbol=entry.metadata["symbol"],
        captures=entry.captures,
        inlined=entry.inlined,
        result_type_text=entry.metadata["result_type"],
        result_type_texts=tuple(entry.metadata.get("result_types", [entry.metadata["result_type"]])),
        ir_text=texts["ir"],
        optimized_ir_text=texts["optimized"],
        llvm_text=texts["llvm"],
        optimized_llvm_text=texts["optimized_llvm"],
        python_entries=None if request.layouts is not None else (points[0], points[1]),
        object_code=entry.object_code,
        entry_points=entry.entry_points,
        cached=True,
    )
    kernel.stage_seconds = {"cache": time.perf_counter() - start}
    logger.debug("kernel cache: loaded %s (%s) in %.2f ms", name, request.kind, kernel.compile_seconds * 1000)
    return kernel


def store_kernel(request: KernelRequest, kernel: CompiledKernel) -> None:
    """Write a freshly compiled kernel to the disk cache, unless a dependency has no stable description.

    A failure to store is logged and the kernel stays compiled: the cache only saves later compiles.
    """
    try:
        write_kernel(request, kernel)
    except Exception as error:  # noqa: BLE001 - such as another process deleting the cache folder meanwhile
        logger.warning(
            "kernel cache: storing %s failed (%s: %s); the kernel stays compiled but is not cached",
            kernel.symbol,
            type(error).__name__,
            error,
        )
        logger.debug("kernel cache: the failed store of %s", kernel.symbol, exc_info=error)


def write_kernel(request: KernelRequest, kernel: CompiledKernel) -> None:
    kernel_cache = get_cache()
    if kernel_cache is None or not kernel.object_code:
        return
    manifest = dependency_manifest(request.roots, kernel.captures, kernel.inlined)
    if manifest is None:
        logger.debug("kernel cache: %s captures a value without a stable description; not stored", kernel.symbol)
        return
    # The optimized IR names the function by its per-process symbol, which must not change the digest.
    optimized = kernel.optimized_ir_text.replace(kernel.symbol.rsplit("_", 1)[0], "@resolver")
    metadata = {
        "manifest": manifest,
        "result_type": kernel.result_type_text,
        "result_types": list(kernel.result_type_texts),
        "texts": {
            "ir": kernel.ir_text,
            "optimized": kernel.optimized_ir_text,
            "llvm": kernel.llvm_text,
            "optimized_llvm": kernel.optimized_llvm_text,
        },
        "symbol": kernel.symbol,
        "resolver": f"{request.function.__module__}.{request.function.__qualname__}",
        "kind": request.kind,
        "created": time.time(),
    }
    entry = CacheEntry(request.content_digest(optimized, manifest), kernel.entry_points, kernel.object_code, metadata)
    kernel_cache.store(request, entry)


def parse_type(text: str) -> Any:
    """Parse an IR type printed by xDSL, such as `f64` or `!py.optional<i64>`.

    The types a resolver can return are looked up in a table, because building a parser
    context takes milliseconds.
    """
    known = known_types()
    if text in known:
        return known[text]
    from xdsl.parser import Parser

    from featurejit.ir import make_context

    return Parser(make_context(), text).parse_attribute()


@functools.cache
def known_types() -> dict[str, Any]:
    """Return the result types a resolver can have, by their printed form, which a test checks."""
    from xdsl.dialects.builtin import f64, i1, i64

    from featurejit.ir.dialect import OptionalType, date_type, dyn, none_type, timedelta_type

    elements = {"f64": f64, "i1": i1, "i64": i64, "!py.date": date_type, "!py.timedelta": timedelta_type}
    types: dict[str, Any] = {"!py.none": none_type, "!py.dyn": dyn, **elements}
    for name, element in elements.items():
        types[f"!py.optional<{name}>"] = OptionalType(element)
    return types
