"""The studio app: three screens (Workload, Replay, Results), a help screen and the command palette.

`make_app(config)` builds it (tests pass a config pointing at a temporary folder); `main()` runs it and is what
`burststudio` with no subcommand calls.
"""

from __future__ import annotations

from pathlib import Path

from textual.actions import SkipAction
from textual.app import App
from textual.binding import Binding
from textual.screen import ModalScreen

from burststudio.studio.commands import StudioCommands
from burststudio.studio.config import StudioConfig
from burststudio.studio.draft import TARGET, Draft
from burststudio.studio.messages import DraftChanged, RunFinished, TargetChanged
from burststudio.studio.screens.help_screen import HelpScreen
from burststudio.studio.screens.replay_screen import ReplayScreen
from burststudio.studio.screens.results_screen import ResultsScreen
from burststudio.studio.screens.workload_screen import WorkloadScreen
from burststudio.studio.widgets.nav_bar import NavBar

SCREEN_NAMES = ("workload", "replay", "results")


class StudioApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "BurstStudio"
    COMMANDS = App.COMMANDS | {StudioCommands}
    BINDINGS = [
        Binding("f1", "show('workload')", "Workload"),
        Binding("f2", "show('replay')", "Replay"),
        Binding("f3", "show('results')", "Results"),
        Binding("question_mark", "help", "Help"),
        # Priority: these work while a text field has the focus (an Input binds ctrl+x to cut). The screens that
        # own them show them in their footer with priority bindings of their own.
        Binding("ctrl+s", "save_preset", "Save preset", show=False, priority=True),
        Binding("ctrl+r", "start_replay", "Start replay", show=False),
        Binding("ctrl+x", "stop_replay", "Stop replay", show=False, priority=True),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, config: StudioConfig | None = None) -> None:
        super().__init__()
        self.config = config or StudioConfig()
        # The preset the user is editing: every screen reads and edits this one (studio.draft).
        self.draft = Draft.from_config(self.config)
        self.current_screen_name = "workload"

    def on_mount(self) -> None:
        self.install_screen(WorkloadScreen(self.config), "workload")
        self.install_screen(ReplayScreen(self.config), "replay")
        self.install_screen(ResultsScreen(self.config), "results")
        self.push_screen("workload")

    # Screens ------------------------------------------------------------------------------------------------------
    @property
    def workload_screen(self) -> WorkloadScreen:
        return self.get_screen("workload")  # type: ignore[return-value]

    @property
    def replay_screen(self) -> ReplayScreen:
        return self.get_screen("replay")  # type: ignore[return-value]

    @property
    def results_screen(self) -> ResultsScreen:
        return self.get_screen("results")  # type: ignore[return-value]

    def action_show(self, name: str) -> None:
        if name not in SCREEN_NAMES:
            return
        while isinstance(self.screen, HelpScreen):
            self.pop_screen()
        if self.current_screen_name != name:
            self.current_screen_name = name
            self.switch_screen(name)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    # Commands that belong to one screen but are reachable from anywhere ------------------------------------------------
    def action_save_preset(self) -> None:
        if isinstance(self.screen, ModalScreen):
            return  # the overwrite question (or help) is open: answer it first
        self.workload_screen.save_preset()

    def action_fit_trace(self) -> None:
        self.action_show("workload")
        self.workload_screen.fit_trace()

    def action_start_replay(self) -> None:
        self.action_show("replay")
        self.replay_screen.start_run()

    def action_stop_replay(self) -> None:
        if not self.replay_screen.running:
            # Nothing to stop: the key goes on to the focused field (cut, in a text field).
            raise SkipAction()
        self.replay_screen.stop_run()

    def action_refresh_runs(self) -> None:
        self.results_screen.refresh_runs()

    def action_set_target(self, kind: str) -> None:
        self.replay_screen.set_target_kind(kind)

    # The draft ---------------------------------------------------------------------------------------------------------
    def on_draft_changed(self, message: DraftChanged) -> None:
        """Pass a screen's change of the draft on to the other screens (those not shown yet read it when built)."""
        if message.relayed:
            return
        for name in SCREEN_NAMES:
            screen = self.get_screen(name)
            if screen.id != message.origin and screen.is_mounted:
                screen.post_message(DraftChanged(message.parts, message.origin, relayed=True))
        if TARGET in message.parts:
            self._show_target(self.draft.target_description())

    def on_target_changed(self, message: TargetChanged) -> None:
        self._show_target(message.description)

    def _show_target(self, description: str) -> None:
        for name in SCREEN_NAMES:
            for bar in self.get_screen(name).query(NavBar):
                bar.target = description

    def on_run_finished(self, message: RunFinished) -> None:
        self.results_screen.refresh_runs()

    # Screenshots --------------------------------------------------------------------------------------------------------
    def screenshot_dir(self) -> Path:
        """Where a screenshot goes: the run the Results screen shows, else the run being replayed, else the studio's
        folder (Textual's default, ~/Downloads, need not exist)."""
        if self.current_screen_name == "results":
            run = self.results_screen.current_run() if self.results_screen.is_mounted else None
            if run is not None and run.path.is_dir():
                return run.path
        run_dir = getattr(self.replay_screen, "run_dir", None)
        if self.current_screen_name == "replay" and run_dir is not None and Path(run_dir).is_dir():
            return Path(run_dir)
        return self.config.root

    def deliver_screenshot(self, filename: str | None = None, path: str | None = None,
                           time_format: str | None = None) -> str | None:
        """Save an SVG of the screen in `path` or screenshot_dir(), and say where (the palette's Screenshot)."""
        folder = Path(path) if path else self.screenshot_dir()
        try:
            saved = self.save_screenshot(filename, str(folder), time_format)
        except OSError as exc:
            self.notify(f"cannot save a screenshot in {folder}: {exc.strerror or exc}", title="Screenshot",
                        severity="error")
            return None
        self.notify(f"saved {saved}", title="Screenshot")
        return saved

    async def action_quit(self) -> None:
        # Quitting stops the engine but keeps what it wrote (the run directory stays).
        await self.replay_screen.stop_run_and_wait()
        self.exit()


def make_app(config: StudioConfig | None = None) -> StudioApp:
    return StudioApp(config)


def main(root: Path | None = None) -> int:
    make_app(StudioConfig(root=root or Path.cwd())).run()
    return 0
