"""Deletion is final: nothing of a user is committed after the user's `Deleted` event, however
creations race the deletion."""

import threading
import time

import httpx
import psycopg

from tests.fake_llm import FakeLLM
from tests.support import Server

_AFTER_DELETED = """
SELECT e.topic FROM memgpt_events e, memgpt_events d
WHERE d.originator_id = %(user)s AND d.topic = 'memgpt.User.Deleted'
  AND e.notification_id > d.notification_id
  AND (convert_from(e.state, 'UTF8')::jsonb #>> '{user_id,_data_}' = %(hex)s
       OR (e.originator_id = %(user)s AND e.topic <> 'memgpt.User.Deleted'))
"""


class _Creators:
    """Threads that keep creating things for one user (and issuing keys) until stopped."""

    KINDS = ("agent",) * 6 + ("source", "source", "assistant")

    def __init__(self, server: Server, user: dict[str, str]) -> None:
        self.server, self.user = server, user
        self.stop = threading.Event()
        self.statuses: list[int] = []
        self.workers = [threading.Thread(target=self._create, args=(k,)) for k in self.KINDS]
        self.workers.append(threading.Thread(target=self._issue_keys))

    def _create(self, kind: str) -> None:
        with self.server.client(self.user["api_key"]) as c:
            while not self.stop.is_set():
                try:
                    if kind == "agent":
                        r = c.post("/api/agents", json={"config": {}})
                    elif kind == "source":
                        r = c.post("/api/sources", json={"name": f"s{time.monotonic_ns()}"})
                    else:
                        r = c.post("/v1/assistants", json={"model": "gpt-4"})
                    self.statuses.append(r.status_code)
                except httpx.TransportError:
                    self.statuses.append(0)

    def _issue_keys(self) -> None:
        with self.server.client() as admin:
            while not self.stop.is_set():
                r = admin.post("/admin/users/keys", json={"user_id": self.user["user_id"]})
                self.statuses.append(r.status_code)

    def __enter__(self) -> "_Creators":
        for w in self.workers:
            w.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for w in self.workers:
            w.join(timeout=60)


def test_creations_racing_a_deletion_never_land_after_it(chat_server: Server, dsn: str) -> None:
    for _ in range(6):
        with chat_server.client() as admin:
            user = admin.post("/admin/users", json={}).json()
        with _Creators(chat_server, user) as creators:
            time.sleep(0.7)
            with chat_server.client() as admin:
                assert admin.delete(f"/admin/users/{user['user_id']}").status_code == 200
            time.sleep(1.0)
        statuses = creators.statuses
        assert statuses and 200 in statuses and not [s for s in statuses if s >= 500 or s == 0]
        with psycopg.connect(dsn) as conn:
            late = conn.execute(_AFTER_DELETED, {"user": user["user_id"], "hex": user["user_id"].replace("-", "")})
            assert late.fetchall() == []
        with chat_server.client(user["api_key"]) as c:
            assert c.get("/api/agents").status_code == 401


_AGENT_EVENTS_AFTER_DELETED = """
SELECT e.topic FROM memgpt_events e, memgpt_events d
WHERE d.originator_id = %(user)s AND d.topic = 'memgpt.User.Deleted'
  AND e.notification_id > d.notification_id AND e.originator_id = ANY(%(items)s)
"""


def test_a_turn_running_when_its_user_is_deleted_records_nothing_after_it(
    chat_server: Server, fresh_llm: FakeLLM, dsn: str
) -> None:
    with chat_server.client() as admin:
        user = admin.post("/admin/users", json={}).json()
    with chat_server.client(user["api_key"]) as c:
        agent = c.post("/api/agents", json={"config": {"name": "Doomed"}}).json()["agent_state"]["id"]
        source = c.post("/api/sources", json={"name": "notes"}).json()["id"]
        fresh_llm.delay = 1.5  # each model call: the turn is mid-step when the deletion comes

        answers: list[int] = []

        def send(text: str) -> None:
            with chat_server.client(user["api_key"]) as sender:
                r = sender.post("/api/agents/message", json={"agent_id": agent, "message": text, "stream": False})
                answers.append(r.status_code)

        senders = [threading.Thread(target=send, args=(f"message {i}",)) for i in range(3)]
        for t in senders:
            t.start()
        deadline = time.monotonic() + 120  # generous: a loaded machine starts turns slowly
        while fresh_llm.in_flight == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fresh_llm.in_flight, "a turn was asking the model when the user was deleted"
        with chat_server.client() as admin:
            assert admin.delete(f"/admin/users/{user['user_id']}").status_code == 200
        for t in senders:
            t.join(timeout=120)
        deadline = time.monotonic() + 120  # the model answers the call in flight after the deletion...
        while fresh_llm.in_flight and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # ...and the runner tries to record that step

    assert answers and all(status < 500 for status in answers)
    with psycopg.connect(dsn) as conn:
        late = conn.execute(_AGENT_EVENTS_AFTER_DELETED, {"user": user["user_id"], "items": [agent, source]})
        assert late.fetchall() == []
        deleted = conn.execute(
            "SELECT topic FROM memgpt_events WHERE originator_id = ANY(%s) AND topic LIKE '%%.Deleted'",
            ([agent, source],),
        )
        assert sorted(row[0] for row in deleted) == ["memgpt.Agent.Deleted", "memgpt.Source.Deleted"]
    with chat_server.client() as admin:
        assert admin.get(f"/api/agents/{agent}/messages").status_code == 404
