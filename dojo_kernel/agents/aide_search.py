"""The `aideml` package's search, with dojo-kernel in place of its interpreter and its reviewer.

AIDE (the `aide` package that `pip install aideml` provides) keeps a Journal of Nodes and, at
every step, picks one with its search policy: draft a new solution, debug a buggy leaf, or
improve the best one. It writes each node's code with one LLM prompt per stage, runs it in its
own interpreter, and asks the LLM a second time to review the output (is it buggy, what is the
validation metric). Here, as in MLE-Dojo's AIDE, the code runs in the env and the node's
feedback is what the env observed: the cell's status, its output and errors, and the score of
the submission it wrote, graded on the public split. No review prompt is sent.

`AideSearch` subclasses aide's `Agent`: its search policy, its prompts (draft, improve, debug),
its code extraction and its Journal are aide's own. It changes three things: the prompt goes
to our chat endpoint (`chat(text) -> reply`); a child that runs in a fork of its parent's
kernel is told so (write only what changes); and `absorb` fills a node from an observation.

Importing aide has process-wide side effects (its config module mutes `warnings.warn` for the
whole process and configures the root logger); `_undone_side_effects` undoes them.
"""

from __future__ import annotations

import contextlib
import logging
import random
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def _undone_side_effects() -> Iterator[None]:
    warn, showwarning = warnings.warn, warnings.showwarning
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        warnings.warn, warnings.showwarning = warn, showwarning
        root.handlers[:] = handlers
        root.setLevel(level)


with _undone_side_effects():  # an ImportError goes to AideAgent, which says what to install
    import aide.agent
    from aide.backend.utils import compile_prompt_to_md
    from aide.interpreter import ExecutionResult
    from aide.journal import Journal
    from aide.utils import data_preview
    from aide.utils.metric import MetricValue, WorstMetricValue
    from aide.utils.response import extract_code, extract_text_up_to_code
    from omegaconf import OmegaConf

_AIDE_CONFIG = Path(aide.agent.__file__).parent / "utils" / "config.yaml"  # aide's defaults

FORK_GUIDELINE = ("Your code runs in a fork of the Python kernel that ran the previous solution: every variable "
                  "it defined (loaded data, features, fitted models) is still in memory, as it was when that code "
                  "stopped. Write only the code to run next: reuse those variables, and do not reload the data or "
                  "refit what you keep. Still write working/submission.csv again.")


@dataclass
class Outcome:
    """What the env observed of one node's code: its last cell's status, the feedback text of
    each cell, the public score of the submission it wrote (None: none graded or invalid)."""

    status: str
    feedback: list[str]
    graded: bool
    score: float | None
    seconds: float


class AideSearch(aide.agent.Agent):
    """aide's Agent, asking `chat` for code and told by the env how the code did."""

    def __init__(self, task_desc: str, cfg: Any, chat: Callable[[str], str], *, maximize: bool,
                 rng: random.Random | None = None) -> None:
        super().__init__(task_desc, cfg, Journal())
        self._chat = chat
        self.maximize = maximize
        self.rng = rng
        self.in_fork = False  # the node being written runs in a fork of its parent's kernel

    # -- aide's hooks ----------------------------------------------------------------

    def plan_and_code_query(self, prompt: Any, retries: int = 3) -> tuple[str, str]:
        """aide's query loop (plan + one code block, asked again when either is missing), sent as
        one user message: some local servers refuse a conversation without one."""
        reply = ""
        for _ in range(retries):
            reply = self._chat(compile_prompt_to_md(prompt))
            code = extract_code(reply)
            plan = extract_text_up_to_code(reply)
            if code and plan:
                return plan, code
        return "", reply

    @property
    def _prompt_impl_guideline(self) -> dict[str, list[str]]:
        guideline = list(super()._prompt_impl_guideline["Implementation guideline"])
        if self.in_fork:
            guideline = [FORK_GUIDELINE if "self-contained" in line else line for line in guideline]
        return {"Implementation guideline": guideline}

    # -- one step, split where the env runs the code ------------------------------------

    def propose(self, can_fork: Callable[[Any], bool]) -> tuple[Any, Any, bool]:
        """aide's Agent.step up to running the code: (new node, its parent or None, whether it
        was written to run in a fork of its parent's kernel)."""
        with self._seeded():
            parent = self.search_policy()
            in_fork = self.in_fork = parent is not None and can_fork(parent)
            try:
                if parent is None:
                    node = self._draft()
                elif parent.is_buggy:
                    node = self._debug(parent)
                else:
                    node = self._improve(parent)
            finally:
                self.in_fork = False
        return node, parent, in_fork

    def absorb(self, node: Any, outcome: Outcome, where: str) -> None:
        """Fill `node` from the env's observation (aide's parse_exec_result, without the review
        prompt) and add it to the journal."""
        exc_type = None if outcome.status == "ok" else outcome.status
        term_out = list(outcome.feedback)
        if outcome.status == "ok" and not outcome.graded:
            term_out.append("The code did not write a new working/submission.csv, so it was not graded.")
        node.absorb_exec_result(ExecutionResult(term_out=term_out, exec_time=outcome.seconds,
                                                        exc_type=exc_type))
        node.is_buggy = exc_type is not None or outcome.score is None
        if node.is_buggy:
            node.metric = WorstMetricValue()
            node.analysis = (f"The code failed ({outcome.status}) {where}." if exc_type else
                             f"The code ran {where} but produced no valid submission.")
        else:
            node.metric = MetricValue(outcome.score, maximize=self.maximize)
            node.analysis = f"Public leaderboard score {outcome.score:.6g}; ran in {outcome.seconds:.1f}s {where}."
        self.journal.append(node)

    def wanted(self, node: Any) -> bool:
        """Whether aide's search policy can still pick `node` as a parent: the best good node, or
        a buggy leaf not yet debugged too deep. (A good node that is not the best never becomes
        the best again: metrics do not change.)"""
        if node.is_buggy:
            return node.is_leaf and node.debug_depth <= self.acfg.search.max_debug_depth
        return node is self.journal.get_best_node()

    @contextlib.contextmanager
    def _seeded(self) -> Iterator[None]:
        """aide draws from the `random` module; with a seed, from this agent's own generator,
        leaving the process's generator as it was."""
        if self.rng is None:
            yield
            return
        outside = random.getstate()
        random.setstate(self.rng.getstate())
        try:
            yield
        finally:
            self.rng.setstate(random.getstate())
            random.setstate(outside)


def make_config(*, steps: int, timeout_s: float, model: str, temperature: float | None, **search: Any) -> Any:
    """aide's own config.yaml with this run's settings (None leaves aide's default)."""
    cfg: Any = OmegaConf.load(_AIDE_CONFIG)
    cfg.agent.steps = steps
    cfg.agent.code.model = model
    if temperature is not None:
        cfg.agent.code.temp = temperature
    cfg.exec.timeout = int(timeout_s)
    for key, value in search.items():
        if value is None:
            continue
        if key in ("num_drafts", "debug_prob", "max_debug_depth"):
            cfg.agent.search[key] = value
        else:
            cfg.agent[key] = value
    return cfg


def data_overview(public_dir: Path | None) -> str | None:
    """aide's data preview of the competition's public files (its prompts' "Data Overview")."""
    if public_dir is None:
        return None
    try:
        return data_preview.generate(Path(public_dir))
    except Exception:  # noqa: BLE001  (a file it cannot read leaves the prompt without a preview)
        return None
