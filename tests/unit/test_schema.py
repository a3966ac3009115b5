"""schema.Param is the one description of a parameter: the settings, the trace keys, the generator registry and the
studio's form all hold the same objects."""

from __future__ import annotations

import dataclasses

import pytest

from burststudio.preset_validate import Invalid, settings_from_table
from burststudio.preset_workload import TRACE_KEYS
from burststudio.schema import Param, field_param, settings_params
from burststudio.settings import ReplaySettings, TargetSettings, setting
from burststudio.workload.synth.tables import FAMILIES, WORKLOAD


def _all_settings(cls):
    for param, kind in settings_params(cls):
        yield cls, param, kind
        if dataclasses.is_dataclass(kind):
            yield from _all_settings(kind)


@pytest.mark.parametrize("cls", [TargetSettings, ReplaySettings])
def test_every_setting_carries_a_param_with_its_name_type_and_default(cls):
    for owner, param, kind in _all_settings(cls):
        assert isinstance(param, Param) and param.doc, (owner.__name__, param.name)
        if not dataclasses.is_dataclass(kind):
            assert param.default == getattr(owner(), param.name)
            assert param.type in ("str", "int", "float", "bool", "array", "table")


def test_setting_keeps_its_call_and_its_bounds_validate():
    @dataclasses.dataclass
    class Example:
        """An example."""

        mode: str = setting("a", "Mode.", choices=["a", "b"])
        count: int = setting(2, "Count.", min=1, max=9)
        extra: list = setting([], "Extra.")

    param = field_param(dataclasses.fields(Example)[0], str)
    assert (param.name, param.type, param.default, param.choices) == ("mode", "str", "a", ("a", "b"))
    assert Example().extra == [] and Example().extra is not Example().extra
    assert settings_from_table(Example, {"mode": "b", "count": 9}, ("x",)) == Example("b", 9)
    for table, message in (({"mode": "c"}, 'must be one of a, b; got "c"'), ({"count": 0}, "must be >= 1, got 0"),
                           ({"count": 10}, "must be <= 9, got 10"), ({"count": 1.5}, "must be an integer, got 1.5")):
        with pytest.raises(Invalid) as info:
            settings_from_table(Example, table, ("x",))
        assert info.value.message == message


def test_the_studio_form_holds_the_registry_and_trace_key_params():
    from burststudio.studio import workload_actions as actions

    params = {id(p) for table in [WORKLOAD, *(t for f in FAMILIES.values() for t in f.kinds.values())]
              for p in table.params}
    fields = {f.path: f for f in actions.generator_fields()}
    assert id(fields["arrivals.rate"].param) in params and id(fields["prompt.sigma"].param) in params
    assert fields["arrivals.rate"].min is None  # rate > 0 is open: left to the registry's check
    trace_keys = {k.name: k for k in TRACE_KEYS}
    transforms = {f.path: f for f in actions.TRANSFORM_FIELDS}
    assert transforms["rate_scale"].param is trace_keys["rate_scale"]
    assert transforms["time_scale"].param is trace_keys["time_scale"]
