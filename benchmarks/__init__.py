"""Benchmarks and figure writers: `python -m benchmarks.NAME`."""
