"""Benchmark commands (`make bench-<name>`); each prints its figures and ends with one line of JSON."""
