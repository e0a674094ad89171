"""Seeding a kernel for `reset(seed=...)`: the code a kernel runs, silently, so that two
episodes with the same seed and the same cells give the same outputs.

Kernels of the warm pool start before the seed is known, so the seed cannot be in their
environment: `random` and `numpy` are seeded by a silent cell at reset (again after each
restart), and `torch` when it is first imported (an import hook: importing it at every reset
would cost seconds). PYTHONHASHSEED cannot change in a running interpreter; every kernel
starts with the fixed `HASH_SEED`, so str hashes and set order are the same in every episode,
seeded or not.
"""

from __future__ import annotations

HASH_SEED = "0"


def seed_code(seed: int) -> str:
    """The silent cell that seeds `random`, `numpy` (if installed) and `torch` (on import)."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"expected an int seed, got {type(seed).__name__}")
    return f'''
def __dojo_seed(seed):
    import importlib.abc, importlib.util, random, sys
    seeders = {{"numpy": lambda m: m.random.seed(seed % 2**32), "torch": lambda m: m.manual_seed(seed)}}
    random.seed(seed)
    if "numpy" not in sys.modules and importlib.util.find_spec("numpy") is not None:
        import numpy  # cheap, and seeded now rather than by a hook
    class SeedOnImport(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name not in seeders or name in sys.modules:
                return None
            sys.meta_path.remove(self)
            try:
                spec = importlib.util.find_spec(name)
            finally:
                sys.meta_path.insert(0, self)
            if spec is None or spec.loader is None:
                return spec
            run = spec.loader.exec_module
            def exec_module(module, run=run, seeder=seeders[name]):
                run(module)
                seeder(module)
            spec.loader.exec_module = exec_module
            return spec
    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "SeedOnImport"]
    for name, seeder in seeders.items():
        if name in sys.modules:
            seeder(sys.modules[name])
    sys.meta_path.insert(0, SeedOnImport())
__dojo_seed({seed})
del __dojo_seed
'''
