"""featurejit compiles type-annotated Python feature resolvers to native kernels over Apache Arrow.

    import featurejit as fj

    @fj.jit_resolver
    def speed_mph(distance: int, air_time: int | None) -> float | None:
        if air_time is None or air_time == 0:
            return None
        return distance / (air_time / 60)

Importing the package is cheap: llvmlite and pyarrow load on the first call, and xDSL and
the compiler on the first compile. A kernel from the disk cache runs without xDSL.
"""

from typing import Any

from featurejit.errors import ColumnNotFoundError, CompileError, OutputTypeError, SourceLocation
from featurejit.fusion import FusedResolvers, fuse
from featurejit.graph import Feature, GraphError, features, has_many, has_one, primary_key
from featurejit.resolver import Explanation, JitResolver, jit_resolver

__all__ = [
    "ColumnNotFoundError", "CompileError", "Explanation", "Feature", "FusedResolvers", "Graph", "GraphError",
    "JitResolver", "OutputTypeError", "SourceLocation", "features", "fuse", "has_many", "has_one", "jit_resolver", "primary_key",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Graph imports pyarrow and networkx, so it loads on first use.
    if name == "Graph":
        from featurejit.graph.graph import Graph

        return Graph
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
