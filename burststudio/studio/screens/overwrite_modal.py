"""Asked before a save replaces a file: overwrite it, save the draft under a free name, or cancel.

The free name is the default (it has the focus), so an Enter pressed by habit never replaces a preset.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

# What the modal answers (its dismiss value).
OVERWRITE, SAVE_AS, CANCEL = "overwrite", "save-as", "cancel"


class OverwriteModal(ModalScreen[str]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, path: Path, free_name: str, note: str = "") -> None:
        super().__init__(id="overwrite-modal")
        self.path = Path(path)
        self.free_name = free_name
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical(id="overwrite-body"):
            yield Static(f"[b]{self.path.name}[/] already exists in {self.path.parent.name}/.", id="overwrite-what")
            if self.note:
                yield Static(self.note, id="overwrite-note")
            yield Static(f"Overwrite it, or save the draft as [b]{self.free_name}.toml[/]?")
            with Horizontal(id="overwrite-buttons"):
                yield Button(f"Save as {self.free_name}", id=SAVE_AS, variant="primary")
                yield Button("Overwrite", id=OVERWRITE, variant="error")
                yield Button("Cancel", id=CANCEL)

    def on_mount(self) -> None:
        self.query_one(f"#{SAVE_AS}", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(str(event.button.id))

    def action_cancel(self) -> None:
        self.dismiss(CANCEL)
