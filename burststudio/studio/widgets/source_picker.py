"""Where the workload comes from: a trace (from traces/ or a typed path), a generator, or a preset."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Select

from burststudio.studio.messages import SourceChosen

KINDS = [("Generator", "generator"), ("Trace file", "trace"), ("Preset", "preset")]


class SourcePicker(Vertical):
    DEFAULT_CSS = """
    SourcePicker { height: auto; }
    SourcePicker Select { width: 1fr; margin: 0 0 0 0; }
    SourcePicker SelectCurrent { border: none; height: 1; padding: 0 1; }
    SourcePicker Input { height: 1; border: none; padding: 0 1; background: $boost; }
    """

    def __init__(self, traces: list[Path], presets: list[Path], kind: str = "generator", **kwargs) -> None:
        super().__init__(**kwargs)
        self.traces = traces
        self.presets = presets
        self.kind = kind

    def compose(self) -> ComposeResult:
        yield Select(KINDS, value=self.kind, allow_blank=False, id="source-kind", compact=True)
        yield Select([], id="source-item", prompt="choose…", compact=True)
        yield Input(placeholder="or type a trace path, Enter", id="source-path", compact=True)

    def on_mount(self) -> None:
        self._show_kind(self.kind)

    def set_presets(self, presets: list[Path]) -> None:
        """The presets offered, read again (after a save)."""
        self.presets = presets
        if self.kind == "preset":
            item = self.query_one("#source-item", Select)
            current = item.value
            with self.prevent(Select.Changed):
                item.set_options([(p.name, str(p)) for p in presets])
                if current is not Select.NULL and any(str(p) == current for p in presets):
                    item.value = current

    def show_kind(self, kind: str) -> None:
        """Show `kind` as the source without announcing it (the screen already switched)."""
        with self.prevent(Select.Changed):
            self.query_one("#source-kind", Select).value = kind
        self._show_kind(kind)

    def _show_kind(self, kind: str) -> None:
        self.kind = kind
        item = self.query_one("#source-item", Select)
        path = self.query_one("#source-path", Input)
        files = self.traces if kind == "trace" else self.presets if kind == "preset" else []
        with self.prevent(Select.Changed):
            item.set_options([(p.name, str(p)) for p in files])
        item.display = kind in ("trace", "preset")
        path.display = kind == "trace"

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.select.id == "source-kind":
            self._show_kind(str(event.value))
            if self.kind == "generator":
                self.post_message(SourceChosen("generator", "generator"))
        elif event.select.id == "source-item" and event.value is not Select.NULL:
            self.post_message(SourceChosen(self.kind, str(event.value)))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self.post_message(SourceChosen("trace", event.value.strip()))
