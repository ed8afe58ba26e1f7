"""The benchmark harness: featurejit against the libraries people use today, in one run.

Run it as `featurejit bench [SUITE ...]` or `python -m bench [SUITE ...]` from a source
checkout. Each module in bench/suites/ that defines `SUITE` is a suite, so a new suite plugs
in without changes to the harness. bench/README.md describes the suites and the method.
"""
