"""Tests of dojo_kernel.batch, one file per module. A package, so that pytest puts tests/ on
the import path (for `waiting`, `conftest` and `batch.agents`, which worker processes import)."""
