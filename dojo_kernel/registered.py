"""Running what was registered (extensions.py) inside a DojoEnv episode: a registered
action's handler, an info provider's context, a feedback formatter.

Kept apart from env.py so the env only dispatches. Handlers and providers are the
researcher's code, not the env's: what they raise becomes text the agent reads, never an
exception out of `step()`. The context they get leads nowhere near the private answers.
"""

from __future__ import annotations

import time
from typing import Any

from .errors import ConfigError, expected, safe_repr
from .extensions import ActionResult, ActionSpec, EpisodeContext, Feedback, KernelAccess, PublicCompetition


def listed(value: Any, what: str) -> list[Any]:
    """`actions=` / `info_providers=` as a list: names and specs stay, a dict becomes (name, function) pairs."""
    if value is None:
        return []
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, (list, tuple)):
        return list(value)
    raise ConfigError(expected(f"{what} as a list of registered names or a dict of name to function", value))


def env_context(env: Any, ran: list[tuple[str, Any]]) -> EpisodeContext:
    """The context of `env`'s running episode; code run through it is appended to `ran`.

    The kernel is reached through a closure, not the session (whose launch spec names the
    private dir), and the competition through its public view only.
    """
    episode = env._episode
    assert episode is not None

    def run(code: str) -> Any:
        if not isinstance(code, str):
            raise TypeError(f"expected code as a str, got {type(code).__name__}")
        result = episode.session.run(code, timeout=env._cell_timeout())  # the episode's cell limit applies
        ran.append((code, result))
        if result.restarted:
            episode.kernel_restarts += 1
            env._write_kernel_pointer(episode)
        return result

    files = episode.files
    return EpisodeContext(PublicCompetition.of(env.competition), files.path, files.input, files.working,
                          KernelAccess(run), env._budget(), episode.steps)


def run_registered(spec: ActionSpec, context: EpisodeContext, ran: list[tuple[str, Any]],
                   fields: dict[str, Any], outcome: Any) -> None:
    """Call a registered action's handler and fill the step's Outcome as a built-in would."""
    started = time.perf_counter()
    try:
        returned = spec.handler(context, **fields)  # type: ignore[misc]
        result = returned if isinstance(returned, ActionResult) else ActionResult(feedback=str(returned))
    except Exception as error:  # noqa: BLE001  (the handler is not the env's code)
        result = ActionResult(feedback=f"The action {spec.name} failed: {type(error).__name__}: "
                                       f"{safe_repr(error)[:500]}", error=f"{type(error).__name__}: {error}")
    outcome.timings["action_s"] = time.perf_counter() - started
    cell = result.result if result.result is not None else (ran[-1][1] if ran else None)
    outcome.feedback = result.feedback
    outcome.markdown = result.markdown
    outcome.error = result.error
    outcome.reward += float(result.reward)
    outcome.action_info = result.info
    if cell is not None:  # it ran code in the kernel: the notebook shows that code as a cell
        outcome.result = cell
        outcome.status = cell.status
        outcome.kernel_restarted = bool(getattr(cell, "restarted", False))
        outcome.code = result.code if result.code is not None else "\n\n".join(code for code, _ in ran)


def format_feedback(formatter: Any, outcome: Any, step: int) -> str:
    """The step's feedback through the env's feedback formatter (make(feedback=...))."""
    grade = outcome.grade
    view = Feedback(outcome.feedback, outcome.action, step, float(outcome.reward), outcome.graded,
                    grade.score if grade is not None and grade.valid else None, outcome.error)
    return str(formatter(view))
