"""Fair sharing, tried as a greedy or hostile tenant would: hung turns, floods of requests and
passwords, streams, and a hung embedding endpoint must not stall or slow down anyone else."""

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fake_llm import FakeLLM, tool_reply
from tests.support import Server, create_agent, fresh_database, kinds, say

HANG = "please-hang"  # a model call whose prompt holds this waits until the test releases it
HANG_MODEL = "hanging-embedder"  # embeddings requested for this model wait likewise


class HangingLLM(FakeLLM):
    """The scripted model, except that it hangs on one tenant's requests (by their content)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.hung_chats = 0
        self.hung_embeddings = 0

    def _answer(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if path.endswith("/embeddings"):
            hang = body.get("model") == HANG_MODEL
        else:
            hang = HANG in json.dumps(body.get("messages", []))
        if hang:
            with self._lock:
                if path.endswith("/embeddings"):
                    self.hung_embeddings += 1
                else:
                    self.hung_chats += 1
            self.release.wait(600)
        return super()._answer(path, headers, body)


@pytest.fixture
def hanging() -> Iterator[HangingLLM]:
    fake = HangingLLM()
    try:
        yield fake
    finally:
        fake.release.set()
        fake.close()


def _serve(admin_dsn: str, llm: FakeLLM, home: Path, **extra: str) -> Server:
    env = {
        "MEMGPT_MODEL_ENDPOINT_TYPE": "openai",
        "MEMGPT_MODEL_ENDPOINT": llm.url,
        "MEMGPT_MODEL": "gpt-4",
        "MEMGPT_EMBEDDING_ENDPOINT_TYPE": "openai",
        "MEMGPT_EMBEDDING_ENDPOINT": llm.url,
        "MEMGPT_EMBEDDING_MODEL": "fake",
        "MEMGPT_EMBEDDING_DIM": "8",
        "MEMGPT_LLM_TIMEOUT": "600",
        "MEMGPT_LLM_BACKOFF": "0.01",
    } | extra
    return Server(home, fresh_database(admin_dsn), env=env).start()


@pytest.fixture
def server_for(admin_dsn: str, tmp_path: Path) -> Iterator[Any]:
    started: list[Server] = []

    def start(llm: FakeLLM, **extra: str) -> Server:
        started.append(_serve(admin_dsn, llm, tmp_path / f"home{len(started)}", **extra))
        return started[-1]

    try:
        yield start
    finally:
        for server in started:
            server.stop()


def _user(server: Server) -> str:
    with server.client() as admin:
        r = admin.post("/admin/users", json={})
        assert r.status_code == 200, r.text
        return r.json()["api_key"]


def _hang(client: httpx.Client, agent_id: str) -> httpx.Response | None:
    """Queue a turn that hangs in the model: None once the request is left waiting for its reply
    (the turn goes on), or the refusal."""
    try:
        return client.post(
            "/api/agents/message", json={"agent_id": agent_id, "message": f"{HANG} {agent_id}"}, timeout=3.0
        )
    except httpx.ReadTimeout:
        return None


def _wait_for(check: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _refused(r: httpx.Response) -> None:
    assert r.status_code == 429, r.text
    assert int(r.headers["Retry-After"]) >= 1
    assert r.headers["content-type"].startswith("application/json") and r.json()["detail"]


def test_twenty_hung_turns_of_one_user_leave_another_users_turn_answered(server_for: Any, hanging: HangingLLM) -> None:
    server = server_for(hanging)
    greedy, other = _user(server), _user(server)
    with server.client(greedy) as c:
        agents = [create_agent(c, name=f"Hung{i}") for i in range(20)]
        for aid in agents:
            assert _hang(c, aid) is None
    _wait_for(lambda: hanging.hung_chats >= 20, 60, f"only {hanging.hung_chats} of 20 hung turns reached the model")

    with server.client(other) as c:
        c.timeout = httpx.Timeout(120.0)
        aid = create_agent(c, name="Bystander")
        started = time.monotonic()
        answer = kinds(say(c, aid, "are you there?"))
        took = time.monotonic() - started
    assert ("assistant_message", "echo: are you there?") in answer
    assert took < 30, f"another user's turn took {took:.1f} s behind 20 hung turns"
    assert hanging.hung_chats == 20  # still hanging: the bystander did not wait for them


def test_limits_answer_429_with_retry_after(server_for: Any, hanging: HangingLLM) -> None:
    server = server_for(
        hanging,
        MEMGPT_MAX_RUNNING_TURNS="3",
        MEMGPT_MAX_QUEUED_TURNS="2",
        MEMGPT_MAX_STREAMS="2",
        MEMGPT_RATE_PER_SECOND="2",
        MEMGPT_RATE_BURST="40",
    )
    runner, queuer, streamer, flooder, bystander = (_user(server) for _ in range(5))

    # Running turns: three hang; the next one is refused, whichever agent it is for.
    with server.client(runner) as c:
        agents = [create_agent(c, name=f"Run{i}") for i in range(5)]
        for n, aid in enumerate(agents[:3], 1):  # each starts before the next is sent: none waits
            r = _hang(c, aid)
            assert r is None, r.text
            _wait_for(lambda n=n: hanging.hung_chats >= n, 30, f"turn {n} did not start")
        statuses = []
        for _ in range(10):
            r = c.post("/api/agents/message", json={"agent_id": agents[3], "message": "one more", "stream": False})
            statuses.append(r.status_code)
            if r.status_code == 429:
                _refused(r)
                break
            time.sleep(0.5)
        assert statuses[-1] == 429, statuses

    # Queued turns: one hangs, two wait behind it, the next is refused.
    with server.client(queuer) as c:
        aid = create_agent(c, name="Queue")
        assert _hang(c, aid) is None
        _wait_for(lambda: hanging.hung_chats >= 4, 30, "the first turn did not start")
        responses = [_hang(c, aid) for _ in range(5)]
        assert responses[:2] == [None, None]
        refused = next((r for r in responses if r is not None), None)
        assert refused is not None, responses
        _refused(refused)
        assert "waiting" in refused.json()["detail"]

    # Open streams: two stay open, the third is refused before it queues a turn.
    with server.client(streamer) as c, server.client(streamer) as d:
        one, two, three = (create_agent(c, name=f"Stream{i}") for i in range(3))
        first = c.stream("POST", "/api/agents/message", json={"agent_id": one, "message": HANG, "stream": True})
        second = d.stream("POST", "/api/agents/message", json={"agent_id": two, "message": HANG, "stream": True})
        with first as r1, second as r2:
            assert (r1.status_code, r2.status_code) == (200, 200)
            third = c.post("/api/agents/message", json={"agent_id": three, "message": "never-queued", "stream": True})
            _refused(third)
        assert "never-queued" not in c.get(f"/api/agents/{three}/messages", params={"count": 50}).text
        # The dropped streams are counted off once the server notices (at the latest on its next
        # keep-alive); then a stream opens again.
        deadline = time.monotonic() + 60
        while True:
            with c.stream(
                "POST", "/api/agents/message", json={"agent_id": three, "message": "back", "stream": True}
            ) as r:
                if r.status_code == 200:
                    break
                r.read()
                assert r.status_code == 429 and time.monotonic() < deadline
            time.sleep(1)

    # Requests per key: a flood is cut off with 429; another key goes on as before.
    with server.client(flooder) as c:
        codes = [c.get("/api/agents").status_code for _ in range(120)]
        assert 429 in codes and set(codes) <= {200, 429}, codes
        _refused(c.get("/api/agents"))
    with server.client(bystander) as c:
        assert c.get("/api/agents").status_code == 200
        aid = create_agent(c, name="Calm")
        assert ("assistant_message", "echo: hello") in kinds(say(c, aid, "hello"))

    # Password guessing on /api/auth: a burst of wrong passwords meets 429 from this address.
    with server.client(None) as anonymous:
        codes = [anonymous.post("/api/auth", json={"password": f"guess-{i}"}).status_code for i in range(30)]
        assert codes[0] == 400 and codes[-1] == 429, codes
        _refused(anonymous.post("/api/auth", json={"password": "guess-again"}))


def test_a_hung_embedding_endpoint_leaves_other_users_passages_searchable(server_for: Any, hanging: HangingLLM) -> None:
    server = server_for(hanging)
    slow, quick = _user(server), _user(server)
    with server.client(slow) as c:
        config = {
            "embedding_endpoint_type": "openai",
            "embedding_endpoint": hanging.url,
            "embedding_model": HANG_MODEL,
            "embedding_dim": 8,
        }
        r = c.post("/api/agents", json={"config": {"name": "SlowMemory", "embedding_config": config}})
        assert r.status_code == 200, r.text
        aid = r.json()["agent_state"]["id"]
        for i in range(5):
            assert c.post(f"/api/agents/{aid}/archival", json={"content": f"Slow fact {i}."}).status_code == 200
    _wait_for(lambda: hanging.hung_embeddings >= 1, 30, "the slow user's passages never reached their endpoint")

    with server.client(quick) as c:
        c.timeout = httpx.Timeout(120.0)
        aid = create_agent(c, name="QuickMemory")
        r = c.post(f"/api/agents/{aid}/archival", json={"content": "Ada's cat is a grey tabby named Ziggy."})
        assert r.status_code == 200, r.text
        hanging.script(tool_reply("archival_memory_search", {"query": "Ada's cat", "request_heartbeat": False}))
        returns = [m for m in say(c, aid, "what is the cat called?") if "function_return" in m]
    assert returns and "Ziggy" in returns[0]["function_return"], returns


def test_a_revoked_keys_flood_leaves_its_address_room_for_new_keys(server_for: Any, hanging: HangingLLM) -> None:
    server = server_for(hanging)  # the server's default limits
    revoked = _user(server)
    with server.client(revoked) as c:
        assert c.get("/api/agents").status_code == 200
    with server.client() as admin:
        assert admin.delete("/admin/users/keys", params={"api_key": revoked}).status_code == 200
    with server.client(revoked) as c:  # more than an address's allowance without credentials (200)
        assert {c.get("/api/agents").status_code for _ in range(300)} == {401}
    with server.client(_user(server)) as c:  # a new key from the same address is served
        assert c.get("/api/agents").status_code == 200
    with server.client("sk-never-issued") as c:  # while keys never issued still meet the address's limit
        # Eight at a time, until the address's bucket (200, refilled at 50 a second) is empty: on
        # a slow machine a fixed number of requests came too slowly to drain it before the end.
        codes: list[int] = []
        with ThreadPoolExecutor(8) as pool:
            while 429 not in codes and len(codes) < 4000:
                codes += pool.map(lambda _: c.get("/api/agents").status_code, range(80))
        assert codes[0] == 401 and 429 in codes and set(codes) == {401, 429}, codes[:10]
