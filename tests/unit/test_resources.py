"""Worker-resident resources, within one process: loaded once, reused, the least recently used
released through its hook when the limit is reached, nothing stored when a loader fails."""

from __future__ import annotations

import pytest

from django_jobkit.exceptions import InvalidResource, JobkitError
from django_jobkit.execution.resources import Resources


class Model:
    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_a_resource_is_loaded_once_and_then_reused():
    held = Resources(limit=lambda: 2)
    loads: list[str] = []

    def load() -> Model:
        loads.append("a")
        return Model("a")

    first = held.get("a", load)
    assert held.get("a", load) is first and held.get("a", load) is first
    assert loads == ["a"]
    assert [(d["key"], d["device"], d["hits"]) for d in held.describe()] == [("a", "cpu", 2)]


def test_the_least_recently_used_is_released_first_through_its_hook():
    held = Resources(limit=lambda: 2)
    released: list[str] = []
    a = held.get("a", lambda: Model("a"))  # default release: its close()
    held.get("b", lambda: Model("b"), release=lambda m: released.append(m.name))
    held.get("a", lambda: Model("a again"))  # a is now the most recently used
    held.get("c", lambda: Model("c"))
    assert released == ["b"] and not a.closed
    assert [d["key"] for d in held.describe()] == ["a", "c"]
    held.get("d", lambda: Model("d"))
    assert a.closed  # a went next, through close()
    held.release_all()
    assert held.describe() == []


def test_a_failing_loader_stores_nothing_and_the_next_call_loads_again():
    held = Resources(limit=lambda: 2)

    def broken() -> Model:
        raise OSError("model file missing")

    with pytest.raises(OSError, match="model file missing"):
        held.get("a", broken)
    assert held.describe() == []
    assert held.get("a", lambda: Model("a")).name == "a"


def test_a_failing_release_does_not_fail_the_load_that_needed_the_room():
    held = Resources(limit=lambda: 1)

    def bad_release(model: Model) -> None:
        raise RuntimeError("driver error")

    held.get("a", lambda: Model("a"), release=bad_release)
    assert held.get("b", lambda: Model("b")).name == "b"
    assert [d["key"] for d in held.describe()] == ["b"]


@pytest.mark.parametrize(
    ("key", "loader", "limit", "message"),
    [
        ("", Model, 2, "non-empty str"),
        (3, Model, 2, "non-empty str"),
        ("a", "not callable", 2, "not callable"),
        ("a", Model, 0, "JOBKIT_RESOURCES_MAX=0"),
    ],
)
def test_bad_arguments_name_the_problem(key, loader, limit, message):
    with pytest.raises(InvalidResource, match=message) as caught:
        Resources(limit=lambda: limit).get(key, loader)
    assert isinstance(caught.value, JobkitError)
