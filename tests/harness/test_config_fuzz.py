"""Property: no YAML text or config value makes the config loader raise but a HarnessError."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import HarnessError
from harness.run.config import TOP_KEYS, from_dict, parse_yaml

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
keys = st.sampled_from([*TOP_KEYS, "typo"])
task_names = st.sampled_from(["sample", "load", "train", "bogus", ""])
tasks = st.lists(st.dictionaries(task_names, values, min_size=0, max_size=2), max_size=3)


def load(raw: Any) -> None:
    try:
        from_dict(raw)
    except HarnessError as e:
        assert "\n" not in str(e)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, values, max_size=8), tasks)
def test_random_configs_give_a_config_or_one_line_error(
    raw: dict[str, Any], task_list: Any
) -> None:
    load({**raw, "name": raw.get("name", "x"), "tasks": task_list})
    load(raw)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_random_yaml_text_never_raises_anything_else(text: str) -> None:
    try:
        raw = parse_yaml(text, "fuzz.yaml")
    except HarnessError as e:
        assert "\n" not in str(e)
        return
    load(raw)
