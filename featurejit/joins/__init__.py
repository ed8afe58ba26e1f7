"""Joins of Arrow tables with compiled kernels, lookup indexes, and the column statistics that choose them.

    from featurejit.joins import Index, join, plan_join, table_stats

    joined = join(flights, planes, on="tailnum", how="left")     # a pyarrow Table
    plan = plan_join(flights, planes, on="tailnum")               # the operator and why
    print(plan.explain())
    index = Index.build(planes, "tailnum")                         # built once, probed many times
    index.lookup(["N10156", "N102UW"])                             # the planes' rows, in key order
    index.join(flights, how="left")
    join_all(flights, [JoinStep(planes, on="tailnum", how="left"), JoinStep(delayed, on="flight")])

Importing this package loads pyarrow and numpy; kernels compile on first use.
"""

from featurejit.joins.chain import JoinsPlan, JoinStep, join_all, plan_joins
from featurejit.joins.filters import JoinFilter
from featurejit.joins.index import Index
from featurejit.joins.keys import KeyTypeError
from featurejit.joins.plan import JoinPlan, join, plan_join
from featurejit.joins.planner import JoinChoice, choose_join
from featurejit.joins.sketch import HyperLogLog
from featurejit.joins.stats import ColumnStats, TableStats, column_stats, parquet_stats, table_stats

__all__ = [
    "ColumnStats",
    "HyperLogLog",
    "Index",
    "JoinChoice",
    "JoinFilter",
    "JoinPlan",
    "JoinStep",
    "JoinsPlan",
    "KeyTypeError",
    "TableStats",
    "choose_join",
    "column_stats",
    "join",
    "join_all",
    "parquet_stats",
    "plan_join",
    "plan_joins",
    "table_stats",
]
