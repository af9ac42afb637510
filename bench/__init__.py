"""Benchmarks (make bench): figures, never assertions on time."""
