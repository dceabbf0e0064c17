"""The REST client against a real local HTTP server: pagination, 304, rate limits, retries."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buildonce.errors import ConfigError, InputError, NetworkError
from buildonce.telemetry._replay import RecordedRoutes, ReplayServer, json_reply
from buildonce.telemetry.github import GitHubClient, parse_link_header, token_fingerprint

from .conftest import FakeClock, load, make_client

TOKEN = "ghp_test_secret_token_value"


def _paged_routes(server_url: str, pages: int) -> RecordedRoutes:
    """The recorded runs page, split into ``pages`` pages linked the way GitHub links them
    (``/repositories/{id}/…`` URLs, as in the recorded ``Link`` header)."""
    runs = load("runs_list_page1_ReDASers_PhishBench_first6.json")["workflow_runs"]
    routes = RecordedRoutes()
    per = -(-len(runs) // pages)
    for page in range(1, pages + 1):
        path = "/repos/o/r/actions/runs" if page == 1 else "/repositories/146139403/actions/runs"
        links = []
        if page < pages:
            links.append(
                f'<{server_url}/repositories/146139403/actions/runs?page={page + 1}>; rel="next"'
            )
            links.append(
                f'<{server_url}/repositories/146139403/actions/runs?page={pages}>; rel="last"'
            )
        body = {"total_count": len(runs), "workflow_runs": runs[(page - 1) * per : page * per]}
        headers = {"etag": f'W/"page{page}"'}
        if links:
            headers["link"] = ", ".join(links)
        routes.add(path if page == 1 else f"{path}#page{page}", body, headers=headers)
    return routes


class PagedRouter:
    """Routes ``?page=N`` of the recorded list (RecordedRoutes keys pages by fragment)."""

    def __init__(self, routes: RecordedRoutes) -> None:
        self.routes = routes

    def __call__(self, path: str, query: Any, headers: Any) -> Any:
        page = query.get("page", ["1"])[-1]
        key = path if page == "1" else f"{path}#page{page}"
        return self.routes(key, query, headers)


def test_follows_link_pagination_across_hosts_forms(fake_clock: FakeClock) -> None:
    router = PagedRouter(RecordedRoutes())
    with ReplayServer(router) as server:
        router.routes = _paged_routes(server.url, 3)
        with make_client(server, fake_clock) as client:
            pages = list(client.paginate("/repos/o/r/actions/runs", {"per_page": 2}))
        paths = [p for p, _ in server.log]
    ids = [r["id"] for p in pages for r in p.data["workflow_runs"]]
    expected = [
        r["id"] for r in load("runs_list_page1_ReDASers_PhishBench_first6.json")["workflow_runs"]
    ]
    assert ids == expected
    assert paths[0] == "/repos/o/r/actions/runs?per_page=2"
    assert paths[1:] == [
        "/repositories/146139403/actions/runs?page=2",
        "/repositories/146139403/actions/runs?page=3",
    ]


def test_sends_auth_version_and_conditional_headers(fake_clock: FakeClock) -> None:
    routes = RecordedRoutes()
    routes.add(
        "/repos/o/r/actions/runs/3881497935",
        load("run_3881497935_PyGithub.json"),
        headers={"etag": 'W/"abc"'},
    )
    with ReplayServer(routes) as server, make_client(server, fake_clock) as client:
        first = client.get("/repos/o/r/actions/runs/3881497935")
        second = client.get("/repos/o/r/actions/runs/3881497935", etag=first.etag)
        headers = server.log[1][1]
    assert first.status == 200
    assert first.data["run_number"] == 930
    assert second.status == 304
    assert second.data is None
    assert client.stats.not_modified == 1
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["x-github-api-version"] == "2022-11-28"
    assert headers["if-none-match"] == 'W/"abc"'


def test_ghes_base_path_is_kept(fake_clock: FakeClock) -> None:
    routes = RecordedRoutes()
    routes.add("/api/v3/repos/o/r/actions/runs/1", {"id": 1})
    with ReplayServer(routes) as server:
        client = GitHubClient(api_url=server.url + "/api/v3/", sleep=fake_clock.sleep)
        with client:
            assert client.get("repos/o/r/actions/runs/1").data == {"id": 1}


def test_primary_rate_limit_waits_until_reset(fake_clock: FakeClock) -> None:
    routes = RecordedRoutes()
    routes.add("/x", {"ok": True})
    reset = int(fake_clock.now) + 120
    limited = json_reply(
        {"message": "API rate limit exceeded for installation ID 1."},
        403,
        {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
    )
    with ReplayServer(routes) as server:
        server.faults.add("/x", limited)
        with make_client(server, fake_clock) as client:
            assert client.get("/x").data == {"ok": True}
    assert fake_clock.sleeps == [121.0]


def test_secondary_rate_limit_honours_retry_after(fake_clock: FakeClock) -> None:
    routes = RecordedRoutes()
    routes.add("/x", {"ok": True})
    with ReplayServer(routes) as server:
        server.faults.add(
            "/x",
            json_reply(
                {"message": "You have exceeded a secondary rate limit."}, 429, {"retry-after": "7"}
            ),
            json_reply({"message": "You have exceeded a secondary rate limit."}, 403),
        )
        with make_client(server, fake_clock) as client:
            assert client.get("/x").data == {"ok": True}
    # retry-after first, then at least a minute, doubling, when no header says how long.
    assert fake_clock.sleeps == [7.0, 120.0]


def test_rate_limit_wait_is_bounded(fake_clock: FakeClock) -> None:
    routes = RecordedRoutes()
    routes.add("/x", {"ok": True})
    with ReplayServer(routes) as server:
        server.faults.add(
            "/x",
            json_reply(
                {"message": "API rate limit exceeded"},
                403,
                {
                    "x-ratelimit-remaining": "0",
                    "x-ratelimit-reset": str(int(fake_clock.now) + 3000),
                },
            ),
        )
        with (
            make_client(server, fake_clock, max_total_wait_s=600) as client,
            pytest.raises(NetworkError, match="budget") as info,
        ):
            client.get("/x")
    assert fake_clock.sleeps == []
    assert "resumes" in str(info.value)


def test_last_request_of_the_window_pauses_the_next(fake_clock: FakeClock) -> None:
    routes = RecordedRoutes()
    routes.add(
        "/a",
        {"a": 1},
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(fake_clock.now) + 30)},
    )
    routes.add("/b", {"b": 2})
    with ReplayServer(routes) as server, make_client(server, fake_clock) as client:
        client.get("/a")
        assert fake_clock.sleeps == []
        client.get("/b")
    assert fake_clock.sleeps == [31.0]


def test_server_errors_are_retried_with_backoff(fake_clock: FakeClock) -> None:
    routes = RecordedRoutes()
    routes.add("/x", {"ok": True})
    with ReplayServer(routes) as server:
        server.faults.add("/x", json_reply({"message": "boom"}, 502), json_reply({}, 500))
        with make_client(server, fake_clock) as client:
            assert client.get("/x").data == {"ok": True}
            assert client.stats.retries == 2
    assert fake_clock.sleeps == [1.0, 2.0]


def test_persistent_server_errors_give_up(fake_clock: FakeClock) -> None:
    routes = RecordedRoutes()
    with ReplayServer(routes) as server:
        server.faults.add("/x", *[json_reply({"message": "down"}, 503)] * 4)
        with (
            make_client(server, fake_clock, max_retries=3) as client,
            pytest.raises(NetworkError, match=r"HTTP 503 .*gave up after 3 retries"),
        ):
            client.get("/x")
    assert fake_clock.sleeps == [1.0, 2.0, 4.0]


def test_recorded_404_becomes_input_error(fake_clock: FakeClock) -> None:
    with (
        ReplayServer(RecordedRoutes()) as server,
        make_client(server, fake_clock) as client,
        pytest.raises(InputError, match="HTTP 404 Not Found") as info,
    ):
        client.get("/repos/o/r/actions/runs/111")
    assert "--repo" in str(info.value)
    assert load("run_111_not_found_404.json")["status"] == "404"  # string, as recorded


def test_token_never_appears_in_errors_or_repr(fake_clock: FakeClock) -> None:
    routes = RecordedRoutes()
    routes.add("/x", {"message": f"Bad credentials {TOKEN}"}, 401)
    with ReplayServer(routes) as server, make_client(server, fake_clock) as client:
        assert TOKEN not in repr(client)
        with pytest.raises(NetworkError) as info:
            client.get("/x", {"access_token": TOKEN})
    text = str(info.value)
    assert "HTTP 401" in text
    assert "GITHUB_TOKEN" in text
    assert TOKEN not in text  # not even the server's echo of it
    assert "Bad credentials ***" in text
    assert "access_token=***" in text
    assert TOKEN not in token_fingerprint(TOKEN)


def test_connection_refused_is_retried_then_reported(fake_clock: FakeClock) -> None:
    with ReplayServer(RecordedRoutes()) as server:
        url = server.url
    client = GitHubClient(api_url=url, sleep=fake_clock.sleep, clock=fake_clock.clock)
    with client, pytest.raises(NetworkError, match="connection failed"):
        client.get("/x")
    assert len(fake_clock.sleeps) == client.policy.max_retries


@pytest.mark.parametrize("url", ["ftp://example.com", "api.github.com", ""])
def test_bad_api_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="GITHUB_API_URL"):
        GitHubClient.from_env({"GITHUB_API_URL": url or "::"})


_url = st.from_regex(
    r"https://[a-z]{1,8}\.example/[a-z0-9/]{0,12}\?page=[0-9]{1,4}", fullmatch=True
)


@given(st.dictionaries(st.sampled_from(["next", "prev", "first", "last"]), _url, max_size=4))
def test_link_header_round_trip(links: dict[str, str]) -> None:
    header = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items())
    assert parse_link_header(header) == links


def test_follows_a_rename_redirect_and_keeps_the_token_on_the_same_host(
    fake_clock: FakeClock,
) -> None:
    routes = RecordedRoutes()
    routes.add("/repositories/146139403/actions/runs", {"total_count": 0, "workflow_runs": []})
    with ReplayServer(routes) as server:
        server.faults.add(
            "/repos/old/name/actions/runs",
            (301, {"location": f"{server.url}/repositories/146139403/actions/runs"}, b""),
        )
        with make_client(server, fake_clock) as client:
            assert client.get("/repos/old/name/actions/runs").data["total_count"] == 0
        assert server.log[1][0] == "/repositories/146139403/actions/runs"
        assert server.log[1][1]["authorization"] == f"Bearer {TOKEN}"


def test_redirect_to_another_host_drops_the_token(fake_clock: FakeClock) -> None:
    with ReplayServer(RecordedRoutes()) as other:
        other.router.add("/data", {"ok": True})  # type: ignore[attr-defined]
        with ReplayServer(RecordedRoutes()) as server:
            # "localhost" vs "127.0.0.1": a different host as far as the URL is concerned
            elsewhere = other.url.replace("127.0.0.1", "localhost") + "/data"
            server.faults.add("/x", (302, {"location": elsewhere}, b""))
            with make_client(server, fake_clock) as client:
                assert client.get("/x").data == {"ok": True}
        assert "authorization" not in other.log[0][1]
