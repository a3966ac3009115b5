"""The preset the user is editing: one object the app owns and every screen reads and edits.

The Workload screen edits the source, the form's values and the name; the Replay screen the target and the
replay duration. Each says what it changed with a `DraftChanged` message (studio.messages) to the app, which passes
it on to the other screens; no screen reads another screen's widgets or calls its methods. Saving the draft (the
Save button, or the Replay screen's Start, which replays a saved copy) writes one preset from all of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from burststudio.studio import workload_actions as actions
from burststudio.targets import registry as target_kinds

# What a DraftChanged names as changed.
SOURCE, WORKLOAD, NAME, TARGET, REPLAY = "source", "workload", "name", "target", "replay"


@dataclass
class Draft:
    kind: str = "generator"  # generator | trace
    name: str = "my-workload"
    preset: Any = None  # the Preset the source came from, if any
    trace_path: str | None = None  # the trace file (kind trace)
    # The whole generator table the form edits (a preset's, or a fit's): keys the form does not show stay as written.
    generator_table: dict[str, Any] | None = None
    # The form's values as the source filled them, and as they are now: only the difference is written back.
    loaded_values: dict[str, Any] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    target_kind: str = "sim"
    target_url: str = ""
    duration_s: float = 0.0  # seconds of the workload a replay sends; 0: all of it
    seed: int = 0
    base_dir: Path = field(default_factory=Path.cwd)  # where a generator's relative paths resolve

    @classmethod
    def from_config(cls, config) -> "Draft":
        return cls(target_kind=config.target_kind, target_url=config.target_url,
                   duration_s=config.replay_duration_s, seed=config.seed, base_dir=config.presets_dir)

    # Sources -----------------------------------------------------------------------------------------------------
    def use_generator(self, table: dict[str, Any] | None = None, preset=None) -> None:
        self.kind, self.trace_path, self.preset, self.generator_table = "generator", None, preset, table

    def use_trace(self, path: str, preset=None) -> None:
        self.kind, self.trace_path, self.preset, self.generator_table = "trace", path, preset, None

    def use_preset_settings(self, preset) -> None:
        """A loaded preset's target (its kind, and its URL for a url target) and replay duration. A preset without
        a duration (the settings cannot tell it from one that asks for the whole workload) leaves the duration as it
        is, so a large workload is not replayed for hours just because a preset was loaded."""
        self.name = preset.name
        if preset.target.kind == target_kinds.ATTACH and preset.target.url:
            self.target_url = preset.target.url
        self.target_kind = preset.target.kind
        if preset.replay.duration_s:
            self.duration_s = float(preset.replay.duration_s)

    def set_values(self, values: dict[str, Any], loaded: bool = False) -> None:
        self.values = dict(values)
        if loaded:
            self.loaded_values = dict(values)

    # What it describes -------------------------------------------------------------------------------------------
    @property
    def trace_preset_spec(self) -> dict[str, Any] | None:
        return self.preset.workload_spec if self.preset is not None and self.preset.is_trace else None

    @property
    def generator_dir(self) -> Path:
        return self.preset.base_dir if self.preset is not None else self.base_dir

    def generator_spec(self, values: dict[str, Any] | None = None) -> dict[str, Any]:
        """The generator table the form describes: the whole table it edits with the form's edits applied (so what
        the form does not show, like sessions or a modulation profile, is kept), else the form's values."""
        values = self.values if values is None else values
        if self.generator_table is not None:
            spec = actions.merge_spec(self.generator_table, self.loaded_values, values)
            spec.pop("name", None)
            spec.pop("seed", None)
            return spec
        return actions.spec_from_values(values)

    def transforms(self, values: dict[str, Any] | None = None):
        """The TransformSpec of a trace: its preset's own transforms with the form's window and scales."""
        return actions.form_transforms(self.values if values is None else values, self.trace_preset_spec)

    def workload_spec(self) -> dict[str, Any]:
        """The [workload] table the draft describes now."""
        if self.kind == "generator":
            spec = self.generator_spec()
            spec["seed"] = self.preset.seed if self.preset is not None else self.seed
        elif self.trace_preset_spec is not None:
            spec = actions.merge_trace_spec(self.trace_preset_spec, self.loaded_values, self.values)
        else:
            spec = {"trace": str(Path(self.trace_path).resolve()) if self.trace_path else ""}
            spec.update(actions.trace_transforms(self.values))
        spec["name"] = self.name.strip() or "workload"
        return spec

    def target_table(self) -> dict[str, Any]:
        return actions.target_table(self.preset, self.target_kind, self.target_url)

    def target_description(self) -> str:
        if self.target_kind == target_kinds.ATTACH:
            return f"{target_kinds.ATTACH} {self.target_url}"
        kind = target_kinds.KINDS.get(self.target_kind)
        return kind.label if kind else self.target_kind

    def save(self, path: Path, scratch_dir: Path | None = None) -> Path:
        """Write the draft as a preset at `path` (presets validate it), keeping a loaded preset's header comment
        and the keys it wrote; a generator's long windows table and the rows a fit wrote in `scratch_dir` go
        beside it (actions.own_files). Raises actions.FieldError or the presets' UserError."""
        from burststudio.presets import header_comment

        actions.check_preset_name(self.name.strip() or "workload")
        spec = self.workload_spec()
        if self.kind == "generator":
            spec = actions.own_files(spec, Path(path), scratch_dir)
        text = self.preset.text if self.preset is not None else ""
        return actions.save_preset(path, spec, self.target_table(), actions.replay_table(self.preset),
                                   header=header_comment(text) if text else None, like=text)
