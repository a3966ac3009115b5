"""Where the studio looks for traces, presets and runs, and what it starts with.

Tests build one of these pointing at a temporary folder (the app factory takes it), so nothing on screen depends on
the machine it runs on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class StudioConfig:
    root: Path = field(default_factory=Path.cwd)
    traces_dir: Path | None = None
    presets_dir: Path | None = None
    runs_dir: Path | None = None
    # What the draft preset (studio.draft) starts with. The simulator needs no server, so a fresh studio can
    # replay at once.
    target_kind: str = "sim"
    target_url: str = "http://127.0.0.1:8000"
    # Requests synthesised for the preview of a generator (its duration follows from the rate).
    preview_requests: int = 100_000
    # The most requests a preview computes; a larger workload is previewed by its first ones (and says so): 50M
    # requests took 45 s and 3.7 GB, a rate scale of 1e9 asked for 87 TiB.
    preview_max_requests: int = 1_000_000
    # Where a fit of a transformed trace writes the rows its generator draws on (copied beside a saved preset).
    fits_dir: Path | None = None
    seed: int = 0
    # The command that starts the headless engine; tests point it at their own interpreter.
    engine_command: tuple[str, ...] | None = None
    # Seconds of the workload a replay sends (the Replay screen's duration field); 0: all of it. A generator's
    # default is 100k requests, hours at its rate: a run started without a second look ends by itself.
    replay_duration_s: float = 60.0
    # Live chart redraws per second.
    redraw_hz: float = 4.0
    # Latest requests kept in the replay table.
    table_rows: int = 100

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.traces_dir = Path(self.traces_dir) if self.traces_dir else self.root / "traces"
        self.presets_dir = Path(self.presets_dir) if self.presets_dir else self.root / "presets"
        self.runs_dir = Path(self.runs_dir) if self.runs_dir else self.root / "runs"
        self.fits_dir = Path(self.fits_dir) if self.fits_dir else self.runs_dir / ".studio" / "fits"
