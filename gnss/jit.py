"""Compiled loops for the batch paths: numba's ``njit``, cached on disk and typed for mypy.

Most of the batch path is numpy column operations. Where column passes would each pay their
fixed cost too often (reading the fields of each NMEA line, :mod:`gnss.nmea.scan`) or a loop is
sequential by nature (the presence state machine over a member's epochs in order), the loop is
written in plain Python and compiled with :func:`compiled`. The first call in a fresh checkout
compiles it (seconds); ``cache=True`` writes the machine code next to the module, so later
processes load it in milliseconds. :func:`cache_report` says which of the two happened.
:data:`prefetch` lets a compiled loop fetch what it will read a few iterations ahead.

>>> import numpy as np
>>> cache_report(np.sum)  # not compiled code
(0, 0)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy.typing as npt
from llvmlite import ir
from numba.core import cgutils as numba_cgutils
from numba.core import types
from numba.extending import intrinsic

cgutils: Any = numba_cgutils  # numba's code-generation helpers carry no type annotations

F = TypeVar("F", bound=Callable[..., object])


def compiled(fn: F) -> F:
    """``fn`` compiled by numba on first call, with the signature mypy sees unchanged.

    ``error_model="numpy"``: float division by zero gives inf/NaN as in numpy, without a check
    per division; ``boundscheck`` stays off (the callers pass arrays of matching lengths).
    """
    return cast(F, numba.njit(cache=True, nogil=True, error_model="numpy")(fn))


def inlined(fn: F) -> F:
    """A helper of compiled loops, inlined into each caller rather than called.

    Compiled calls pass tuples of arrays by value and count their references; inlined, the
    helper's reads become plain loads in the caller's loop. (Called from Python it still runs,
    compiled on its own.)
    """
    return cast(F, numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")(fn))


def _prefetch(typing_context: object, array: Any, index: Any) -> tuple[Any, Any]:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        array_type = signature.args[0]
        view = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(
            context, builder, array_type, view, [args[1]], wraparound=False
        )
        byte_pointer, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        # llvm.prefetch(address, read, keep in all cache levels, data); LLVM itself completes
        # the name with the pointer type.
        function = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]),
            "llvm.prefetch",
        )
        builder.call(function, [builder.bitcast(pointer, byte_pointer), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(array, types.intp), codegen


# In compiled code: ask the processor to fetch ``array[index]`` into its caches and go on
# without waiting. A loop that will need a random element a few iterations from now then
# finds it there; unlike an ordinary read, the hint never holds the loop up. No effect on
# results; an index out of range is harmless (a prefetch never faults).
prefetch = cast(Callable[[npt.NDArray[Any], int], None], intrinsic(_prefetch))


def cache_report(fn: Callable[..., object]) -> tuple[int, int]:
    """(signatures loaded from the disk cache, signatures compiled) by ``fn`` in this process."""
    stats = getattr(fn, "stats", None)
    if stats is None:  # not a numba dispatcher (NUMBA_DISABLE_JIT=1)
        return 0, 0
    return sum(stats.cache_hits.values()), sum(stats.cache_misses.values())
