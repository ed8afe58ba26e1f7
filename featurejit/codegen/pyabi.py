"""The facts about the running CPython that scalar entries and the runtime share.

They are the C API symbols that entries call, object offsets, the layout of an entry's
context tuple, and the guards of captured names.

featurejit.codegen.pyentry emits the entries. This module imports llvmlite.ir but not xDSL,
so a kernel loaded from the disk cache runs without importing the compiler.
"""

from __future__ import annotations

import ctypes
import functools
import sys
import types
from collections.abc import Sequence
from dataclasses import dataclass

from llvmlite import ir

from featurejit.codegen.arith import F64, I8, I32, I64
from featurejit.frontend.captures import Capture

OBJECT = I8.as_pointer()
PYTHON_FUNCTIONS: dict[str, tuple[ir.Type, list[ir.Type]]] = {
    "PyObject_Vectorcall": (OBJECT, [OBJECT, OBJECT.as_pointer(), I64, OBJECT]),
    "PyObject_GetAttr": (OBJECT, [OBJECT, OBJECT]),
    "PyDict_GetItemWithError": (OBJECT, [OBJECT, OBJECT]),
    "PyCell_Get": (OBJECT, [OBJECT]),
    "PyModule_GetDict": (OBJECT, [OBJECT]),
    "PyLong_AsLongLongAndOverflow": (I64, [OBJECT, I32.as_pointer()]),
    "PyLong_FromLongLong": (OBJECT, [I64]),
    "PyByteArray_AsString": (OBJECT, [OBJECT]),
    "PyFloat_FromDouble": (OBJECT, [F64]),
    "PyBool_FromLong": (OBJECT, [I64]),
    "PyErr_Occurred": (OBJECT, []),
    "PyErr_Clear": (ir.VoidType(), []),
    "Py_IncRef": (ir.VoidType(), [OBJECT]),
    "Py_DecRef": (ir.VoidType(), [OBJECT]),
}
PYTHON_OBJECTS = ("PyFloat_Type", "PyLong_Type", "PyBool_Type", "PyModule_Type", "_Py_NoneStruct", "_Py_TrueStruct")

# PyObject_HEAD ends with ob_type in every build, and PyFloatObject is the head and a double.
# A tuple is the head, its size, then its items, as the PyTuple_GET_ITEM macro reads them.
# The context is always a tuple.
POINTER_SIZE = ctypes.sizeof(ctypes.c_void_p)
TYPE_OFFSET = object.__basicsize__ - POINTER_SIZE
FLOAT_VALUE_OFFSET = float.__basicsize__ - ctypes.sizeof(ctypes.c_double)
TUPLE_ITEMS_OFFSET = tuple.__basicsize__

# Entries read ints and write None's reference count directly on CPython 3.11, because a C API
# call costs more than the read. There an int is a PyVarObject whose ob_size is its
# number of 30-bit digits with the int's sign, followed by the digits. None's reference count
# is a plain counter at the start of the object. CPython 3.12 changed both: ints keep their
# size and sign in one tag, and None became immortal. So other versions call the C API.
# NOTE: only CPython 3.11 is tested here, so only 3.11 takes the direct reads.
DIRECT_LAYOUTS = sys.version_info[:2] == (3, 11) and sys.int_info.bits_per_digit == 30 and sys.int_info.sizeof_digit == 4
LONG_SIZE_OFFSET = object.__basicsize__  # ob_size follows PyObject_HEAD
LONG_DIGITS_OFFSET = int.__basicsize__
DIGIT_BITS = sys.int_info.bits_per_digit


def bytearray_data_offset() -> int | None:
    """Return the offset in a bytearray object of the pointer to its bytes, or None if it is not found.

    PyByteArray_AS_STRING is a macro that reads that pointer, so its position is found by
    comparing the fields of a sample bytearray with what PyByteArray_AsString returns.
    """
    as_string = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object)(("PyByteArray_AsString", ctypes.pythonapi))
    sample = bytearray(8)
    data = as_string(sample)
    matches = [
        offset
        for offset in range(object.__basicsize__, bytearray.__basicsize__, POINTER_SIZE)
        if ctypes.c_void_p.from_address(id(sample) + offset).value == data
    ]
    # The last match is ob_start, where the bytes begin. ob_bytes differs from it once bytes are deleted from the front.
    return matches[-1] if matches else None


BYTEARRAY_DATA_OFFSET = bytearray_data_offset()


# CPython 3.11 gives every dict a version from a global counter, new on each change to it, in
# ma_version_tag after PyObject_HEAD and ma_used. A guard whose dicts still have the versions
# it saw may skip its lookups. A module's md_dict follows PyObject_HEAD and never changes.
DICT_VERSION_OFFSET = object.__basicsize__ + POINTER_SIZE
MODULE_DICT_OFFSET = object.__basicsize__


def read_word(address: int) -> int:
    return ctypes.c_uint64.from_address(address).value


def dict_versions_readable() -> bool:
    """Check on sample objects that dict versions and module dicts are at the offsets above."""
    sample: dict[str, int] = {}
    before = read_word(id(sample) + DICT_VERSION_OFFSET)
    sample["key"] = 1
    after = read_word(id(sample) + DICT_VERSION_OFFSET)
    used = read_word(id(sample) + DICT_VERSION_OFFSET - POINTER_SIZE)
    module_dict = read_word(id(types) + MODULE_DICT_OFFSET)
    return before != 0 and after > before and used == 1 and module_dict == id(types.__dict__)


DICT_VERSIONS = DIRECT_LAYOUTS and dict_versions_readable()


def guard_version_words(guard: GuardSpec) -> int:
    """Return the number of 8-byte words a guard uses in the version cache, or 0 if it uses none.

    A global name whose attribute steps all read module dicts caches the versions of its
    function's globals and of the builtins, then each module's address and its dict's version.
    """
    if not DICT_VERSIONS or guard.closure or not all(guard.module_steps) or len(guard.module_steps) != guard.attributes:
        return 0
    return 2 + 2 * guard.attributes


def version_offsets(guards: Sequence[GuardSpec]) -> tuple[list[int | None], int]:
    """Return each guard's first word in the version cache, None for a guard without one, and the cache's size in words."""
    offsets: list[int | None] = []
    words = 0
    for guard in guards:
        size = guard_version_words(guard)
        offsets.append(words if size else None)
        words += size
    return offsets, words


@functools.cache
def python_api_symbols() -> dict[str, int]:
    """Return the addresses of the C API functions and objects the entries use, by JIT symbol name."""
    symbols = {}
    for name in (*PYTHON_FUNCTIONS, *PYTHON_OBJECTS):
        symbol = getattr(ctypes.pythonapi, name)
        if name in PYTHON_OBJECTS:
            address = ctypes.addressof(ctypes.c_char.in_dll(ctypes.pythonapi, name))
        else:
            address = ctypes.cast(symbol, ctypes.c_void_p).value or 0
        symbols[f"fj_py_{name}"] = address
    return symbols


@dataclass(frozen=True)
class GuardSpec:
    """The lookup path of one guarded name.

    A closure variable is read from its cell. A global is looked up in the function's
    globals, then in the builtins, as CPython does. Then `attributes` attribute lookups follow.
    A step whose object was a plain module when compiling reads the module's dict, which
    costs a dict lookup instead of a full getattr, after checking that the object is still
    exactly a module.
    """

    closure: bool
    attributes: int
    module_steps: tuple[bool, ...] = ()


def guard_captures(captures: Sequence[Capture]) -> list[Capture]:
    """Return the captures a checked entry guards, in the order of its context.

    `math.pi` records captures of `math` and of `math.pi`. The compiled code depends only on
    the longest path, so a capture that is a prefix of another of the same function is left out.
    """
    leaves = []
    for capture in captures:
        is_prefix = any(
            other.function is capture.function
            and other.name == capture.name
            and len(other.attributes) > len(capture.attributes)
            and other.attributes[: len(capture.attributes)] == capture.attributes
            for other in captures
        )
        if not is_prefix:
            leaves.append(capture)
    return leaves


def is_closure_name(capture: Capture) -> bool:
    return capture.name in capture.function.__code__.co_freevars


def guard_specs(captures: Sequence[Capture]) -> list[GuardSpec]:
    """Return the guards that codegen emits for these captures."""
    values = {(id(capture.function), capture.name, capture.attributes): capture.value for capture in captures}
    specs = []
    for capture in guard_captures(captures):
        steps = []
        for depth in range(len(capture.attributes)):
            owner = values.get((id(capture.function), capture.name, capture.attributes[:depth]))
            steps.append(type(owner) is types.ModuleType)
        specs.append(GuardSpec(is_closure_name(capture), len(capture.attributes), tuple(steps)))
    return specs


class ContextLayout:
    """Positions of the items in an entry's context tuple.

    0 the general fallback, 1 the interpreter fallback, 2 a bytearray whose 8 bytes are the
    int64 counter of native calls, 3 the builtins module's dict, 4 an object the context
    keeps alive (the method definition of the builtin). 5 is a bytearray of the dict versions
    the guards last saw (see version_offsets). Then, per guard, its cell or its function's
    globals, the name, one name per attribute, and the expected object.
    """

    GENERAL = 0
    INTERPRETER = 1
    COUNTER = 2
    BUILTINS = 3
    KEEP_ALIVE = 4
    VERSIONS = 5
    FIRST_GUARD = 6

    @staticmethod
    def guard_positions(guards: list[GuardSpec]) -> list[int]:
        positions = []
        position = ContextLayout.FIRST_GUARD
        for guard in guards:
            positions.append(position)
            position += 3 + guard.attributes
        return positions
