"""dojo_kernel/__init__.py: `import dojo_kernel` is cheap (no pandas, scipy or scikit-learn)
and still registers a Gymnasium id per competition, from names only."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from dojo_kernel.prepare import builtin, names

HEAVY = ("pandas", "scipy", "sklearn")


def _in_fresh_python(code: str, data_root) -> dict:
    environment = {**os.environ, "DOJO_DATA": str(data_root)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_import_dojo_kernel_imports_no_heavy_library(tmp_path):
    # a competition dir under the data root is listed too, without loading it
    (tmp_path / "my-comp").mkdir()
    (tmp_path / "my-comp" / names.MANIFEST_NAME).write_text("metric = 'rmse'\n")
    seen = _in_fresh_python(
        "import json, sys, dojo_kernel, gymnasium\n"
        f"print(json.dumps({{'heavy': [m for m in {HEAVY!r} if m in sys.modules],\n"
        "    'ids': sorted(k for k in gymnasium.registry if k.startswith('dojo/'))}))", tmp_path)
    assert seen["heavy"] == []
    expected = sorted(f"dojo/{name}-v0" for name in (*builtin.BUILTINS, "my-comp"))
    assert seen["ids"] == expected


def test_the_cheap_list_of_built_in_names_matches_the_built_ins():
    assert names.BUILTIN_NAMES == tuple(builtin.BUILTINS)


def test_public_names_still_resolve(tmp_path):
    seen = _in_fresh_python(
        "import json, dojo_kernel\n"
        "names = ['KernelSession', 'CellResult', 'Limits', 'Grade', 'Competition', 'get_competition',\n"
        "         'list_competitions', 'TrajectoryRecorder', 'replay', 'DojoEnv', 'make']\n"
        "print(json.dumps({n: getattr(dojo_kernel, n).__module__ for n in names}))", tmp_path)
    assert seen["replay"] == "dojo_kernel.replay" and seen["TrajectoryRecorder"] == "dojo_kernel.trajectory"
    assert seen["make"] == "dojo_kernel.env"


def test_the_recorder_imports_neither_the_kernel_nor_the_sandbox(tmp_path):
    seen = _in_fresh_python(
        "import json, sys, dojo_kernel.trajectory, dojo_kernel.exports, dojo_kernel.report\n"
        "print(json.dumps([m for m in ('dojo_kernel.kernel', 'dojo_kernel.isolation', 'dojo_kernel.limits',\n"
        "                              'dojo_kernel.agents') if m in sys.modules]))", tmp_path)
    assert seen == []
