"""The string resolver suite; see bench/suites/columns.py."""

from bench.suites.columns import StringSuite

SUITE = StringSuite()
