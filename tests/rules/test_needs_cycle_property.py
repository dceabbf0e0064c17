"""The cheap cycle pre-check of needs-cycle agrees with the domain model's find_cycle."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from buildonce.model.job import find_cycle
from buildonce.rules.needs_cycle import _has_cycle

JOBS = st.sampled_from([f"j{i}" for i in range(7)])


@given(st.dictionaries(JOBS, st.lists(JOBS, max_size=4), max_size=7))
def test_has_cycle_agrees_with_find_cycle(raw: dict[str, list[str]]) -> None:
    # needs-cycle passes only known, non-self edges (self edges are reported on their own)
    graph = {job: [n for n in needs if n in raw and n != job] for job, needs in raw.items()}
    assert _has_cycle(graph) == (find_cycle(graph) is not None)


def test_examples() -> None:
    assert not _has_cycle({"a": [], "b": ["a"], "c": ["a", "b", "b"]})
    assert _has_cycle({"a": ["c"], "b": ["a"], "c": ["b"], "d": []})
