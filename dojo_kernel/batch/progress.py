"""The live progress display of a batch (done / running / failed / retried / skipped)."""

from __future__ import annotations

_POLL_S = 0.5  # how often the scheduler wakes to refresh the display and note worker descendants


class _Progress:
    """done / running / failed / skipped and time left, on stderr (silent when disabled)."""

    def __init__(self, total: int, skipped: int, enabled: bool) -> None:
        self.counts: dict[str, int] = {"running": 0, "failed": 0, "retried": 0, "skipped": skipped}
        self._bar = None
        if enabled and total:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("[bold]batch"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("running {task.fields[running]} · failed {task.fields[failed]} · "
                                            "retried {task.fields[retried]} · skipped {task.fields[skipped]}"),
                                 TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
                                 console=Console(stderr=True), transient=False)
            # the four count names are task fields, never add_task's own parameters
            self._task = self._bar.add_task("batch", total=total, **self.counts)  # pyright: ignore[reportArgumentType]
            self._bar.start()

    def update(self, *, advance: int = 0, **changes: int) -> None:
        for name, delta in changes.items():
            self.counts[name] += delta
        if self._bar is not None:
            self._bar.update(self._task, advance=advance, **self.counts)  # pyright: ignore[reportArgumentType]  (task fields, as above)

    def log(self, message: str) -> None:
        if self._bar is not None:
            self._bar.console.print(message, markup=False, highlight=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
