"""featurejit compiles type-annotated Python feature resolvers to native kernels over Apache Arrow.

    import featurejit as fj

    @fj.jit_resolver
    def speed_mph(distance: int, air_time: int | None) -> float | None:
        if air_time is None or air_time == 0:
            return None
        return distance / (air_time / 60)

Importing the package is cheap: xDSL, llvmlite and pyarrow load on the first compile or call.
"""

from featurejit.errors import CompileError, SourceLocation
from featurejit.fusion import FusedResolvers, fuse
from featurejit.resolver import Explanation, JitResolver, jit_resolver

__all__ = ["CompileError", "Explanation", "FusedResolvers", "JitResolver", "SourceLocation", "fuse", "jit_resolver"]
__version__ = "0.1.0"
