"""Model-based test: saves and restores through GhaCache agree with the matching rules.

The model is the rule text of cache-semantics.md §2 (exact key first, else the newest entry
the key prefixes, for the primary key then each restore key; entries are immutable; the
version must match).  Hypothesis drives random saves and restores against the protocol
server and compares every answer with the model.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from buildonce.store.gha import EntryExistsError, GhaCache, RetryPolicy
from gha.protocol_server import CacheServer, serve

KEYS = st.text(alphabet="ab-", min_size=1, max_size=4)
PATHS = {"bin": ["bin/app"], "out": ["out/app"]}


class CacheMatching(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._serving = serve(CacheServer())
        self.server = next(self._serving)
        self.workspace = Path(tempfile.mkdtemp(prefix="gha-state-"))
        env = {
            "ACTIONS_RESULTS_URL": self.server.base_url + "/",
            "ACTIONS_RUNTIME_TOKEN": self.server.token,
            "GITHUB_WORKSPACE": str(self.workspace),
        }
        retry = RetryPolicy(max_attempts=1, sleep=lambda _s: None)
        self.cache = GhaCache.from_env(env, retry=retry)
        # model: (key, path set) -> content, in save order
        self.saved: list[tuple[str, str, bytes]] = []
        self.counter = 0

    def _expected(self, kind: str, keys: list[str]) -> tuple[str, bytes] | None:
        candidates = [(k, d) for k, p, d in self.saved if p == kind]
        for wanted in keys:
            exact = [(k, d) for k, d in candidates if k.casefold() == wanted.casefold()]
            if exact:
                return exact[-1]
            prefixed = [(k, d) for k, d in candidates if k.casefold().startswith(wanted.casefold())]
            if prefixed:
                return prefixed[-1]  # newest wins
        return None

    @rule(key=KEYS, kind=st.sampled_from(sorted(PATHS)))
    def save(self, key: str, kind: str) -> None:
        self.counter += 1
        content = f"{key}#{self.counter}".encode()
        target = self.workspace / PATHS[kind][0]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        exists = any(k == key and p == kind for k, p, _ in self.saved)
        try:
            self.cache.save(key, PATHS[kind])
        except EntryExistsError:
            assert exists, "409 for a key that was never saved"
        else:
            assert not exists, "an entry was overwritten"
            self.saved.append((key, kind, content))

    @rule(key=KEYS, restore=st.lists(KEYS, max_size=2), kind=st.sampled_from(sorted(PATHS)))
    def restore(self, key: str, restore: list[str], kind: str) -> None:
        target = self.workspace / PATHS[kind][0]
        if target.exists():
            target.unlink()
        result = self.cache.restore(key, PATHS[kind], restore_keys=restore)
        expected = self._expected(kind, [key, *restore])
        if expected is None:
            assert result is None
            assert not target.exists()
        else:
            assert result is not None
            assert result.matched_key == expected[0]
            assert result.exact == (expected[0].casefold() == key.casefold())
            assert target.read_bytes() == expected[1]

    @invariant()
    def every_entry_is_finalized_once(self) -> None:
        keys = [(e.key, e.version) for e in self.server.entries if e.finalized]
        assert len(keys) == len(set(keys))

    def teardown(self) -> None:
        self.cache.close()
        self._serving.close()
        shutil.rmtree(self.workspace, ignore_errors=True)


CacheMatching.TestCase.settings = settings(max_examples=12, stateful_step_count=12, deadline=None)
test_cache_matching = CacheMatching.TestCase
