"""The data layout of batch kernel arguments, which the runtime fills without the code generator.

featurejit.codegen.kernel describes the batch kernel ABI that these constants belong to. This
module imports llvmlite.ir but not xDSL, so a kernel loaded from the disk cache runs without
importing the compiler.
"""

from __future__ import annotations

from typing import NamedTuple

from llvmlite import ir

from featurejit.codegen.arith import F64, I8, I64

PHYSICAL_TYPES: dict[str, tuple[ir.Type, str]] = {
    "bool": (I8, "bits"),
    "int8": (ir.IntType(8), "signed"),
    "int16": (ir.IntType(16), "signed"),
    "int32": (ir.IntType(32), "signed"),
    "int64": (I64, "signed"),
    "uint8": (ir.IntType(8), "unsigned"),
    "uint16": (ir.IntType(16), "unsigned"),
    "uint32": (ir.IntType(32), "unsigned"),
    "uint64": (I64, "unsigned64"),
    "float32": (ir.FloatType(), "float"),
    "float64": (F64, "float"),
    # Strings: the element type is that of the offsets, or of the dictionary indices.
    "utf8": (ir.IntType(32), "string"),
    "large_utf8": (I64, "string"),
    "dict8_utf8": (ir.IntType(8), "dictionary"),
    "dict16_utf8": (ir.IntType(16), "dictionary"),
    "dict32_utf8": (ir.IntType(32), "dictionary"),
    "dict64_utf8": (I64, "dictionary"),
    # Temporal values: int64 counts of a unit since 1970, or int32 days for date32.
    **{f"timestamp_{unit}": (I64, "temporal") for unit in ("s", "ms", "us", "ns")},
    **{f"duration_{unit}": (I64, "temporal") for unit in ("s", "ms", "us", "ns")},
    "date32": (ir.IntType(32), "temporal"),
    "date64": (I64, "temporal"),
}


class ColumnLayout(NamedTuple):
    """The physical layout of one parameter's values in the batch kernel.

    A named tuple rather than a dataclass, because every batch call hashes and compares
    layouts to find its kernel, and tuples do that in C.
    """

    physical: str
    has_validity: bool
    broadcast: bool
    # A str column whose strings are all ASCII, so that code points are bytes.
    ascii: bool = False


FIELDS_PER_COLUMN = 10
FIELDS_PER_OUTPUT = 5
