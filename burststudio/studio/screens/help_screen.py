"""The help screen (`?`): the screens, their keys and the flows, in one page."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# BurstStudio

**Workload** (F1): pick a trace, a generator or a preset on the left and edit its parameters; the preview on the
right follows each change (the orange curve over the gap histogram is the best-fitting inter-arrival family).
*Fit* turns a loaded trace into a generator that reproduces it; *Save* writes a TOML preset to `presets/` (a loaded
preset keeps everything the form does not show).

**Replay** (F2): choose the target (`sim` needs no server), then *Start*. The engine runs as its own process; the
line under the controls shows the target starting, then its model and KV capacity; the charts show requests/s,
rolling TTFT and ITL, KV-cache usage, queueing, failures and lateness, and the table the latest finished requests.
*Stop* ends the run and keeps its results.

**Results** (F3): the runs in `runs/`. Select one to read what it ran against, how it ended (done, stopped, the
target died; every planned request accounted for) and its figures, with its course over time: arrivals, TTFT p50
and p99, failures and KV-cache usage on one time axis, burst episodes shaded. A run stopped while its target was
starting shows as *start-up* (no requests). Mark two or more with `space` and press `c` to compare them: the
figures side by side, every compared run overlaid in the charts, until `escape` (or `c` again).

| Key | Does |
|---|---|
| F1 / F2 / F3 | Workload / Replay / Results |
| ctrl+p | command palette |
| ctrl+s | save the workload as a preset |
| ctrl+r | start a replay of the current workload |
| ctrl+x | stop the replay |
| ? | this help (escape closes it) |
| space | Results: mark or unmark the run under the cursor |
| c | Results: compare the marked runs (again: back to one run) |
| escape | Results: back to one run |
| g | Results: read `runs/` again |
| h | Results: write the HTML report of the run shown (or the compared runs) and say where |
| ctrl+p, Screenshot | save an SVG of the screen in the run shown (else the current folder); the note says where |
| ctrl+q | quit (a running replay is stopped, its results kept) |
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Markdown(HELP)
