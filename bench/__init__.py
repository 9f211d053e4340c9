"""Benchmarks, run by ``make bench`` against a throwaway PostgreSQL and Redis."""
