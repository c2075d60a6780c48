"""Progress of a run: one status line per stage on stderr, and live bars where stderr is a terminal.

Narrow API (what :mod:`unveil.pipeline` calls)::

    rep = Reporter(enabled)              # once per run
    st = rep.start("keypoints")          # a stage begins (its clock starts)
    st.set_total(150)                    # optional: frames to go (a bar with a count)
    st()                                 # one frame done (a callable: pass it as a per-frame hook)
    st.end("done")                       # or "cached", "skipped", "failed"; prints the status line
    st.close()                           # or: no line (an exception ends the run; its error says why)
    rep.close()                          # a stage still open ends as "failed"

Every stage ends with exactly one line ``unveil: [<stage>] <status> in <s> s[ (<n> frames, <r>
frames/s)][; <detail>]`` on stderr (a skipped stage: ``unveil: [<stage>] skipped; <why>``),
terminal or not (logs, CI, ``2> file``). Where stderr is a terminal, or in
Jupyter (``tqdm.auto`` draws a widget there), a live bar shows while the stage runs: frames done of
the total, or ``<stage>: running`` for stages without a frame count; the status lines are written
through ``tqdm.write`` so they never land inside a bar. Without a terminal, a stage with a frame
count also prints ``unveil: [<stage>] <n>/<total> frames, <s> s`` at most every
``heartbeat_s`` seconds (long videos in logs). ``Reporter(False)`` prints nothing.
"""

from __future__ import annotations

import sys
import time

STATUSES = ("done", "cached", "skipped", "failed")
PREFIX = "unveil: ["   # every line this module writes starts with it


def is_status_line(line: str) -> bool:
    """True for a line written by this module (status or heartbeat), e.g. to filter logs."""
    return line.startswith(PREFIX)


class Stage:
    """One stage's clock, frame count and (terminal) bar; made by :meth:`Reporter.start`."""

    def __init__(self, rep: "Reporter", name: str, total: int | None, unit: str):
        self.rep, self.name, self.total, self.unit = rep, name, total, unit
        self.n = 0
        self.t0 = self.last = time.perf_counter()
        self.bar = None
        self.open = True
        if rep.bars:
            self._make_bar()

    def _make_bar(self):
        from tqdm.auto import tqdm  # a notebook widget under Jupyter, text in a terminal

        if self.bar is not None:
            self.bar.close()
        fmt = None if self.total else "{desc}: running"   # (tqdm redraws only on updates: no frozen clock)
        self.bar = tqdm(total=self.total, desc=self.name, unit=self.unit, file=self.rep.stream, leave=False,
                        bar_format=fmt, dynamic_ncols=True)
        if self.n:
            self.bar.update(self.n)

    def set_total(self, total: int | None) -> None:
        """Frames this stage will process (None: unknown)."""
        self.total = int(total) if total else None
        if self.bar is not None:
            self._make_bar()

    def __call__(self, *_args) -> None:
        """One frame done (any arguments are ignored: usable as ``progress(i)`` / ``on_frame(i)``)."""
        self.n += 1
        if self.bar is not None:
            self.bar.update(1)
        elif self.rep.enabled and self.rep.heartbeat_s:
            now = time.perf_counter()
            if now - self.last >= self.rep.heartbeat_s:
                self.last = now
                of = f"/{self.total}" if self.total else ""
                self.rep.write(f"{PREFIX}{self.name}] {self.n}{of} {self.unit}s, {now - self.t0:.0f} s")

    def close(self) -> None:
        """End without a status line (an exception that ends the run: its error line says why)."""
        self.open = False
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def end(self, status: str = "done", detail: str = "") -> float:
        """Close the stage and print its status line; returns its wall seconds. Idempotent."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
        secs = time.perf_counter() - self.t0
        if not self.open:
            return secs
        self.open = False
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.rep.enabled:
            line = f"{PREFIX}{self.name}] {status}" + ("" if status == "skipped" else f" in {secs:.1f} s")
            if self.n:
                line += f" ({self.n} {self.unit}s, {self.n / max(secs, 1e-9):.1f} {self.unit}s/s)"
            if detail:
                line += f"; {detail}"
            self.rep.write(line)
        return secs


class Reporter:
    """Status lines (and bars) for the stages of one run.

    Args:
        enabled: False prints nothing (the batch runner, benchmarks); None is True.
        stream: where to write (default ``sys.stderr`` at construction).
        bars: live bars; None: where ``stream`` is a terminal or under Jupyter.
        heartbeat_s: without bars, a count line at most this often in a counted stage (0: never).
    """

    def __init__(self, enabled: bool | None = True, stream=None, bars: bool | None = None,
                 heartbeat_s: float = 30.0):
        self.enabled = enabled is None or bool(enabled)
        self.stream = stream if stream is not None else sys.stderr
        if bars is None:
            bars = _is_terminal(self.stream) or _in_notebook()
        self.bars = self.enabled and bool(bars)
        self.heartbeat_s = float(heartbeat_s)
        self.stages: list[Stage] = []

    def start(self, name: str, total: int | None = None, unit: str = "frame") -> Stage:
        """Begin stage ``name`` (a short word: ``keypoints``, ``lift``, ``fit``, ...)."""
        st = Stage(self, name, int(total) if total else None, unit)
        self.stages.append(st)
        return st

    def write(self, line: str) -> None:
        if self.bars:
            from tqdm.auto import tqdm

            tqdm.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        """End every stage still open as ``failed`` (an exception left its block)."""
        for st in self.stages:
            if st.open:
                st.end("failed")


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _in_notebook() -> bool:
    ip = sys.modules.get("IPython")
    try:
        shell = ip.get_ipython() if ip is not None else None
    except Exception:
        return False
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


__all__ = ["Reporter", "Stage", "STATUSES", "PREFIX", "is_status_line"]
