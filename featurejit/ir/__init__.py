"""The resolver IR: the `py` dialect plus the standard func, scf and builtin dialects."""

from featurejit.ir.context import make_context, parse_module, print_module

__all__ = ["make_context", "parse_module", "print_module"]
