"""Benchmarks (`make bench`); they print figures and never pass or fail on a stopwatch."""
