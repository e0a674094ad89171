"""`DojoEnv`: a Kaggle-style competition as a Gymnasium environment, one persistent kernel per episode.

    env = dojo_kernel.make("penguins", max_steps=20, memory_gb=4)
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step({"action": "execute_code", "code": "..."})

An episode: `reset()` hands out a fresh run dir (`input/` the public data, `working/` the
agent's) with a ready kernel from the warm pool; each `step()` runs an action, grades
`working/submission.csv` on the public split when the action produced or submitted one,
turns the grade into a reward and records the step. The episode ends with
`submit(final=True)` (terminated) or when the step or time budget runs out (truncated); then
the final submission is graded once on the private split and `summary.json` is written.

`info` holds only the keys that have a value (read it with `.get()`), so that Gymnasium's
vector envs can batch it. In `AsyncVectorEnv`, pass `shared_memory=False` (free text cannot
live in Gymnasium's shared memory) and prefer `context="spawn"`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import gymnasium
from gymnasium.error import ResetNeeded

from . import branching, hints, tracebacks
from . import compact as compact_text  # compact feedback; `compact` below is the info helper
from . import feedback as text
from .actions import Action, ActionError, parse_action
from .async_steps import async_executor
from .competition import Competition, get_competition, list_competitions
from .env_output import base_info, observation, record_step, step_info
from .episode_state import Episode, Outcome, compact, file_stamp
from .episode_summary import episode_summary
from .errors import ConfigError, KernelDeadError, expected, safe_repr
from .extensions import feedback_formatter, resolve
from .figures import MAX_FIGURES, save_figures
from .grading import Grade, Split
from .kernel import CellResult, KernelSession, default_launch_spec
from .pool import WarmPool
from .registered import env_context, format_feedback, listed, run_registered
from .rewards import RewardTracker
from .rundir import WORKING_DIR, RunDir, Workspace, new_run_dir, open_workspace
from .seeding import HASH_SEED
from .settings import FEEDBACK_STYLES, GRADE_SPLITS, EnvSettings  # noqa: F401  (EnvSettings stays importable from here)
from .spaces import ActionSpace, observation_space
from .trajectory import TrajectoryRecorder
from .usage import add_usage, check_usage


class DojoEnv(gymnasium.Env):
    """One competition, one persistent kernel per episode. See the module docstring and DESIGN.md."""

    metadata = {"render_modes": ["ansi"], "render_fps": 1}

    def __init__(self, competition: str | Competition, *, output_dir: str | os.PathLike[str] | None = None,
                 render_mode: str | None = None, actions: Any = None, info_providers: Any = None,
                 feedback: Any = None, **settings: Any):
        if isinstance(feedback, str) and feedback in FEEDBACK_STYLES:  # a built-in style, not a formatter
            settings["feedback"], feedback = feedback, None
        self.settings = EnvSettings.from_kwargs(**settings)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ConfigError(expected("render_mode 'ansi' or None", render_mode))
        self.render_mode = render_mode
        if isinstance(competition, str):
            self.competition = get_competition(competition)
        elif isinstance(competition, Competition):
            self.competition = competition
        else:
            raise ConfigError(expected("a competition name or a Competition", competition,
                                       f"known names: {', '.join(list_competitions())}"))
        self.output_dir = Path(output_dir if output_dir is not None else Path("runs") / self.competition.name).resolve()
        # How every kernel of this env is launched, decided once: the data root (every
        # competition's answers) and this one's private/ stay out of the kernel's view.
        self.launch = default_launch_spec(self.settings.limits, isolation=self.settings.isolation,
                                          allow_network=self.settings.allow_network,
                                          input_source=self.competition.public_dir,
                                          env={"PYTHONHASHSEED": HASH_SEED, **(self.settings.kernel_env or {})},
                                          hidden_paths=[self.competition.private_dir])
        self.isolation_plan = self.launch.plan
        # The actions and info types: built-ins, every registered one, those passed here and
        # those the competition's settings name (names only, resolved against the registry).
        self.action_set = resolve(list(self.competition.extra_actions) + listed(actions, "actions"),
                                  list(self.competition.extra_info) + listed(info_providers, "info_providers"))
        self.feedback_name, self._formatter = feedback_formatter(feedback)
        if self._formatter is None:
            self.feedback_name = self.settings.feedback  # compact | full
        self._observation_actions = ("reset", "invalid") + self.action_set.names
        self.action_space = ActionSpace(self.settings.max_code_chars, action_set=self.action_set)
        self.observation_space = observation_space(self.settings.max_feedback_chars, self.action_set.names, MAX_FIGURES)
        self.run_dir: Path | None = None
        self._episode: Episode | None = None
        self._last_feedback = ""
        self._async_lock = threading.Lock()  # astep/areset: one call at a time per env
        self._pool: WarmPool | None = None  # started on the first reset: the constructor stays cheap
        # Ending an episode's kernel takes a moment; it happens off the caller's path, and
        # close() waits for it so that nothing is left running.
        self._closer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dojo-kernel-closer")
        self._closed = False
        self._info_cache: dict[str, str] = {}
        self._info_lock = threading.Lock()

    # ---------------------------------------------------------------- Gymnasium API

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        if options is not None and not isinstance(options, dict):
            raise ConfigError(expected("options as a dict or None", options))
        if options:
            raise ConfigError(expected("no reset options (DojoEnv takes none)", sorted(options)))
        if self._closed:
            raise KernelDeadError("expected an open env, got one that was closed; "
                                  "make a new one with dojo_kernel.make()")
        started = time.perf_counter()
        if self._episode is not None:
            self._end_episode("reset")
        if self._pool is None:
            self._pool = WarmPool(self._start_workspace, self.settings.warm_pool, self.settings.warm_pool_max)
        warm = self._pool.ready > 0
        workspace = self._pool.take()
        self.run_dir = workspace.run_dir
        feedback = text.first_observation(self.competition, self.isolation_plan.warning, self._budget_text(),
                                          self.action_set)
        # A warm workspace comes with its record prepared and fsynced in the pool's thread
        # (kernel.json, a valid notebook); one started here gets them now.
        recorder = workspace.recorder if workspace.recorder is not None else self._prepare_record(workspace)
        recorder.begin(feedback)  # no fsync: the first step's record writes the notebook whole
        self._episode = Episode(workspace.run_dir, workspace.session, recorder,
                                 RewardTracker(self.settings.reward_mode, self.competition.higher_is_better), seed)
        workspace.session.seed(seed)  # warm kernels started before the seed was known
        obs = observation(self, feedback, action="reset")
        info = base_info(self, action="reset")
        info.update(seed=seed, warm_kernel=warm, timings={"reset_s": time.perf_counter() - started},
                    **compact_text.feedback_size(obs["feedback"]))
        return obs, compact(info)

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        episode = self._episode
        if episode is None:
            raise ResetNeeded("expected reset() before step(), got step() first: call env.reset()")
        started = time.perf_counter()
        if episode.over:
            feedback = ("The episode has ended (" + (episode.end_reason or "done") +
                        "). Call reset() to start a new one.")
            return (observation(self, feedback, action="invalid"), 0.0, episode.terminated, episode.truncated,
                    compact(base_info(self, action="invalid", error=tracebacks.of_action(feedback))))
        episode.steps += 1
        parsed = parse_action(action, max_code_chars=self.settings.max_code_chars, action_set=self.action_set)
        outcome = Outcome()
        if isinstance(parsed, ActionError):
            outcome.action = "invalid"
            outcome.error = parsed.message
            outcome.error_info = tracebacks.of_action(parsed.message)
            outcome.feedback = text.invalid_action(parsed, self.action_set)
        elif self._time_left() == 0.0:
            outcome.action = parsed.name
            outcome.feedback = "The episode's time budget was spent before this action; it did not run."
        else:
            outcome.action = parsed.name
            outcome.message = parsed.message
            if parsed.name == "request_info":
                outcome.arguments = {"info_type": parsed.info_type}
            elif parsed.name == "submit":
                outcome.arguments = {"final": parsed.final}
            elif parsed.fields:
                outcome.arguments = {key: safe_repr(value)[:300] if not isinstance(value, (str, int, float, bool))
                                     else value for key, value in parsed.fields.items()}
            self._act(parsed, outcome)

        terminated = outcome.final
        truncated = False
        if not terminated:
            if self._time_left() == 0.0:
                truncated, episode.end_reason = True, "episode_time"
            elif self.settings.max_steps is not None and episode.steps >= self.settings.max_steps:
                truncated, episode.end_reason = True, "max_steps"
        elif episode.end_reason is None:
            episode.end_reason = "final_submit"
        if terminated or truncated:
            episode.terminated, episode.truncated = terminated, truncated
            outcome.reward += self._grade_final(episode)
            outcome.feedback += "\n\n" + text.episode_end(episode.end_reason, episode.final_grade,
                                                            episode.final_public_grade, self.competition)
        else:
            outcome.feedback += "\n\n" + self._budget_text()
        episode.total_reward += outcome.reward
        if self._formatter is not None:
            outcome.feedback = format_feedback(self._formatter, outcome, episode.steps)

        obs = observation(self, outcome.feedback, action=outcome.action, outcome=outcome)
        info = step_info(self, outcome, started)
        info.update(compact_text.feedback_size(obs["feedback"]))
        record_step(self, episode, action, outcome, obs, info)
        if terminated or truncated:
            self._close_episode(episode)
        return obs, float(outcome.reward), terminated, truncated, compact(info)

    def fork(self, n: int | None = None) -> DojoEnv | list[DojoEnv]:
        """Independent envs at this step of this episode (history, budget, rewards, best score,
        and a copy-on-write fork of the kernel), each in its own run dir whose notebook starts
        with this episode's cells marked inherited; recorded in <output_dir>/tree.json.
        fork() gives one env; fork(n) a list of n. Raises ForkError if the kernel holds a GPU."""
        return branching.fork_env(self, n)

    @property
    def session(self) -> KernelSession | None:
        """The running episode's kernel session (None between episodes), e.g. for a live view."""
        return self._episode.session if self._episode is not None else None

    def record_usage(self, **usage: Any) -> None:
        """Tokens and cost of producing the next action (prompt_tokens, completion_tokens,
        total_tokens, cost_usd, requests): kept in that step's rewards.jsonl line, summed in
        summary.json. Calls before one step add up."""
        if self._episode is None:
            raise ResetNeeded("expected reset() before record_usage(), got record_usage() first: call env.reset()")
        add_usage(self._episode.pending_usage, check_usage(usage))

    def render(self) -> str | None:
        return self._last_feedback if self.render_mode == "ansi" else None

    def close(self) -> None:
        """End the episode (grading its final submission on the private split and writing
        summary.json) and every kernel the env started. Safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._episode is not None:
                self._end_episode("close")
        finally:
            if self._pool is not None:
                self._pool.close()
            self._closer.shutdown(wait=True)

    # ---------------------------------------------------------------- actions

    def _act(self, action: Action, outcome: Outcome) -> None:
        """Run the action: a built-in by the env's own method, a registered one by its handler."""
        spec = self.action_set.actions[action.name]  # parse_action only returns the env's names
        if spec.builtin:
            _BUILTIN_ACTIONS[action.name](self, action, outcome)
        else:
            run_registered(spec, env_context(self, ran := []), ran, action.fields, outcome)

    def _restart_kernel(self, action: Action, outcome: Outcome) -> None:
        episode = self._episode
        assert episode is not None
        started = time.perf_counter()
        episode.session.restart()
        episode.kernel_restarts += 1
        self._write_kernel_pointer(episode)
        outcome.kernel_restarted = True
        outcome.timings["restart_s"] = time.perf_counter() - started
        outcome.feedback = "The kernel was restarted: every variable is gone; files in working/ remain."

    def _run_code(self, action: Action, outcome: Outcome, *, grade: bool) -> None:
        episode = self._episode
        assert episode is not None and action.code is not None
        submission = self._submission_path()
        before = file_stamp(submission)
        result = episode.session.run(action.code, timeout=self._cell_timeout())
        outcome.code = action.code
        outcome.result = result
        outcome.status = result.status
        outcome.kernel_restarted = result.restarted
        outcome.timings["cell_s"] = result.duration_s
        outcome.figures = save_figures(episode.run_dir, episode.steps, result.outputs)
        if result.restarted:
            episode.kernel_restarts += 1
            self._write_kernel_pointer(episode)
        if result.limit_event is not None:
            episode.limit_events.append({"step": episode.steps, **dataclasses.asdict(result.limit_event)})
        if result.status != "ok" and result.error is not None:
            outcome.error = f"{result.error.name}: {result.error.value}"
        elif result.status != "ok":
            outcome.error = result.status
        outcome.error_info = tracebacks.of_cell(result)
        episode.last_traceback = tracebacks.traceback_text(result) or episode.last_traceback
        parts = []
        after = file_stamp(submission)
        if grade and after is not None and after != before:
            parts.append(self._grade_text(self._grade(submission, outcome)))
        elif grade and after is None and before is not None:
            parts.append(f"Note: the cell removed {self._submission_relpath()}.")
        parts.insert(0, self._cell_text(action, result, sum(len(part) + 2 for part in parts)))
        outcome.feedback = "\n\n".join(part for part in parts if part)

    def _submit(self, outcome: Outcome, *, final: bool) -> None:
        episode = self._episode
        assert episode is not None  # step() returns before any action when there is no episode
        submission = self._submission_path()
        if submission.exists():
            outcome.feedback = self._grade_text(self._grade(submission, outcome))
        else:
            outcome.graded = True
            outcome.grade = Grade(valid=False, error=self._missing_submission_message(),
                                  split=cast(Split, self.settings.grade_split))  # EnvSettings checks it
            outcome.error = outcome.grade.error
            outcome.error_info = tracebacks.of_grade(outcome.grade)
            outcome.feedback = self._grade_text(outcome.grade)
        outcome.final = final

    def _cell_text(self, action: Action, result: CellResult, used: int) -> str:
        """The cell's part of the feedback, in the chosen style, in what is left of the budget."""
        if self.settings.feedback == "full":
            return text.cell_result(action.name, result)
        episode = self._episode
        assert episode is not None
        hint = hints.for_cell(result, session=episode.session, run_dir=episode.run_dir,
                              public_dir=Path(self.competition.public_dir),
                              memory_gb=self.settings.limits.memory_gb, seen=episode.hints_seen)
        budget = self.settings.feedback_chars - used - compact_text.RESERVED_CHARS
        return compact_text.cell_view(action.name, result, code=action.code, budget=budget, hint=hint,
                                      where=f"trajectory.ipynb, step {episode.steps}")

    def _grade_text(self, grade: Grade) -> str:
        """The grade as the agent reads it; an invalid one with what the sample looks like."""
        episode = self._episode
        assert episode is not None  # grades come only from steps of a running episode
        graded = text.grade(grade, self.competition, episode.rewards)
        if grade.valid or self.settings.feedback == "full":
            return graded
        hint = hints.for_submission(Path(self.competition.sample_submission_path), self._submission_path(),
                                    self.competition.id_column)
        return graded + ("\n" + hint if hint else "")

    def _grade(self, submission: Path, outcome: Outcome) -> Grade:
        """Grade on the episode's split; the reward follows the grade."""
        episode = self._episode
        assert episode is not None
        started = time.perf_counter()
        grade = self.competition.grade(submission, split=self.settings.grade_split,
                                       allowed_dir=branching.real_working(episode.run_dir))
        outcome.timings["grade_s"] = time.perf_counter() - started
        outcome.graded = True
        outcome.grade = grade
        outcome.reward += episode.rewards.on_grade(grade, episode.steps)
        episode.last_grade = grade
        if not grade.valid:
            outcome.error = outcome.error or grade.error
            outcome.error_info = outcome.error_info or tracebacks.of_grade(grade)
        return grade

    # ---------------------------------------------------------------- the episode's end

    def _grade_final(self, episode: Episode) -> float:
        """Grade the final submission once on the private split (and, for the report, on the
        episode's split); returns the reward that mode `final` pays for it."""
        submission = self._submission_path(episode)
        if submission.exists():
            allowed = branching.real_working(episode.run_dir)
            episode.final_grade = self.competition.grade(submission, split="private", allowed_dir=allowed)
            episode.final_public_grade = self.competition.grade(submission, split=self.settings.grade_split,
                                                                allowed_dir=allowed)
        else:
            message = self._missing_submission_message()
            episode.final_grade = Grade(valid=False, error=message, split="private")
            episode.final_public_grade = Grade(valid=False, error=message, split=cast(Split, self.settings.grade_split))
        return episode.rewards.on_final(episode.final_grade)

    def _end_episode(self, reason: str) -> None:
        """End a running episode from outside step() (reset or close): grade, summarise, release."""
        episode = self._episode
        if episode is None:
            return
        if not episode.over:
            episode.end_reason = reason
            episode.truncated = True
            self._grade_final(episode)
            self._close_episode(episode, keep=episode.steps > 0 or branching.was_forked(self.output_dir, episode.run_dir))
        self._episode = None

    def _close_episode(self, episode: Episode, keep: bool = True) -> None:
        """Write the summary and end the kernel. An episode that took no step (check_env's
        resets, a reset followed by close) records nothing: its run dir goes with the kernel."""
        summary = episode_summary(self, episode)
        episode.recorder.close(summary)
        if keep:
            branching.note_closed(self.output_dir, episode.run_dir, summary)
            self._closer.submit(branching.close_session, episode.session, episode.run_dir)
        else:
            self._closer.submit(functools.partial(_close_and_remove, episode.session, episode.run_dir))

    # ---------------------------------------------------------------- asyncio API

    async def areset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        """`reset()` without blocking the event loop: it runs in a worker thread."""
        return await self._off_loop(lambda: self.reset(seed=seed, options=options))

    async def astep(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        """`step()` without blocking the event loop, so one process can drive hundreds of
        episodes: the step waits on its kernel in a worker thread while the loop runs others."""
        return await self._off_loop(lambda: self.step(action))

    async def _off_loop(self, call: Any) -> Any:
        def locked() -> Any:
            with self._async_lock:  # one call at a time per env, in the order they came
                return call()
        return await asyncio.get_running_loop().run_in_executor(async_executor(), locked)

    # ---------------------------------------------------------------- workspaces

    def _start_workspace(self) -> Workspace:
        """A fresh run dir with a ready kernel in it and its record prepared (runs in the warm
        pool's thread: the fsynced writes happen here, off reset()'s path)."""
        run_dir = new_run_dir(self.output_dir)
        workspace = None
        try:
            workspace = open_workspace(run_dir, launch=self.launch, limits=self.settings.limits,
                                       startup_timeout=self.settings.startup_timeout_s)
            self._prepare_record(workspace)
            return workspace
        except BaseException:
            if workspace is not None:
                workspace.session.close()
            shutil.rmtree(run_dir, ignore_errors=True)
            raise

    def _prepare_record(self, workspace: Workspace) -> TrajectoryRecorder:
        """kernel.json and a prepared recorder (a valid notebook, no episode yet) in the workspace."""
        self._point_to_kernel(RunDir(workspace.run_dir), workspace.session)
        workspace.recorder = TrajectoryRecorder(
            workspace.run_dir, competition=self.competition.name, agent=self.settings.agent,
            limits=self.settings.limits, settings={
                **self.settings.to_dict(), "feedback": self.feedback_name,
                "custom_actions": self.action_set.custom, "custom_info_types": self.action_set.custom_infos},
            extra_actions=tuple(self.action_set.custom), begin=False)
        return workspace.recorder

    def _write_kernel_pointer(self, episode: Episode) -> None:
        """kernel.json: where `dojo attach` finds the running kernel of this run dir."""
        self._point_to_kernel(episode.files, episode.session)

    @staticmethod
    def _point_to_kernel(files: RunDir, session: KernelSession) -> None:
        connection_file = session.connection_file
        if connection_file is not None:  # None only once the session is closed: nothing to attach to
            files.write_kernel_pointer(connection_file, session.pid, session.connection_info)

    def _submission_path(self, episode: Episode | None = None) -> Path:
        episode = episode or self._episode
        assert episode is not None
        return branching.real_working(episode.run_dir) / self.competition.submission_file

    def _submission_relpath(self) -> str:
        return f"{WORKING_DIR}/{self.competition.submission_file}"

    def _missing_submission_message(self) -> str:
        return (f"expected a submission at {self._submission_relpath()}, got no such file. Write it with e.g. "
                f"predictions.to_csv('{self._submission_relpath()}', index=False), in the format of "
                f"input/{Path(self.competition.sample_submission_path).name}")

    # ---------------------------------------------------------------- budget

    def _time_left(self) -> float | None:
        limit = self.settings.limits.episode_time_s
        if limit is None:
            return None
        return max(0.0, limit - (self._episode.elapsed() if self._episode else 0.0))

    def _steps_left(self) -> int | None:
        if self.settings.max_steps is None:
            return None
        return max(0, self.settings.max_steps - (self._episode.steps if self._episode else 0))

    def _cell_timeout(self) -> float | None:
        """The cell's own limit, cut to what is left of the episode's time."""
        limits = [value for value in (self.settings.limits.cell_timeout_s, self._time_left()) if value is not None]
        return max(1.0, min(limits)) if limits else None

    def _budget(self) -> dict[str, Any]:
        episode = self._episode
        return {
            "steps_used": episode.steps if episode else 0,
            "max_steps": self.settings.max_steps,
            "steps_left": self._steps_left(),
            "time_used_s": episode.elapsed() if episode else 0.0,
            "episode_time_s": self.settings.limits.episode_time_s,
            "time_left_s": self._time_left(),
        }

    def _budget_text(self) -> str:
        return text.budget(self._budget())

    # ---------------------------------------------------------------- info texts

    def _info_text(self, info_type: str) -> str:
        if info_type == "limits":
            return text.limits_info(self.settings.limits, self._budget(), self.isolation_plan)
        if info_type == "all":
            return "\n\n".join(self._info_text(kind) for kind in
                               ("overview", "metadata", "data_path", "output_path", "data_structure",
                                "sample_submission", "limits", *self.action_set.custom_infos))
        spec = self.action_set.infos[info_type]
        if not spec.builtin and spec.provider is not None:  # a registered provider: fresh each time, it may read the kernel
            try:
                return f"## {info_type}\n\n" + str(spec.provider(env_context(self, [])))
            except Exception as error:  # noqa: BLE001  (the provider is not the env's code)
                return f"The info provider {info_type} failed: {type(error).__name__}: {safe_repr(error)[:500]}"
        with self._info_lock:  # the competition does not change: its texts are made once
            if info_type not in self._info_cache:
                self._info_cache[info_type] = text.competition_info(self.competition, info_type,
                                                                    self._submission_relpath())
            return self._info_cache[info_type]


def make(competition: str | Competition, *, output_dir: str | os.PathLike[str] | None = None,
         **settings: Any) -> DojoEnv:
    """A DojoEnv for `competition`; see EnvSettings for the settings. Run dirs go under
    `output_dir` (default ./runs/<competition>/), one per episode. `actions=` (names, or a
    {name: handler} dict), `info_providers=` and `feedback=` extend the env (extensions.py)."""
    return DojoEnv(competition, output_dir=output_dir, **settings)


# The built-in actions' methods: the registry says which names are built-in, this says how they run.
_BUILTIN_ACTIONS: dict[str, Any] = {
    "request_info": lambda env, action, outcome: setattr(outcome, "feedback", (
        tracebacks.last_traceback(env._episode.last_traceback) if action.info_type == "traceback"
        else env._info_text(action.info_type or "all"))),
    "validate_code": lambda env, action, outcome: env._run_code(action, outcome, grade=False),
    "execute_code": lambda env, action, outcome: env._run_code(action, outcome, grade=True),
    "submit": lambda env, action, outcome: env._submit(outcome, final=action.final),
    "restart_kernel": DojoEnv._restart_kernel,
    "get_history": lambda env, action, outcome: setattr(outcome, "feedback", text.history(
        env._episode.history, env.competition)),
}


def _close_and_remove(session: KernelSession, run_dir: Path) -> None:
    session.close()
    shutil.rmtree(run_dir, ignore_errors=True)
