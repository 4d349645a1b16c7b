"""GET /metrics: the server's Prometheus metrics, for the admin only, against a scripted model."""

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.fake_llm import FakeLLM
from tests.support import Server, create_agent, new_user, say, waits_for

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
STAGES = ("queued", "start", "model", "step_save", "turn")  # a turn that ends well: its end is saved with its last step


def scrape(c: httpx.Client) -> Samples:
    r = c.get("/metrics")
    assert r.status_code == 200, r.text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample's value; 0 when the series does not exist (yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def labelled(samples: Samples, name: str, label: str) -> set[str]:
    """The values `label` takes in the series of `name`."""
    return {dict(labels)[label] for (sample, labels) in samples if sample == name and label in dict(labels)}


def test_metrics_are_refused_as_the_admin_routes_are(chat_server: Server) -> None:
    with chat_server.client(None) as anonymous:
        for path in ("/metrics", "/admin/users"):
            r = anonymous.get(path)
            assert r.status_code == 401 and r.json() == {"detail": "Not authenticated"}
    with new_user(chat_server) as user:
        refused = [user.get(path) for path in ("/metrics", "/admin/users")]
    assert [r.status_code for r in refused] == [403, 403]
    assert refused[0].json() == refused[1].json()
    with chat_server.client("sk-not-a-key") as stranger:
        assert stranger.get("/metrics").status_code == 401


def test_one_turn_shows_in_every_stage_and_in_the_requests(chat_server: Server, fresh_llm: FakeLLM) -> None:
    with chat_server.client() as c:
        aid = create_agent(c, name="Measured")
        before = scrape(c)
        say(c, aid, "how long does this take?")
        assert c.get(f"/api/agents/{aid}").status_code == 200
        # The reply is sent once the turn's end is in the log; the runner times that save just after.
        assert waits_for(lambda: value(scrape(c), "memgpt_turn_stage_seconds_count", stage="turn") > 0, 10)
        r = c.get("/metrics")
        after = scrape(c)
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    for stage in STAGES:
        assert value(after, "memgpt_turn_stage_seconds_count", stage=stage) >= 1, stage
    ends = [value(samples, "memgpt_turn_stage_seconds_count", stage="end") for samples in (before, after)]
    assert ends[0] == ends[1]  # no save of its own for the end of a turn whose last step ended it
    assert value(after, "memgpt_turn_stage_seconds_count", stage="turn") > value(
        before, "memgpt_turn_stage_seconds_count", stage="turn"
    )
    assert value(after, "memgpt_model_call_seconds_count", call="complete", outcome="ok") >= 1
    assert value(after, "memgpt_command_save_seconds_count", command="queue_turn", outcome="ok") >= 1
    assert value(after, "memgpt_command_save_seconds_count", command="record_step", outcome="ok") >= 1
    assert value(after, "memgpt_http_requests_total", method="POST", route="/api/agents/message", status="200") >= 1
    assert value(after, "memgpt_http_requests_total", method="POST", route="/api/agents", status="200") >= 1
    route = "/api/agents/{agent_id:uuid}"
    assert value(after, "memgpt_http_requests_total", method="GET", route=route, status="200") >= 1
    assert aid not in r.text  # routes are counted by their template, never by the ids a client sends
    assert ("memgpt_turns_queued", frozenset()) in after and ("memgpt_turns_running", frozenset()) in after
    assert value(after, "memgpt_log_tail_lag_events") >= 0


def test_every_view_has_its_lag(chat_server: Server) -> None:
    with chat_server.client() as c:
        views = {v["view"] for v in c.get("/admin/views").json()["views"]}
        samples = scrape(c)
    assert views and labelled(samples, "memgpt_view_lag_events", "view") == views
    assert all(value(samples, "memgpt_view_lag_events", view=v) >= 0 for v in views)


def test_unmatched_paths_share_one_label(chat_server: Server) -> None:
    with chat_server.client() as c:
        for n in range(3):
            assert c.get(f"/api/no-such-route-{n}").status_code == 404
        samples = scrape(c)
    routes = labelled(samples, "memgpt_http_requests_total", "route")
    assert not any("no-such-route" in route for route in routes)
    assert value(samples, "memgpt_http_requests_total", method="GET", route="unmatched", status="404") >= 3


def test_model_retries_are_counted_by_why(chat_server: Server, fresh_llm: FakeLLM) -> None:
    with chat_server.client() as c:
        aid = create_agent(c, name="Retried")
        before = value(scrape(c), "memgpt_model_retries_total", reason="HTTP 503")
        fresh_llm.fail(503)
        say(c, aid, "try again")
        assert value(scrape(c), "memgpt_model_retries_total", reason="HTTP 503") == before + 1


def test_open_streams_are_counted(chat_server: Server) -> None:
    with new_user(chat_server) as user, chat_server.client() as admin:
        with user.stream("GET", "/api/events", params={"follow": "true"}) as r:
            assert r.status_code == 200
            assert value(scrape(admin), "memgpt_open_streams") >= 1
