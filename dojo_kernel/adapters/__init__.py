"""The env for RL trainers: a text env (`text.DojoTextEnv`), group rollouts (`group`), the
SkyRL-Gym and verifiers adapters (`skyrl`, `verifiers_env`; each needs its extra) and the Ray
rollout service (`ray_service`; the ray extra).

Nothing heavy is imported here: `from dojo_kernel.adapters.text import DojoTextEnv`.
"""
