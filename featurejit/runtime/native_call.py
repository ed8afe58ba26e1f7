"""Builtin function objects over the scalar entries of compiled kernels, and their guards.

A resolver whose scalar kernels compiled gets the `checked` entry of each (see
`featurejit.codegen.pyentry`) as a builtin created with PyCFunction_NewEx, as an extension
module creates its functions. The newest builtin becomes the `__call__` of the resolver's
own class, so a call from Python code reaches native code without running Python bytecode.
The builtins form a chain: a call that does not match one entry goes to the next older one,
and after the oldest to the resolver's general call path.

NOTE: a resolver is an instance, so CPython reaches the builtin through the class's
`__call__` slot, which builds an argument tuple and looks `__call__` up on every call. That
fixed cost is larger than a plain call of a function that returns at once, so in the scalar
bench suite `speed(1400, None)` costs about twice its plain call.
"""

from __future__ import annotations

import builtins
import ctypes
from collections.abc import Callable, Sequence
from typing import Any

from featurejit.codegen.pyentry import ContextLayout, guard_captures, is_closure_name
from featurejit.frontend.captures import Capture

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


def guard_objects(captures: Sequence[Capture]) -> list[Any]:
    """Return the context items of the guards: container, name, attribute names, and the current object."""
    items: list[Any] = []
    for capture in guard_captures(captures):
        function = capture.function
        if is_closure_name(capture):
            container: Any = function.__closure__[function.__code__.co_freevars.index(capture.name)]  # type: ignore[index]
        else:
            container = function.__globals__
        items += [container, capture.name, *capture.attributes, capture.current_value()]
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
        # (checked address, captures, name) of each chained entry, oldest first
        self.entries: list[tuple[int, list[Capture], str]] = []
        # The objects the installed guards compare against, per entry
        self.expected: list[list[Any]] = []

    def base_context(self, fallback: Callable[..., Any]) -> list[Any]:
        return [fallback, self.interpreter, self.counter_bytes, builtins.__dict__, None]

    def unchecked(self, address: int, name: str) -> Callable[..., Any]:
        """Return a builtin for the runtime's own calls, whose argument types it has checked."""
        return make_builtin(address, name, self.base_context(self.general), [self.counter])

    def add(self, address: int, captures: list[Capture], name: str) -> None:
        self.entries = [*self.entries[-(self.MAX_CHAINED - 1) :], (address, captures, name)]
        self.install()

    def install(self) -> None:
        """Build the chain of checked builtins and make the newest the resolver's `__call__`."""
        # NOTE: the native entries do not read settings.disable_jit, so setting it after a
        # resolver's first scalar call leaves that resolver's scalar calls native.
        fallback = self.general
        self.expected = []
        for address, captures, name in self.entries:
            objects = guard_objects(captures)
            self.expected.append([capture.current_value() for capture in guard_captures(captures)])
            fallback = make_builtin(address, name, [*self.base_context(fallback), *objects], [self.counter])
        if self.entries:
            self.resolver_class.__call__ = fallback  # type: ignore[method-assign]

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
            current = [capture.current_value() for capture in guard_captures(captures)]
            if any(value is not old for value, old in zip(current, expected, strict=True)):
                self.install()
                return
