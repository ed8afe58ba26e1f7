"""Scalar entry points that CPython calls directly, written in LLVM IR against the C API.

A scalar kernel (see `build_scalar_entry`) takes unboxed values. This module wraps it in two
functions with the C signature of a builtin created with METH_FASTCALL | METH_KEYWORDS.
CPython calls such a builtin through vectorcall: the positional arguments come in an array,
and the names of keyword arguments in `kwnames`, which is NULL for a call without keywords.
So a direct call, as the runtime makes, builds no argument tuple:

    PyObject* checked(PyObject* context, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames)
    PyObject* unchecked(PyObject* context, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames)

`checked` is what a resolver call from Python code reaches. It takes the native path only for
exactly the argument types the kernel was compiled for, passed by position, and only while
every captured name still refers to the object the kernel was compiled with. A parameter the
kernel takes as `!py.optional<T>` also accepts None, which the kernel gets as a presence flag
of 0. Any other call goes to the general fallback, `context[0]`, with the same arguments.
`unchecked` is for the runtime, which has checked the types itself; it skips those checks and
the guards.

Both unbox the arguments, run the kernel and box its result. A row the kernel flags, or an
int beyond int64, goes to the interpreter fallback `context[1]` with the same positional
arguments, so the result stays exact. `context` is a tuple whose layout `ContextLayout`
fixes. The C API functions and type objects are external symbols named `fj_py_<name>`,
which the JIT engine binds to the running interpreter's own, so object code stays valid
in another process of the same interpreter.
"""

from __future__ import annotations

from dataclasses import dataclass

from llvmlite import ir
from xdsl.dialects import func
from xdsl.dialects.builtin import f64 as F64_TYPE
from xdsl.dialects.builtin import i1 as I1_TYPE
from xdsl.dialects.builtin import i64 as I64_TYPE
from xdsl.ir import Attribute

from featurejit.codegen.arith import F64, I8, I32, I64, i64
from featurejit.codegen.pyabi import (
    BYTEARRAY_DATA_OFFSET,
    DICT_VERSION_OFFSET,
    DIGIT_BITS,
    DIRECT_LAYOUTS,
    FLOAT_VALUE_OFFSET,
    LONG_DIGITS_OFFSET,
    LONG_SIZE_OFFSET,
    MODULE_DICT_OFFSET,
    OBJECT,
    POINTER_SIZE,
    PYTHON_FUNCTIONS,
    TUPLE_ITEMS_OFFSET,
    TYPE_OFFSET,
    ContextLayout,
    GuardSpec,
    version_offsets,
)
from featurejit.codegen.row import KIND_BOOL, KIND_FLOAT, KIND_INT
from featurejit.ir.dialect import OptionalType

EXACT_TYPES = {float: "PyFloat_Type", int: "PyLong_Type", bool: "PyBool_Type"}
STATUS_FLAGGED_SHIFT = 8


@dataclass(frozen=True)
class EntryArgument:
    """One argument of a scalar entry: the exact Python type it unboxes, and whether None is accepted too."""

    python_type: type
    optional: bool = False


def scalar_entry_arguments(function_op: func.FuncOp) -> list[EntryArgument]:
    """Return the argument of the scalar entry for each parameter of a scalar specialization."""
    names: dict[Attribute, type] = {F64_TYPE: float, I64_TYPE: int, I1_TYPE: bool}
    arguments: list[EntryArgument] = []
    for argument_type in function_op.function_type.inputs.data:
        if isinstance(argument_type, OptionalType):
            arguments.append(EntryArgument(names[argument_type.element_type], optional=True))
        else:
            arguments.append(EntryArgument(names[argument_type]))
    return arguments


def build_python_entries(
    module: ir.Module, scalar_name: str, arguments: list[EntryArgument], guards: list[GuardSpec], name: str
) -> tuple[str, str]:
    """Add the checked and unchecked entries around the scalar kernel `scalar_name`, and return their names."""
    scalar = module.get_global(scalar_name)
    scalar.linkage = "internal"
    emitter = EntryEmitter(module)
    core = emitter.build_core(scalar, arguments, f"{name}_core")
    checked_name, unchecked_name = f"{name}_checked", f"{name}_unchecked"
    emitter.build_checked(core, arguments, guards, checked_name)
    emitter.build_unchecked(core, unchecked_name)
    return checked_name, unchecked_name


class EntryEmitter:
    """The emitter of one module's entries, which declares each C API symbol on first use."""

    def __init__(self, module: ir.Module):
        self.module = module

    def api(self, name: str) -> ir.Function:
        symbol = f"fj_py_{name}"
        try:
            return self.module.get_global(symbol)
        except KeyError:
            return_type, parameters = PYTHON_FUNCTIONS[name]
            return ir.Function(self.module, ir.FunctionType(return_type, parameters), symbol)

    def object(self, name: str) -> ir.Value:
        symbol = f"fj_py_{name}"
        try:
            return self.module.get_global(symbol)
        except KeyError:
            return ir.GlobalVariable(self.module, I8, symbol)

    def entry_function(self, name: str, linkage: str = "") -> ir.Function:
        """Declare a function with the C signature of a METH_FASTCALL | METH_KEYWORDS builtin."""
        function = ir.Function(self.module, ir.FunctionType(OBJECT, [OBJECT, OBJECT.as_pointer(), I64, OBJECT]), name)
        if linkage:
            function.linkage = linkage
        return function

    def item(self, builder: ir.IRBuilder, tuple_object: ir.Value, index: int) -> ir.Value:
        """Load item `index` of a tuple, a borrowed reference, as PyTuple_GET_ITEM does."""
        slot = builder.gep(tuple_object, [i64(TUPLE_ITEMS_OFFSET + POINTER_SIZE * index)])
        return builder.load(builder.bitcast(slot, OBJECT.as_pointer()))

    def argument(self, builder: ir.IRBuilder, args: ir.Value, index: int) -> ir.Value:
        """Load positional argument `index` of a vectorcall, a borrowed reference."""
        return builder.load(builder.gep(args, [i64(index)]))

    def type_of(self, builder: ir.IRBuilder, value: ir.Value) -> ir.Value:
        slot = builder.bitcast(builder.gep(value, [i64(TYPE_OFFSET)]), OBJECT.as_pointer())
        return builder.load(slot)

    def call_fallback(
        self, builder: ir.IRBuilder, context: ir.Value, index: int, args: ir.Value, nargs: ir.Value, kwnames: ir.Value
    ) -> None:
        fallback = self.item(builder, context, index)
        builder.ret(builder.call(self.api("PyObject_Vectorcall"), [fallback, args, nargs, kwnames]))

    # ----------------------------------------------------------------------------------
    # The core: unbox, run the kernel, box
    # ----------------------------------------------------------------------------------

    def build_core(self, scalar: ir.Function, arguments: list[EntryArgument], name: str) -> ir.Function:
        """Build `PyObject* core(context, args, nargs, kwnames)` for arguments known to have the right types."""
        function = self.entry_function(name, "internal")
        context, args, nargs, _ = function.args
        entry = function.append_basic_block("entry")
        interpreter = function.append_basic_block("interpreter")
        builder = ir.IRBuilder(entry)
        overflow = builder.alloca(I32)

        # Unbox each argument, and pass an optional one with its presence flag.
        values: list[ir.Value] = []
        for index, argument in enumerate(arguments):
            item = self.argument(builder, args, index)
            if not argument.optional:
                values.append(self.unbox(builder, function, item, argument.python_type, overflow, interpreter, index))
                continue
            is_none = builder.icmp_unsigned("==", item, self.object("_Py_NoneStruct"))
            checked_block = builder.block
            present = function.append_basic_block(f"present{index}")
            merged = function.append_basic_block(f"argument{index}")
            builder.cbranch(is_none, merged, present)
            builder.position_at_end(present)
            value = self.unbox(builder, function, item, argument.python_type, overflow, interpreter, index)
            present_block = builder.block
            builder.branch(merged)
            builder.position_at_end(merged)
            merged_value = builder.phi(value.type)
            merged_value.add_incoming(ir.Constant(value.type, 0), checked_block)
            merged_value.add_incoming(value, present_block)
            values.append(merged_value)
            values.append(builder.zext(builder.not_(is_none), I64))

        # Run the kernel. A flagged row goes to the interpreter.
        result = builder.call(scalar, values)
        bits = builder.extract_value(result, 0)
        status = builder.extract_value(result, 1)
        flagged = builder.icmp_unsigned("!=", builder.lshr(status, i64(STATUS_FLAGGED_SHIFT)), i64(0))
        native = function.append_basic_block("native")
        builder.cbranch(flagged, interpreter, native)

        # Count the native call and box the result by its Python type.
        builder.position_at_end(native)
        counter = self.bytearray_words(builder, self.item(builder, context, ContextLayout.COUNTER))
        builder.store(builder.add(builder.load(counter), i64(1)), counter)
        kind = builder.trunc(status, I8)
        boxes = {
            KIND_FLOAT: lambda b: b.call(self.api("PyFloat_FromDouble"), [b.bitcast(bits, F64)]),
            KIND_INT: lambda b: b.call(self.api("PyLong_FromLongLong"), [bits]),
            KIND_BOOL: lambda b: b.call(self.api("PyBool_FromLong"), [bits]),
        }
        none_block = function.append_basic_block("box_none")
        switch = builder.switch(kind, none_block)
        for kind_value, box in boxes.items():
            block = function.append_basic_block(f"box{kind_value}")
            switch.add_case(ir.Constant(I8, kind_value), block)
            builder.position_at_end(block)
            builder.ret(box(builder))
        builder.position_at_end(none_block)
        none = self.object("_Py_NoneStruct")
        if DIRECT_LAYOUTS:
            references = builder.bitcast(none, I64.as_pointer())  # ob_refcnt starts the object
            builder.store(builder.add(builder.load(references), i64(1)), references)
        else:
            builder.call(self.api("Py_IncRef"), [none])
        builder.ret(none)

        builder.position_at_end(interpreter)
        self.call_fallback(builder, context, ContextLayout.INTERPRETER, args, nargs, ir.Constant(OBJECT, None))
        return function

    def unbox(
        self,
        builder: ir.IRBuilder,
        function: ir.Function,
        item: ir.Value,
        python_type: type,
        overflow: ir.Value,
        interpreter: ir.Block,
        index: int,
    ) -> ir.Value:
        """Emit a load of the value of `item`, an object of exactly `python_type`.

        An int beyond int64 branches to `interpreter`.
        """
        if python_type is float:
            slot = builder.bitcast(builder.gep(item, [i64(FLOAT_VALUE_OFFSET)]), F64.as_pointer())
            return builder.load(slot)
        if python_type is bool:
            is_true = builder.icmp_unsigned("==", item, self.object("_Py_TrueStruct"))
            return builder.zext(is_true, I64)
        if DIRECT_LAYOUTS:
            return self.unbox_int_directly(builder, function, item, overflow, interpreter, index)
        return self.unbox_int_by_api(builder, function, item, overflow, interpreter, index)

    def unbox_int_by_api(
        self,
        builder: ir.IRBuilder,
        function: ir.Function,
        item: ir.Value,
        overflow: ir.Value,
        interpreter: ir.Block,
        index: int,
    ) -> ir.Value:
        builder.store(ir.Constant(I32, 0), overflow)
        value = builder.call(self.api("PyLong_AsLongLongAndOverflow"), [item, overflow])
        fits = builder.icmp_signed("==", builder.load(overflow), ir.Constant(I32, 0))
        unboxed = function.append_basic_block(f"unboxed{index}")
        builder.cbranch(fits, unboxed, interpreter)
        builder.position_at_end(unboxed)
        return value

    def unbox_int_directly(
        self,
        builder: ir.IRBuilder,
        function: ir.Function,
        item: ir.Value,
        overflow: ir.Value,
        interpreter: ir.Block,
        index: int,
    ) -> ir.Value:
        """Read an int of at most two digits, below 2**60 in magnitude, from its object.

        Larger ints take the C API. Digits are read only below the int's size, because a
        one-digit int has no second digit.
        """

        def digit(position: int) -> ir.Value:
            address = builder.gep(item, [i64(LONG_DIGITS_OFFSET + 4 * position)])
            return builder.zext(builder.load(builder.bitcast(address, I32.as_pointer())), I64)

        def signed(magnitude: ir.Value) -> ir.Value:
            return builder.select(builder.icmp_signed("<", size, i64(0)), builder.neg(magnitude), magnitude)

        size = builder.load(builder.bitcast(builder.gep(item, [i64(LONG_SIZE_OFFSET)]), I64.as_pointer()))
        small, one_digit, two_digits, large, unboxed = (
            function.append_basic_block(f"{label}{index}") for label in ("small", "one_digit", "two_digits", "large", "unboxed")
        )
        incoming = []
        builder.cbranch(builder.icmp_unsigned("<=", builder.add(size, i64(2)), i64(4)), small, large)  # -2 <= size <= 2

        builder.position_at_end(small)
        incoming.append((i64(0), small))
        builder.cbranch(builder.icmp_signed("!=", size, i64(0)), one_digit, unboxed)

        builder.position_at_end(one_digit)
        low = digit(0)
        incoming.append((signed(low), one_digit))
        is_two = builder.icmp_signed("==", builder.mul(size, size), i64(4))
        builder.cbranch(is_two, two_digits, unboxed)

        builder.position_at_end(two_digits)
        incoming.append((signed(builder.or_(low, builder.shl(digit(1), i64(DIGIT_BITS)))), two_digits))
        builder.branch(unboxed)

        builder.position_at_end(large)
        value = self.unbox_int_by_api(builder, function, item, overflow, interpreter, index)
        incoming.append((value, builder.block))
        builder.branch(unboxed)

        builder.position_at_end(unboxed)
        result = builder.phi(I64)
        for value, block in incoming:
            result.add_incoming(value, block)
        return result

    # ----------------------------------------------------------------------------------
    # The entries
    # ----------------------------------------------------------------------------------

    def build_unchecked(self, core: ir.Function, name: str) -> None:
        function = self.entry_function(name)
        builder = ir.IRBuilder(function.append_basic_block("entry"))
        builder.ret(builder.call(core, list(function.args)))

    def build_checked(
        self, core: ir.Function, arguments: list[EntryArgument], guards: list[GuardSpec], name: str
    ) -> None:
        """Build the entry for calls from Python code: check the call's shape and the guards, then run the core."""
        function = self.entry_function(name)
        context, args, nargs, kwnames = function.args
        builder = ir.IRBuilder(function.append_basic_block("entry"))
        general = function.append_basic_block("general")

        def check(condition: ir.Value, label: str) -> None:
            passed = function.append_basic_block(label)
            builder.cbranch(condition, passed, general)
            builder.position_at_end(passed)

        # Positional arguments only, as many as the kernel takes, each of exactly its type or None if optional.
        check(builder.icmp_unsigned("==", kwnames, ir.Constant(OBJECT, None)), "no_keywords")
        check(builder.icmp_signed("==", nargs, i64(len(arguments))), "arity")
        for index, argument in enumerate(arguments):
            item = self.argument(builder, args, index)
            expected = self.object(EXACT_TYPES[argument.python_type])
            matches = builder.icmp_unsigned("==", self.type_of(builder, item), expected)
            if argument.optional:
                matches = builder.or_(matches, builder.icmp_unsigned("==", item, self.object("_Py_NoneStruct")))
            check(matches, f"type{index}")

        # Each captured name must still refer to the object the kernel was compiled with. A
        # guard with a version cache skips its lookups while the dicts it read are unchanged.
        offsets, words = version_offsets(guards)
        cache = self.bytearray_words(builder, self.item(builder, context, ContextLayout.VERSIONS)) if words else None
        for guard_index, (guard, position) in enumerate(zip(guards, ContextLayout.guard_positions(guards), strict=True)):
            offset = offsets[guard_index]
            passed = function.append_basic_block(f"guard{guard_index}_passed")
            if cache is not None and offset is not None:
                self.emit_version_check(builder, function, context, cache, offset, guard, position, passed, guard_index)
            current, owned, namespaces = self.emit_guard_lookup(
                builder, function, context, guard, position, general, guard_index
            )
            expected = self.item(builder, context, position + 2 + guard.attributes)
            same = builder.icmp_unsigned("==", current, expected)
            if owned:
                builder.call(self.api("Py_DecRef"), [current])
            check(same, f"guard{guard_index}")
            if cache is not None and offset is not None:
                dicts = [self.item(builder, context, position), self.item(builder, context, ContextLayout.BUILTINS)]
                seen = [self.dict_version(builder, namespace) for namespace in dicts]
                for module, namespace in namespaces:
                    seen += [builder.ptrtoint(module, I64), self.dict_version(builder, namespace)]
                for word_index, word in enumerate(seen):
                    builder.store(word, builder.gep(cache, [i64(offset + word_index)]))
            builder.branch(passed)
            builder.position_at_end(passed)

        builder.ret(builder.call(core, [context, args, nargs, kwnames]))

        builder.position_at_end(general)
        self.call_fallback(builder, context, ContextLayout.GENERAL, args, nargs, kwnames)

    def bytearray_words(self, builder: ir.IRBuilder, bytearray_object: ir.Value) -> ir.Value:
        """Return a pointer to the bytes of a bytearray as int64 words, read from the object where its layout is known."""
        if BYTEARRAY_DATA_OFFSET is None:
            data = builder.call(self.api("PyByteArray_AsString"), [bytearray_object])
        else:
            field = builder.gep(bytearray_object, [i64(BYTEARRAY_DATA_OFFSET)])
            data = builder.load(builder.bitcast(field, OBJECT.as_pointer()))
        return builder.bitcast(data, I64.as_pointer())

    def dict_version(self, builder: ir.IRBuilder, namespace: ir.Value) -> ir.Value:
        return builder.load(builder.bitcast(builder.gep(namespace, [i64(DICT_VERSION_OFFSET)]), I64.as_pointer()))

    def emit_version_check(
        self,
        builder: ir.IRBuilder,
        function: ir.Function,
        context: ir.Value,
        cache: ir.Value,
        offset: int,
        guard: GuardSpec,
        position: int,
        passed: ir.Block,
        guard_index: int,
    ) -> None:
        """Branch to `passed` if every dict the guard read last time still has the version it had then.

        An unchanged globals dict still binds the name to the same module, which keeps that
        module alive, so each module's cached address is read only after the versions before
        it matched. The module must still be exactly a module, since a module whose class was
        replaced may find attributes elsewhere than in its dict. Otherwise the builder is
        left where the lookup runs.
        """
        lookup = function.append_basic_block(f"guard{guard_index}_lookup")
        dicts = [self.item(builder, context, position), self.item(builder, context, ContextLayout.BUILTINS)]
        same = builder.and_(
            builder.icmp_unsigned("==", self.dict_version(builder, dicts[0]), builder.load(builder.gep(cache, [i64(offset)]))),
            builder.icmp_unsigned("==", self.dict_version(builder, dicts[1]), builder.load(builder.gep(cache, [i64(offset + 1)]))),
        )
        for step in range(guard.attributes):
            step_block = function.append_basic_block(f"guard{guard_index}_version{step}")
            builder.cbranch(same, step_block, lookup)
            builder.position_at_end(step_block)
            module = builder.inttoptr(builder.load(builder.gep(cache, [i64(offset + 2 + 2 * step)])), OBJECT)
            is_module = builder.icmp_unsigned("==", self.type_of(builder, module), self.object("PyModule_Type"))
            module_block = function.append_basic_block(f"guard{guard_index}_module{step}")
            builder.cbranch(is_module, module_block, lookup)
            builder.position_at_end(module_block)
            field = builder.gep(module, [i64(MODULE_DICT_OFFSET)])  # md_dict, which never changes
            namespace = builder.load(builder.bitcast(field, OBJECT.as_pointer()))
            cached = builder.load(builder.gep(cache, [i64(offset + 3 + 2 * step)]))
            same = builder.icmp_unsigned("==", self.dict_version(builder, namespace), cached)
        builder.cbranch(same, passed, lookup)
        builder.position_at_end(lookup)

    def emit_guard_lookup(
        self,
        builder: ir.IRBuilder,
        function: ir.Function,
        context: ir.Value,
        guard: GuardSpec,
        position: int,
        general: ir.Block,
        guard_index: int,
    ) -> tuple[ir.Value, bool, list[tuple[ir.Value, ir.Value]]]:
        """Emit the lookup of a guard's current value.

        Return the value, whether it is a new reference, and the (module, module dict) pairs read.

        A failed lookup goes to `general`. The general fallback repeats the lookup in Python, so
        an error here is cleared, not raised. Values found in dicts stay borrowed, as CPython's
        own LOAD_GLOBAL and module attribute lookups keep them, because no Python code runs
        between the lookup and the use. A getattr may run Python code, so its receiver is held
        by a reference during the call.
        """
        container = self.item(builder, context, position)
        owned = guard.closure
        namespaces: list[tuple[ir.Value, ir.Value]] = []
        if guard.closure:
            current = builder.call(self.api("PyCell_Get"), [container])
        else:
            current = self.emit_global_lookup(builder, function, context, container, position, guard_index)
        for attribute in range(guard.attributes):
            label = f"guard{guard_index}_step{attribute}"
            self.check_found(builder, function, current, general, label)
            name = self.item(builder, context, position + 2 + attribute)
            module_step = attribute < len(guard.module_steps) and guard.module_steps[attribute]
            if module_step:
                following, namespace = self.emit_module_attribute(builder, function, current, owned, name, general, label)
                namespaces.append((current, namespace))
                if owned:
                    # The module's dict owns the value, so hold it before releasing the module.
                    builder.call(self.api("Py_IncRef"), [following])  # Py_IncRef accepts NULL
                    builder.call(self.api("Py_DecRef"), [current])
            else:
                if not owned:
                    builder.call(self.api("Py_IncRef"), [current])
                following = builder.call(self.api("PyObject_GetAttr"), [current, name])
                builder.call(self.api("Py_DecRef"), [current])
                owned = True
            current = following
        self.check_found(builder, function, current, general, f"guard{guard_index}_resolved")
        return current, owned, namespaces

    def emit_global_lookup(
        self,
        builder: ir.IRBuilder,
        function: ir.Function,
        context: ir.Value,
        namespace: ir.Value,
        position: int,
        guard_index: int,
    ) -> ir.Value:
        """Emit a lookup of the guard's name in its function's globals, then in the builtins, as a borrowed reference."""
        key = self.item(builder, context, position + 1)
        found = builder.call(self.api("PyDict_GetItemWithError"), [namespace, key])
        in_globals = builder.block
        builtins_block = function.append_basic_block(f"guard{guard_index}_builtins")
        looked_up = function.append_basic_block(f"guard{guard_index}_found")
        builder.cbranch(builder.icmp_unsigned("==", found, ir.Constant(OBJECT, None)), builtins_block, looked_up)
        builder.position_at_end(builtins_block)
        builder.call(self.api("PyErr_Clear"), [])
        builtins = self.item(builder, context, ContextLayout.BUILTINS)
        from_builtins = builder.call(self.api("PyDict_GetItemWithError"), [builtins, key])
        builder.branch(looked_up)
        builder.position_at_end(looked_up)
        current = builder.phi(OBJECT)
        current.add_incoming(found, in_globals)
        current.add_incoming(from_builtins, builtins_block)
        return current

    def emit_module_attribute(
        self,
        builder: ir.IRBuilder,
        function: ir.Function,
        module: ir.Value,
        owned: bool,
        name: ir.Value,
        general: ir.Block,
        label: str,
    ) -> tuple[ir.Value, ir.Value]:
        """Emit a read of `name` from the dict of `module`: a borrowed reference, or NULL if it is missing, and the dict.

        An object that is no longer exactly a module goes to `general`, after its reference is
        released if `owned`.
        """
        is_module = builder.icmp_unsigned("==", self.type_of(builder, module), self.object("PyModule_Type"))
        not_module = function.append_basic_block(f"{label}_not_module")
        read = function.append_basic_block(f"{label}_module_dict")
        builder.cbranch(is_module, read, not_module)
        builder.position_at_end(not_module)
        if owned:
            builder.call(self.api("Py_DecRef"), [module])
        builder.branch(general)
        builder.position_at_end(read)
        namespace = builder.call(self.api("PyModule_GetDict"), [module])
        return builder.call(self.api("PyDict_GetItemWithError"), [namespace, name]), namespace

    def check_found(
        self, builder: ir.IRBuilder, function: ir.Function, value: ir.Value, general: ir.Block, label: str
    ) -> None:
        """Branch to a block that clears the error and takes the general fallback when `value` is NULL."""
        missing = function.append_basic_block(f"{label}_missing")
        found = function.append_basic_block(label)
        builder.cbranch(builder.icmp_unsigned("==", value, ir.Constant(OBJECT, None)), missing, found)
        builder.position_at_end(missing)
        builder.call(self.api("PyErr_Clear"), [])
        builder.branch(general)
        builder.position_at_end(found)
