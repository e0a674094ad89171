"""Tiny scripted agents for the batch's tests, given to a batch as "batch.agents:Class"
(pytest puts tests/ on the import path, as tests/batch is a package; workers inherit it)."""

from __future__ import annotations

import os
import time

from dojo_kernel.batch.progress import _POLL_S

# The first cell copies the sample submission into place and notes what the kernel was given,
# so a test can check the GPU index and CPU share each episode received.
_SUBMIT_SAMPLE = """
import os, shutil
shutil.copy("input/sample_submission.csv", "working/submission.csv")
with open("working/limits_seen.txt", "w") as f:
    f.write(os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>") + "\\n" + os.environ.get("OMP_NUM_THREADS", "<unset>"))
"""


class SubmitSampleAgent:
    """Writes the sample submission, then submits it as final: two steps."""

    name = "submit-sample"

    def reset(self, observation):
        self._steps = 0

    def act(self, observation):
        self._steps += 1
        if self._steps == 1:
            return {"action": "execute_code", "code": _SUBMIT_SAMPLE}
        return {"action": "submit", "final": True}


class FailingAgent:
    """Raises on its first action: an episode whose code fails."""

    def reset(self, observation):
        pass

    def act(self, observation):
        raise RuntimeError("this agent always fails")


class DyingAgent:
    """Starts a background process from its kernel, then ends its own process: an episode
    whose worker dies, leaving a process that the batch must clean up."""

    def reset(self, observation):
        self._steps = 0

    def act(self, observation):
        self._steps += 1
        if self._steps == 1:
            return {"action": "execute_code", "code": _LEAVE_A_PROCESS}
        # Not a synchronisation: the batch notes a worker's processes each time it polls, and
        # this agent must leave it a few polls to see the kernel's child before the worker dies.
        time.sleep(4 * _POLL_S)
        os._exit(3)


# A process in a session of its own, so that only the batch's clean-up can end it.
_LEAVE_A_PROCESS = """
import subprocess
subprocess.Popen(["sleep", "300"], cwd="working", start_new_session=True)
"""


class MemoryHogAgent:
    """Runs a cell that needs far more memory than its limit, then ends the episode."""

    def reset(self, observation):
        self._steps = 0

    def act(self, observation):
        self._steps += 1
        if self._steps == 1:
            return {"action": "execute_code", "code": "import numpy as np\nblock = np.ones(2**28)  # 2 GiB"}
        return {"action": "submit", "final": True}
