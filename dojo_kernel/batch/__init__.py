"""Many episodes: a grid of competitions × agents × seeds, run in parallel on one machine
(worker processes with CPU shares and GPU slots) or as Ray tasks on a cluster.

    from dojo_kernel.batch import build_grid, run_batch
    specs = build_grid(["penguin-species"], ["baseline"], seeds=3, settings={"max_steps": 20})
    result = run_batch(specs, "runs/batch", parallel=2)            # or backend="ray"

The modules: `grid` (which episodes), `slots` (their CPU and GPU shares), `episode` (playing
one, reading its result back), `results` (tables, chart, report), `backend` (the protocol a
backend implements), `local` and `ray` (the two backends), `runner` (the one scheduling and
retry loop), `progress` (the live display). `dojo batch` (in `dojo_kernel.cli`) parses the
command line into these.
"""

from .backend import Backend, Job, Outcome
from .episode import ERROR_FILE, SPEC_FILE, SUMMARY_FILE, EpisodeResult, EpisodeStatus, find_run_dir, is_finished, play_episode
from .grid import EpisodeSpec, Grid, build_grid, load_grid
from .local import LocalBackend
from .ray import RayBackend, RayPlan, ray_plan
from .results import RESULT_COLUMNS, SCORES_CHART, BatchResult, write_batch_report, write_results, write_scores_chart
from .runner import BACKENDS, run_batch
from .slots import Slot, episode_settings, gpu_share_gb, gpu_total_memory_gb, plan_slots

__all__ = [
    "BACKENDS", "ERROR_FILE", "RESULT_COLUMNS", "SCORES_CHART", "SPEC_FILE", "SUMMARY_FILE", "Backend",
    "BatchResult", "EpisodeResult", "EpisodeSpec", "EpisodeStatus", "Grid", "Job", "LocalBackend", "Outcome",
    "RayBackend", "RayPlan", "Slot", "build_grid", "episode_settings", "find_run_dir", "gpu_share_gb",
    "gpu_total_memory_gb", "is_finished", "load_grid", "plan_slots", "play_episode", "ray_plan", "run_batch",
    "write_batch_report", "write_results", "write_scores_chart",
]
