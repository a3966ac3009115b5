"""The app's own messages, named for what happened. Tests assert on these (via `run_test(message_hook=...)`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual.message import Message


@dataclass
class ParamsEdited(Message):
    """The user changed a field of the parameter form; `values` holds every field, keyed by its path."""

    values: dict[str, Any]
    changed: str = ""


@dataclass
class SourceChosen(Message):
    """The user picked what the workload comes from: kind is trace, generator or preset."""

    kind: str
    name: str


@dataclass
class PreviewComputed(Message):
    """A preview finished for the workload described by `key`; `preview` is a studio.preview.Preview."""

    key: str
    preview: Any
    elapsed_s: float


@dataclass
class PreviewFailed(Message):
    """The workload could not be built; `field` names the form field at fault when one is."""

    key: str
    message: str
    field: str | None = None


@dataclass
class TraceLoaded(Message):
    path: str
    requests: int


@dataclass
class FitCompleted(Message):
    """A fit of the loaded trace filled the generator form with `params`; `summary` is its one line (what was
    fitted, which figures were not kept and why), `misses` the labels of the figures not kept."""

    params: dict[str, Any]
    summary: str = ""
    misses: list[str] = field(default_factory=list)


@dataclass
class PresetSaved(Message):
    path: Path


@dataclass
class DraftChanged(Message):
    """A screen changed the app's draft preset (studio.draft); `parts` names what changed (draft.SOURCE, WORKLOAD,
    NAME, TARGET, REPLAY). Screens post it to the app, which passes it on to the other screens."""

    parts: tuple[str, ...]
    origin: str = ""  # the id of the screen that changed it
    relayed: bool = False  # the app's copy to a screen; the app ignores it when it bubbles back


@dataclass
class TargetChanged(Message):
    """The target kind or URL changed (shown in every screen's tab bar)."""

    description: str


@dataclass
class RunStarted(Message):
    run_dir: Path
    preset: Path


@dataclass
class RunEventsReceived(Message):
    """A batch of the engine's JSON-line events, read since the last batch."""

    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ChartsRedrawn(Message):
    """The live charts drew `points` points in total (one message per redraw)."""

    points: int


@dataclass
class RunFinished(Message):
    run_dir: Path
    returncode: int | None
    stopped: bool = False
    error: str | None = None


@dataclass
class RunsRefreshed(Message):
    runs: list[str]
