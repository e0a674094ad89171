"""Reliability: hostile cells, crash consistency and action fuzzing against real envs."""
