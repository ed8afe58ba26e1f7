"""Builtin function objects over the scalar entries of compiled kernels, and their guards.

A resolver whose scalar kernels compiled gets the `checked` entry of each (see
`featurejit.codegen.pyentry`) as a builtin created with PyCFunction_NewEx, as an extension
module creates its functions. The newest builtin becomes the `__call__` of the resolver's
own class, so a call from Python code reaches native code without running Python bytecode.
The builtins form a chain: a call that does not match one entry goes to the next older one,
and after the oldest to the resolver's general call path.

A resolver is an instance, so CPython calls it through its class's tp_call slot. For a
class with `__call__` that slot looks `__call__` up on every call and calls it, which costs
more than a plain call of a function that returns at once. So the class's tp_call also
points at a small compiled function that passes the argument tuple's items straight to the
newest builtin's entry (see `CallSlot`).
"""

from __future__ import annotations

import builtins
import ctypes
import itertools
import logging
from collections.abc import Callable, Sequence
from typing import Any

from llvmlite import ir

from featurejit.codegen.arith import I64, i64
from featurejit.codegen.pyabi import (
    OBJECT,
    ContextLayout,
    guard_captures,
    guard_specs,
    is_closure_name,
    version_offsets,
)
from featurejit.frontend.captures import Capture, same_value

METH_KEYWORDS = 0x0002
METH_FASTCALL = 0x0080


class MethodDef(ctypes.Structure):
    """CPython's PyMethodDef: the name, C function and calling convention of a builtin."""

    _fields_ = [
        ("ml_name", ctypes.c_char_p),
        ("ml_meth", ctypes.c_void_p),
        ("ml_flags", ctypes.c_int),
        ("ml_doc", ctypes.c_char_p),
    ]


_new_builtin = ctypes.pythonapi.PyCFunction_NewEx
_new_builtin.restype = ctypes.py_object
_new_builtin.argtypes = [ctypes.POINTER(MethodDef), ctypes.py_object, ctypes.py_object]


def guarded_value(capture: Capture) -> Any:
    """Return the object a guard expects: the current one if it equals the compiled value, else the compiled one.

    A name rebound to a different value while a kernel compiled must fail the guard, so that
    the call takes the general path, which drops the kernel.
    """
    current = capture.current_value()
    return current if same_value(capture.value, current) else capture.value


def guard_objects(captures: Sequence[Capture]) -> list[Any]:
    """Return the context items of the guards: container, name, attribute names, and the expected object."""
    items: list[Any] = []
    for capture in guard_captures(captures):
        function = capture.function
        if is_closure_name(capture):
            container: Any = function.__closure__[function.__code__.co_freevars.index(capture.name)]  # type: ignore[index]
        else:
            container = function.__globals__
        items += [container, capture.name, *capture.attributes, guarded_value(capture)]
    return items


def make_builtin(address: int, name: str, context: list[Any], keep_alive: list[Any]) -> Callable[..., Any]:
    """Create a builtin function object whose C function is at `address` and whose self is `context`.

    The method definition must outlive the builtin, so the context tuple keeps it alive, with
    the objects in `keep_alive`.
    """
    definition = MethodDef(name.encode("ascii", "replace"), address, METH_FASTCALL | METH_KEYWORDS, None)
    context = list(context)
    context[ContextLayout.KEEP_ALIVE] = (definition, *keep_alive)
    function: Callable[..., Any] = _new_builtin(ctypes.byref(definition), tuple(context), None)
    return function


logger = logging.getLogger("featurejit")

PY_TP_CALL = 50  # the tp_call slot's number for PyType_GetSlot, from CPython's typeslots.h
# PyTypeObject starts with a variable-size object header (three words), then 13 pointer-size
# fields before tp_call. CallSlot.slot checks the field against PyType_GetSlot before any
# write, so a CPython with another layout only loses the shortcut.
TP_CALL_OFFSET = 16 * ctypes.sizeof(ctypes.c_void_p)

_get_slot = ctypes.pythonapi.PyType_GetSlot
_get_slot.restype = ctypes.c_void_p
_get_slot.argtypes = [ctypes.py_object, ctypes.c_int]
_trampoline_numbers = itertools.count()


class CallSlot:
    """The tp_call slot of a resolver's class, pointed at a compiled function over the newest builtin.

    The function takes CPython's (self, args, kwargs). Without keywords it calls the builtin's
    C function with the tuple's items, as the builtin's own vectorcall would, and with them
    it calls the builtin through PyObject_Call. CPython resets the slot whenever `__call__`
    is assigned or deleted, so `point_at` runs after each assignment.
    """

    def __init__(self, resolver_class: type):
        self.resolver_class = resolver_class
        # Builtins a compiled function refers to, kept while any thread may still run it.
        self.kept: list[Any] = []

    def slot(self) -> ctypes.c_void_p | None:
        """Return the class's tp_call field, or None if it is not where this CPython keeps it."""
        field = ctypes.c_void_p.from_address(id(self.resolver_class) + TP_CALL_OFFSET)
        current = _get_slot(self.resolver_class, PY_TP_CALL)
        return field if current and field.value == current else None

    def point_at(self, builtin: Any, entry_address: int) -> None:
        field = self.slot()
        if field is None:
            logger.debug("%s: tp_call is not at the expected offset; calls go through __call__", self.resolver_class)
            return
        from featurejit.codegen.engine import get_engine

        name = f"fj_call_slot_{next(_trampoline_numbers)}"
        module = call_slot_module(name, entry_address, id(builtin.__self__), id(builtin))
        # Optimized code took about 2 ns off each call, for about 2 ms more of compiling.
        address = get_engine().compile(module, [name], quick=False).addresses[name]
        self.kept.append(builtin)
        field.value = address


def call_slot_module(name: str, entry_address: int, context_address: int, builtin_address: int) -> ir.Module:
    """Return LLVM IR of `name(self, args, kwargs)`, which calls a METH_FASTCALL | METH_KEYWORDS entry."""
    module = ir.Module(name=name)
    function = ir.Function(module, ir.FunctionType(OBJECT, [OBJECT, OBJECT, OBJECT]), name)
    _, arguments, keywords = function.args
    ternary = ir.FunctionType(OBJECT, [OBJECT, OBJECT, OBJECT])
    # The object code is never cached, so the address of PyObject_Call can be a constant.
    call = i64(ctypes.cast(ctypes.pythonapi.PyObject_Call, ctypes.c_void_p).value or 0)
    builder = ir.IRBuilder(function.append_basic_block("entry"))
    with builder.if_then(builder.icmp_unsigned("!=", keywords, ir.Constant(OBJECT, None)), likely=False):
        builtin = builder.inttoptr(i64(builtin_address), OBJECT)
        builder.ret(builder.call(builder.inttoptr(call, ternary.as_pointer()), [builtin, arguments, keywords]))
    # A tuple is the object header (reference count, type), its size, then its items.
    word = ctypes.sizeof(ctypes.c_void_p)
    size = builder.load(builder.bitcast(builder.gep(arguments, [i64(2 * word)]), I64.as_pointer()))
    items = builder.bitcast(builder.gep(arguments, [i64(3 * word)]), OBJECT.as_pointer())
    entry_type = ir.FunctionType(OBJECT, [OBJECT, OBJECT.as_pointer(), I64, OBJECT])
    entry = builder.inttoptr(i64(entry_address), entry_type.as_pointer())
    context = builder.inttoptr(i64(context_address), OBJECT)
    builder.ret(builder.call(entry, [context, items, size, ir.Constant(OBJECT, None)]))
    return module


class NativeEntries:
    """The native scalar entries of one resolver, and the chain installed as its `__call__`."""

    # The chain is at most this long, newest first, so that a call with rarely used types
    # does not pass through many checks before it reaches the general path.
    MAX_CHAINED = 4

    def __init__(self, resolver_class: type, general: Callable[..., Any], interpreter: Callable[..., Any]):
        self.resolver_class = resolver_class
        self.general = general
        self.interpreter = interpreter
        # Native calls, counted by the entries themselves in the bytes of `counter_bytes`.
        # explain() compares the count with its value at the last call that went through Python.
        # The view exports the bytearray's buffer, so the bytearray cannot be resized and the
        # buffer's address stays fixed while the entries write to it.
        self.counter_bytes = bytearray(ctypes.sizeof(ctypes.c_int64))
        self.counter = ctypes.c_int64.from_buffer(self.counter_bytes)
        self.call_slot = CallSlot(resolver_class)
        # (checked address, captures, name) of each chained entry, oldest first
        self.entries: list[tuple[int, list[Capture], str]] = []
        # The objects the installed guards compare against, per entry
        self.expected: list[list[Any]] = []

    def base_context(self, fallback: Callable[..., Any], version_words: int = 0) -> list[Any]:
        # The version cache starts at zero, which no dict's version is, so first calls look up.
        versions = bytearray(8 * max(version_words, 1))
        return [fallback, self.interpreter, self.counter_bytes, builtins.__dict__, None, versions]

    def unchecked(self, address: int, name: str) -> Callable[..., Any]:
        """Return a builtin for the runtime's own calls, whose argument types it has checked."""
        return make_builtin(address, name, self.base_context(self.general), [self.counter])

    def add(self, address: int, captures: list[Capture], name: str) -> None:
        self.entries = [*self.entries[-(self.MAX_CHAINED - 1) :], (address, captures, name)]
        self.install()

    def replace(self, name: str, address: int) -> None:
        """Rebuild the chain with the entry called `name` at `address`, its kernel's optimized code."""
        if any(entry_name == name for _, _, entry_name in self.entries):
            self.entries = [
                (address if entry_name == name else old, captures, entry_name)
                for old, captures, entry_name in self.entries
            ]
            self.install()

    def install(self) -> None:
        """Build the chain of checked builtins and make the newest the resolver's `__call__`."""
        # NOTE: the native entries do not read settings.disable_jit, so setting it after a
        # resolver's first scalar call leaves that resolver's scalar calls native.
        fallback = self.general
        self.expected = []
        for address, captures, name in self.entries:
            objects = guard_objects(captures)
            self.expected.append([guarded_value(capture) for capture in guard_captures(captures)])
            _, version_words = version_offsets(guard_specs(captures))
            context = [*self.base_context(fallback, version_words), *objects]
            fallback = make_builtin(address, name, context, [self.counter])
        if self.entries:
            self.resolver_class.__call__ = fallback  # type: ignore[method-assign]
            self.call_slot.point_at(fallback, self.entries[-1][0])

    def clear(self) -> None:
        self.entries = []
        self.expected = []
        if "__call__" in self.resolver_class.__dict__:
            del self.resolver_class.__call__  # type: ignore[attr-defined]

    def refresh_if_rebound(self) -> None:
        """Rebuild the chain if a captured name now refers to an equal but different object.

        The native guards compare identity and the Python check compares values, so such a
        name would send every call down the general path until the chain is rebuilt.
        """
        for (_, captures, _), expected in zip(self.entries, self.expected, strict=True):
            current = [guarded_value(capture) for capture in guard_captures(captures)]
            if any(value is not old for value, old in zip(current, expected, strict=True)):
                self.install()
                return
