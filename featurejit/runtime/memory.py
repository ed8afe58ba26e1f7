"""Addresses of numpy buffers for kernel calls."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def address(array: np.ndarray) -> int:
    """Return the address of a contiguous numpy array's first byte.

    Wrapping the array in an Arrow buffer took about 0.25 us on an AMD EPYC (Zen 4) VM,
    against 1 us for `array.ctypes.data`, which builds a ctypes object on every access.
    A one-row call reads about ten addresses.
    """
    return pa.py_buffer(array).address
