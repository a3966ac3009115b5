"""The command palette's own commands (ctrl+p): switch screens, save, fit, start and stop a replay, compare runs."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

# (title, help, app action)
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("Workload screen", "Shape the workload and watch its preview", "show('workload')"),
    ("Replay screen", "Replay the workload against the target", "show('replay')"),
    ("Results screen", "Read and compare finished runs", "show('results')"),
    ("Save preset", "Write the current workload, target and replay settings as a TOML preset", "save_preset"),
    ("Fit trace", "Fit the loaded trace and fill the generator form", "fit_trace"),
    ("Start replay", "Replay the current workload against the target", "start_replay"),
    ("Stop replay", "Stop the running replay and keep its results", "stop_replay"),
    ("Refresh runs", "Read runs/ again", "refresh_runs"),
    ("Help", "Screens, keys and flows", "help"),
)


def _commands() -> list[tuple[str, str, str]]:
    """COMMANDS with one "Target: ..." entry per target kind, before Help."""
    from burststudio.targets import registry

    targets = [(*kind.palette, f"set_target({kind.name!r})") for kind in registry.by_name()]
    return [*COMMANDS[:-1], *targets, COMMANDS[-1]]


class StudioCommands(Provider):
    async def _run(self, action: str) -> None:
        await self.app.run_action(action)

    async def discover(self) -> Hits:
        for title, help_text, action in _commands():
            yield DiscoveryHit(title, partial(self._run, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, action in _commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(self._run, action), help=help_text)
