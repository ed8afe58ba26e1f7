"""The datetime resolver suite; see bench/suites/columns.py."""

from bench.suites.columns import DatetimeSuite

SUITE = DatetimeSuite()
