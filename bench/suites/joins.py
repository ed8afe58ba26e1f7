"""Joins of feature tables, against DuckDB with the same thread count, once featurejit has joins."""

from __future__ import annotations

import featurejit as fj
from bench.harness import Bench, Suite, SuiteResult


class JoinSuite(Suite):
    name = "joins"
    title = "Joins"
    description = "A join of flights with planes on tailnum, against DuckDB on the same Arrow tables and thread count."
    order = 70

    def run(self, bench: Bench) -> SuiteResult:
        if not hasattr(fj, "join"):
            return self.result(skipped="featurejit has no joins yet; this suite measures them once featurejit.join exists")
        # TODO: time featurejit.join against DuckDB once featurejit.join exists; its API is not fixed yet.
        return self.result(skipped="featurejit.join exists, but this suite does not call it yet")


SUITE = JoinSuite()
