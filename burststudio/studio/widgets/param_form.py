"""The parameter form: one row per ParamSpec (label, input, and the field's error beside it).

It parses each value as its field's kind, shows a bad value's error beside the field, and posts ParamsEdited with all
values whenever every field parses. Errors found later (by synth's validate) come back through `set_error`.
"""

from __future__ import annotations

import re
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Checkbox, Input, Label, Select, Static

from burststudio.studio.workload_actions import ParamSpec
from burststudio.studio.messages import ParamsEdited


def field_id(path: str) -> str:
    return "f-" + re.sub(r"[^A-Za-z0-9_-]", "-", path)


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def parse(spec: ParamSpec, text: str) -> Any:
    """The field's value from its text; ValueError with the message shown beside the field."""
    text = text.strip()
    if text == "":
        if spec.default is None:
            return None
        raise ValueError("needs a value")
    if spec.kind == "int":
        try:
            value: Any = int(text)
        except ValueError:
            raise ValueError("must be a whole number") from None
    elif spec.kind == "float":
        try:
            value = float(text)
        except ValueError:
            raise ValueError("must be a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("must be a finite number")
    else:
        return text
    if spec.min is not None and value < spec.min:
        raise ValueError(f"must be >= {spec.min:g}")
    if spec.max is not None and value > spec.max:
        raise ValueError(f"must be <= {spec.max:g}")
    return value


class ParamRow(Vertical):
    DEFAULT_CSS = """
    ParamRow { height: auto; }
    ParamRow > Horizontal { height: auto; }
    ParamRow .param-label { width: 15; padding: 0 1 0 0; color: $text-muted; }
    ParamRow Input { width: 1fr; height: 1; border: none; padding: 0 1; background: $boost; }
    ParamRow Input.-invalid { background: $error 30%; }
    ParamRow Select { width: 1fr; }
    ParamRow SelectCurrent { border: none; height: 1; padding: 0 1; }
    ParamRow .param-error { color: $error; height: auto; padding: 0 0 0 15; display: none; }
    ParamRow .param-error.-shown { display: block; }
    """

    def __init__(self, spec: ParamSpec, value: Any) -> None:
        super().__init__(id="row-" + field_id(spec.path))
        self.spec = spec
        self.initial = spec.default if value is None else value
        self.tooltip = spec.doc or None

    def compose(self) -> ComposeResult:
        spec = self.spec
        with Horizontal():
            yield Label(spec.label, classes="param-label")
            if spec.kind == "choice":
                options = [(c, c) for c in spec.choices]
                value = _show(self.initial) if _show(self.initial) in spec.choices else Select.NULL
                yield Select(options, value=value, allow_blank=value is Select.NULL, id=field_id(spec.path),
                             compact=True)
            elif spec.kind == "bool":
                yield Checkbox(value=bool(self.initial), id=field_id(spec.path), compact=True)
            else:
                yield Input(_show(self.initial), id=field_id(spec.path), compact=True)
        yield Static("", classes="param-error")

    @property
    def control(self):
        return self.query_one("#" + field_id(self.spec.path))

    def value(self) -> Any:
        control = self.control
        if isinstance(control, Select):
            return None if control.value is Select.NULL else control.value
        if isinstance(control, Checkbox):
            return control.value
        return parse(self.spec, control.value)

    def set_value(self, value: Any) -> None:
        control = self.control
        if isinstance(control, Select):
            if _show(value) in self.spec.choices:
                control.value = _show(value)
        elif isinstance(control, Checkbox):
            control.value = bool(value)
        else:
            control.value = _show(value)

    def set_error(self, message: str | None) -> None:
        error = self.query_one(".param-error", Static)
        error.update(message or "")
        error.set_class(bool(message), "-shown")
        self.control.set_class(bool(message), "-invalid")

    @property
    def error(self) -> str:
        return str(self.query_one(".param-error", Static).content)


class ParamForm(Vertical):
    DEFAULT_CSS = """
    ParamForm { height: auto; }
    ParamForm .param-group { color: $accent; text-style: bold; padding: 1 0 0 0; }
    """

    def __init__(self, fields: list[ParamSpec] | None = None, values: dict[str, Any] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.fields: list[ParamSpec] = list(fields or [])
        self._initial = dict(values or {})
        self._last: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        group = None
        for spec in self.fields:
            if spec.group and spec.group != group:
                group = spec.group
                yield Label(group, classes="param-group")
            yield ParamRow(spec, self._initial.get(spec.path))

    def on_mount(self) -> None:
        self._apply_when()

    async def set_fields(self, fields: list[ParamSpec], values: dict[str, Any] | None = None) -> None:
        self.fields = list(fields)
        self._initial = dict(values or {})
        await self.recompose()
        self._apply_when()

    def rows(self) -> list[ParamRow]:
        return list(self.query(ParamRow))

    def row(self, path: str) -> ParamRow | None:
        for row in self.rows():
            if row.spec.path == path:
                return row
        return None

    def values(self) -> dict[str, Any]:
        """Every field's value; raises ValueError for the first field that does not parse."""
        out = {}
        for row in self.rows():
            if row.display:
                out[row.spec.path] = row.value()
        return out

    def set_values(self, values: dict[str, Any]) -> None:  # noqa: D401
        """Fill fields without posting one message per field; posts one ParamsEdited at the end."""
        with self.prevent(Input.Changed, Select.Changed, Checkbox.Changed):
            for path, value in values.items():
                row = self.row(path)
                if row is not None:
                    row.set_value(value)
        self._apply_when()
        self._emit("")

    def set_error(self, path: str | None, message: str | None) -> bool:
        """Show `message` beside the field at `path`; False when no such field is shown."""
        row = self.row(path) if path else None
        if row is None:
            return False
        row.set_error(message)
        return True

    def clear_errors(self) -> None:
        """Clear errors of fields whose text parses (a parse error stays until the text is fixed)."""
        for row in self.rows():
            if row.error:
                try:
                    row.value()
                except ValueError:
                    continue
                row.set_error(None)

    def _apply_when(self) -> None:
        try:
            raw = {row.spec.path: row.control.value for row in self.rows()}
        except Exception:
            return
        for row in self.rows():
            if row.spec.when:
                row.display = all(str(raw.get(k)) in [str(v) for v in vs] for k, vs in row.spec.when.items())

    def _emit(self, changed: str) -> None:
        values = {}
        ok = True
        for row in self.rows():
            if not row.display:
                row.set_error(None)
                continue
            try:
                values[row.spec.path] = row.value()
                row.set_error(None)
            except ValueError as exc:
                row.set_error(str(exc))
                ok = False
        # Inputs report their first value on mount, and a fill reports every field: only a real change counts.
        if ok and (values != self._last or not changed):
            self._last = values
            self.post_message(ParamsEdited(values, changed))

    def _changed(self, control_id: str | None) -> None:
        changed = ""
        for row in self.rows():
            if field_id(row.spec.path) == control_id:
                changed = row.spec.path
        self._apply_when()
        self._emit(changed)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._changed(event.input.id)

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._changed(event.select.id)

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self._changed(event.checkbox.id)
