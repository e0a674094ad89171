"""Tests of dojo_kernel.adapters, one file per module. A package, so that pytest puts tests/
on the import path (for `tiny_competition` and `waiting`)."""
