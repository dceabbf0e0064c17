"""Stateful property test: LocalStore against a plain dict of key -> first content saved."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from buildonce.store import cache, open_store
from buildonce.store.base import ObjectStore

SCOPE = cache.Scope("refs/heads/main", ("refs/heads/main",))
KEYS = st.sampled_from(["Linux-a-1", "Linux-a-2", "Linux-b-1", "Linux-a-10"])


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="buildonce-model-"))
        self.store = open_store(str(self.dir / "store"))
        self.model: dict[str, bytes] = {}
        self.order: list[str] = []  # creation order: the newest prefix match wins
        self.n = 0

    def teardown(self) -> None:
        shutil.rmtree(self.dir)

    def _file(self, data: bytes) -> Path:
        self.n += 1
        path = self.dir / f"src-{self.n}"
        path.write_bytes(data)
        return path

    @rule(key=KEYS, data=st.binary(max_size=2000))
    def save(self, key: str, data: bytes) -> None:
        outcome = cache.save(self.store, [self._file(data)], key=key, scope=SCOPE, evict=False)
        assert outcome.created == (key not in self.model)
        if outcome.created:
            self.model[key] = data
            self.order.append(key)

    @rule(key=KEYS)
    def restore_exact(self, key: str) -> None:
        dest = self.dir / "dest"
        got = cache.restore(self.store, [dest], key=key, scope=SCOPE, exact=True)
        assert got.restored == (key in self.model)
        assert got.cache_hit == (key in self.model)
        if got.restored:
            assert dest.read_bytes() == self.model[key]

    @rule(prefix=st.sampled_from(["Linux-a-", "Linux-", "Linux-a-1", "nothing"]))
    def restore_prefix(self, prefix: str) -> None:
        dest = self.dir / "dest"
        got = cache.restore(self.store, [dest], key=prefix, scope=SCOPE)
        if prefix in self.model:
            expected: str | None = prefix
        else:
            matches = [k for k in self.order if k.startswith(prefix)]
            expected = matches[-1] if matches else None
        assert (got.matched_key or None) == expected
        if expected is not None:
            assert dest.read_bytes() == self.model[expected]

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def corrupt(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.model)))
        record = cache.find_entry(self.store, key)
        assert isinstance(self.store, ObjectStore)
        blob = self.store._get(record.blob)
        assert blob is not None
        index = data.draw(st.integers(0, len(blob) - 1))
        self.store._put(record.blob, blob[:index] + bytes([blob[index] ^ 0x40]) + blob[index + 1 :])
        got = cache.restore(self.store, [self.dir / "dest"], key=key, scope=SCOPE, exact=True)
        assert not got.restored  # every single flipped bit is caught
        del self.model[key]
        self.order.remove(key)

    @invariant()
    def listing_matches_model(self) -> None:
        assert sorted(r.key for r in self.store.entries()) == sorted(self.model)


TestStoreMachine = StoreMachine.TestCase
TestStoreMachine.settings = settings(max_examples=25, stateful_step_count=15, deadline=None)
