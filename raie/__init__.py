"""RAIE Stream core: the method, the protocol and the store.

This package is pure Python plus torch, peft, pyarrow and duckdb. It never
imports Kafka, Faust or Ray, so that the offline runner and the stream share
exactly the same logic (docs/ARCHITECTURE.md section 1).
"""

__version__ = "0.1.0"
