"""Benchmarks of the BigMind SDK against its peers: ``python -m benchmarks`` (see README.md)."""
