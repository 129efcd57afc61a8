"""Benchmarks: `python -m bench.answers`, `python -m bench.dispatch` (see bench/README.md)."""
