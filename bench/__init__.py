"""Benchmarks: figures printed with the reference they are compared with, measured in one run."""
