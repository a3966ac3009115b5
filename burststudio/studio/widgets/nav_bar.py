"""The one-line tab bar at the top of every screen: the three screens (current one highlighted) and the target."""

from __future__ import annotations

from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Static

SCREENS = (("workload", "Workload", "F1"), ("replay", "Replay", "F2"), ("results", "Results", "F3"))


class NavBar(Static):
    DEFAULT_CSS = """
    NavBar { height: 1; background: $panel; }
    """

    current: reactive[str] = reactive("workload")
    target: reactive[str] = reactive("")

    def __init__(self, current: str, target: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.set_reactive(NavBar.current, current)
        self.set_reactive(NavBar.target, target)

    def render(self) -> Content:
        parts = ["[b] BurstStudio [/b]"]
        for mode, label, key in SCREENS:
            style = "reverse b" if mode == self.current else "b"
            parts.append(f"[{style} @click=app.show('{mode}')] {label} [/][dim]{key}[/]")
        parts.append("  [dim]target:[/] [b]$target[/]")
        return Content.from_markup(" ".join(parts), target=self.target)
