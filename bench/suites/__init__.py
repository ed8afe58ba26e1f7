"""Benchmark suites: each module here that defines `SUITE`, an instance of `bench.harness.Suite`."""
