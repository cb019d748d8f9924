"""Benchmarks behind ``make bench``: each ``bench/bench_*.py`` module measures one issue's targets."""
