"""The GPU watchdog on a real GPU: a session with gpu_memory_gb=2 allocates 4 GB with torch in
a cell; print how it was stopped and how long it took. Without a GPU, say so and exit 0.

    python bench/gpu_watchdog.py
"""

from __future__ import annotations

import sys
import tempfile
import time

from dojo_kernel.kernel import KernelSession
from dojo_kernel.limits import NVML, Limits

CELL = """
import time, torch
start = time.time()
blocks = []
for _ in range(16):  # 256 MB more every 50 ms, up to 4 GB
    blocks.append(torch.ones(256 * 2**20, dtype=torch.uint8, device="cuda"))
    torch.cuda.synchronize()
    time.sleep(0.05)
print("allocated", sum(b.numel() for b in blocks) / 2**30, "GB: the watchdog did not stop it")
"""


def main() -> int:
    if not NVML.available():
        print(f"no NVIDIA GPU here ({NVML.error}); nothing to measure")
        return 0
    import importlib.util
    if importlib.util.find_spec("torch") is None:  # the kernel imports it; say so clearly here
        print("torch is not installed; install it to run this benchmark")
        return 0
    workdir = tempfile.mkdtemp(prefix="dk-gpu-")
    with KernelSession(workdir, Limits(gpu_device=0, gpu_memory_gb=2, memory_gb=None, cell_timeout_s=120),
                       isolation="none") as session:
        warm = session.run("import torch; torch.zeros(1, device='cuda'); torch.cuda.get_device_name(0)")
        print("device:", warm.text.strip(), "| warnings:", session.warnings or "none")
        began = time.monotonic()
        result = session.run(CELL)
        elapsed = time.monotonic() - began
    print(f"status: {result.status}; limit event: {result.limit_event}")
    print(f"peak GPU bytes: {result.peak_gpu_bytes}; cell wall time to the kill: {elapsed:.3f} s "
          f"(the allocation needs about 8 steps of 50 ms to cross 2 GB)")
    print(result.text)
    return 0 if result.status == "killed" else 1


if __name__ == "__main__":
    sys.exit(main())
