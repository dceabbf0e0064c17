"""Property tests of the retry loop: bounded attempts, bounded waits, first success wins."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buildonce.store.gha_service import (
    HttpTransport,
    Response,
    RetryPolicy,
    ServiceUnavailableError,
    send_with_retry,
)

# A scripted reply: an HTTP status with an optional Retry-After, or None for a dropped socket.
Reply = tuple[int, str | None] | None

replies = st.one_of(
    st.none(),
    st.tuples(st.sampled_from([200, 201, 206, 400, 404, 409]), st.none()),
    st.tuples(st.sampled_from([500, 502, 503, 504]), st.none()),
    st.tuples(st.just(429), st.one_of(st.none(), st.integers(0, 120).map(str), st.just("junk"))),
)


class ScriptedTransport(HttpTransport):
    """Answers from a script instead of a socket; the loop under test is the real one."""

    def __init__(self, script: list[Reply]) -> None:
        super().__init__()
        self.script = list(script)
        self.calls = 0

    def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | memoryview | None = None,
        headers: Mapping[str, str] | None = None,
        into: Callable[[bytes], None] | None = None,
    ) -> Response:
        self.calls += 1
        reply = self.script.pop(0) if self.script else (200, None)
        if reply is None:
            raise ConnectionResetError("dropped")
        status, retry_after = reply
        hdrs = {"Retry-After": retry_after} if retry_after is not None else {}
        return Response(status, "scripted", hdrs, b"")


@given(script=st.lists(replies, max_size=8), attempts=st.integers(1, 6))
def test_retry_loop_is_bounded_and_returns_the_first_final_answer(
    script: list[Reply], attempts: int
) -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(
        max_attempts=attempts, base_delay=1.0, max_retry_after=60.0, sleep=sleeps.append
    )
    transport = ScriptedTransport(script)
    padded = [*script, *([(200, None)] * attempts)]
    # The model: walk the replies; a final answer (anything not retryable) ends the loop.
    expected_status: int | None = None
    too_long = False
    for reply in padded[:attempts]:
        if reply is None or reply[0] in (500, 502, 503, 504):
            continue
        if reply[0] == 429:
            if reply[1] is not None and reply[1].isdigit() and int(reply[1]) > 60:
                too_long = True
                break
            continue
        expected_status = reply[0]
        break
    if expected_status is None:
        with pytest.raises(ServiceUnavailableError):
            send_with_retry(transport, "GET", "http://h/x", what="op", retry=policy)
    else:
        resp = send_with_retry(transport, "GET", "http://h/x", what="op", retry=policy)
        assert resp.status == expected_status
    assert transport.calls <= attempts
    assert len(sleeps) <= attempts - 1
    assert all(0 <= s <= 60.0 for s in sleeps)  # never longer than the bound
    if too_long:
        assert len(sleeps) == transport.calls - 1  # gave up without sleeping on it


def test_backoff_grows_and_stays_within_the_toolkit_schedule() -> None:
    policy = RetryPolicy(base_delay=3.0, multiplier=1.5)
    assert policy.backoff(0) == 3.0
    for attempt in range(1, 5):
        low = 3.0 * 1.5**attempt
        assert low <= policy.backoff(attempt) <= low * 1.5
