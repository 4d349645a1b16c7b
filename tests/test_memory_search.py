"""Recall and archival memory through the API: search by meaning, word and date; paging; counts;
isolation; rebuilds; embedding failures; `memgpt load`."""

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.fake_llm import FakeLLM, tool_reply
from tests.support import MEMGPT, Server, create_agent, say

FACTS = {
    "Ada's favourite drink is jasmine tea, brewed for exactly three minutes.": "What does Ada like to drink?",
    "Ada was born in Lisbon in 1990 and moved to Oslo as a teenager.": "Which city is Ada originally from?",
    "Ada works as a marine biologist studying coral reefs.": "What is Ada's job?",
    "Ada's cat is a grey tabby named Ziggy.": "Does Ada have any pets?",
    "Ada is allergic to peanuts and carries an epinephrine pen.": "What food must Ada avoid?",
    "The quarterly budget review moved to the second Thursday of March.": "When is the finance meeting?",
    "The office printer on floor four jams on glossy paper.": "Which machine keeps breaking?",
}
FILLER = [f"Note {i}: the weather on day {i} was mild with light wind from the west." for i in range(40)]


def _search(c: httpx.Client, llm: FakeLLM, aid: str, function: str, **args: Any) -> str:
    llm.script(tool_reply(function, {**args, "request_heartbeat": False}))
    returns = [m for m in say(c, aid, "look it up") if "function_return" in m]
    assert returns[0]["status"] == "success", returns
    return returns[0]["function_return"]


def _results(answer: str) -> list[str]:
    return json.loads(answer.split("): ", 1)[1]) if answer.startswith("Showing") else []


def test_paraphrased_questions_find_archived_facts_with_the_embedded_model(
    chat_server: Server, fresh_llm: FakeLLM
) -> None:
    with chat_server.client() as c:
        aid = create_agent(c, name="Archivist")
        state = c.get(f"/api/agents/{aid}").json()["agent_state"]
        assert state["embedding_config"]["embedding_endpoint_type"] == "local"
        assert state["embedding_config"]["embedding_dim"] == 384
        for text in [*FACTS, *FILLER]:
            r = c.post(f"/api/agents/{aid}/archival", json={"content": text})
            assert r.status_code == 200 and len(r.json()["ids"]) == 1
        assert c.get(f"/api/agents/{aid}/memory").json()["archival_memory"] == len(FACTS) + len(FILLER)
        for fact, question in FACTS.items():
            answer = _search(c, fresh_llm, aid, "archival_memory_search", query=question)
            assert answer.startswith(f"Showing 5 of {len(FACTS) + len(FILLER)} results (page 0/9)")
            assert _results(answer)[0] == fact, (question, _results(answer))
        page9 = _results(_search(c, fresh_llm, aid, "archival_memory_search", query="weather", page=9))
        assert len(page9) == (len(FACTS) + len(FILLER)) - 45


def test_other_agents_and_users_memories_never_appear(chat_server: Server, fresh_llm: FakeLLM) -> None:
    with chat_server.client() as admin:
        key = admin.post("/admin/users", json={}).json()["api_key"]
        mine = create_agent(admin, name="Mine")
        sibling = create_agent(admin, name="Sibling")
        admin.post(f"/api/agents/{sibling}/archival", json={"content": "The vault code is 4-8-15-16."})
        say(admin, sibling, "the vault code is 4-8-15-16")
    with chat_server.client(key) as other:
        theirs = create_agent(other, name="Theirs")
        other.post(f"/api/agents/{theirs}/archival", json={"content": "The vault code of user two is 23-42."})
        say(other, theirs, "my vault code is 23-42")
        assert other.get(f"/api/agents/{sibling}/archival").status_code == 404
        assert other.post(f"/api/agents/{sibling}/archival", json={"content": "x"}).status_code == 404
    with chat_server.client() as admin:
        admin.post(f"/api/agents/{mine}/archival", json={"content": "Bananas are rich in potassium."})
        assert _results(_search(admin, fresh_llm, mine, "archival_memory_search", query="vault code")) == [
            "Bananas are rich in potassium."
        ]
        assert _search(admin, fresh_llm, mine, "conversation_search", query="vault") == "No results found."


def test_a_500_message_conversation_is_searchable_by_word_and_date(chat_server: Server, fresh_llm: FakeLLM) -> None:
    topics = ["giraffes", "volcanoes", "sailing", "chess", "bread"]
    with chat_server.client() as c:
        aid = create_agent(c, name="Chatty")
        for n in range(167):  # each turn adds a user message, a reply and its result
            say(c, aid, f"message {n} is about {topics[n % 5]}")
        history = c.get(f"/api/agents/{aid}/messages", params={"count": 1000}).json()["messages"]
        assert len(history) >= 500
        assert c.get(f"/api/agents/{aid}/memory").json()["recall_memory"] == len(history)

        giraffes = 2 * len(range(0, 167, 5))  # the user's message and the echo in the reply
        first = _search(c, fresh_llm, aid, "conversation_search", query="giraffe")  # stemmed: matches "giraffes"
        pages = (giraffes + 4) // 5
        assert first.startswith(f"Showing 5 of {giraffes} results (page 0/{pages - 1})")
        assert "message 165 is about giraffes" in first  # newest first
        last = _search(c, fresh_llm, aid, "conversation_search", query="giraffes", page=pages - 1)
        assert len(_results(last)) == giraffes - 5 * (pages - 1) and "message 0 is about giraffes" in last
        beyond = _search(c, fresh_llm, aid, "conversation_search", query="giraffes", page=pages + 3)
        assert beyond.startswith(f"Showing 0 of {giraffes} results")

        today = time.strftime("%Y-%m-%d", time.gmtime())
        by_date = _search(c, fresh_llm, aid, "conversation_search_date", start_date=today, end_date=today)
        total = int(by_date.split(" of ")[1].split()[0])
        assert total >= 2 * 167  # every user message and every reply of today
        assert by_date.startswith(f"Showing 5 of {total} results (page 0/{(total + 4) // 5 - 1})")
        assert "Boot sequence finished" in by_date  # oldest first
        assert (
            _search(c, fresh_llm, aid, "conversation_search_date", start_date="2000-01-01", end_date="2000-12-31")
            == "No results found."
        )


def test_rest_archival_paging_chunking_and_deletion(chat_server: Server, fresh_llm: FakeLLM) -> None:
    with chat_server.client() as c:
        aid = create_agent(c, name="Paged", embedding_config={"embedding_chunk_size": 40})
        ids = [
            c.post(f"/api/agents/{aid}/archival", json={"content": f"passage {i}"}).json()["ids"][0] for i in range(12)
        ]
        page = c.get(f"/api/agents/{aid}/archival", params={"start": 0, "count": 5}).json()["archival_memory"]
        assert [p["id"] for p in page] == ids[:5] and page[0]["contents"] == "passage 0"
        assert [
            p["id"] for p in c.get(f"/api/agents/{aid}/archival", params={"start": 10}).json()["archival_memory"]
        ] == ids[10:]
        after = c.get(f"/api/agents/{aid}/archival", params={"after": ids[4], "limit": 3}).json()["archival_memory"]
        assert [p["id"] for p in after] == ids[5:8]
        before = c.get(f"/api/agents/{aid}/archival", params={"before": ids[4], "limit": 2}).json()["archival_memory"]
        assert [p["id"] for p in before] == ids[2:4]
        between = c.get(f"/api/agents/{aid}/archival", params={"after": ids[1], "before": ids[3]}).json()
        assert [p["id"] for p in between["archival_memory"]] == ids[2:3]
        history = [m["id"] for m in c.get(f"/api/agents/{aid}/messages", params={"count": 100}).json()["messages"]]
        recalled = c.get(f"/api/agents/{aid}/messages", params={"after": history[-1], "before": history[0]}).json()
        assert [m["id"] for m in recalled["messages"]] == history[1:-1]  # newest first, both ends excluded

        r = c.delete(f"/api/agents/{aid}/archival", params={"id": ids[0]})
        assert r.json() == {"message": f"Memory id={ids[0]} successfully deleted"}
        assert c.delete(f"/api/agents/{aid}/archival", params={"id": ids[0]}).status_code == 404
        assert c.get(f"/api/agents/{aid}/memory").json()["archival_memory"] == 11

        long_text = " ".join(f"Sentence {i} tells a small story about the sea." for i in range(30))
        chunk_ids = c.post(f"/api/agents/{aid}/archival", json={"content": long_text}).json()["ids"]
        assert len(chunk_ids) > 5
        stored = c.get(f"/api/agents/{aid}/archival", params={"after": ids[-1], "limit": 100}).json()["archival_memory"]
        assert " ".join(p["contents"] for p in stored) == long_text  # split at sentence ends, nothing lost
        fresh_llm.script(tool_reply("archival_memory_insert", {"content": long_text, "request_heartbeat": False}))
        say(c, aid, "remember the story")
        assert c.get(f"/api/agents/{aid}/memory").json()["archival_memory"] == 11 + 2 * len(chunk_ids)


def test_a_failing_embedding_endpoint_delays_but_never_loses_a_passage(
    chat_server: Server, fresh_llm: FakeLLM, dsn: str
) -> None:
    config = {
        "embedding_endpoint_type": "openai",
        "embedding_endpoint": fresh_llm.url,
        "embedding_model": "fake",
        "embedding_dim": 8,
    }
    fresh_llm.embedding_failures = 2
    with chat_server.client() as c:
        aid = create_agent(c, name="Remote", embedding_config=config)
        [pid] = c.post(f"/api/agents/{aid}/archival", json={"content": "Kept through the outage."}).json()["ids"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with psycopg.connect(dsn) as conn:
            row = conn.execute(
                "SELECT embedding IS NOT NULL, attempts, dim FROM view_passages WHERE id = %s", (pid,)
            ).fetchone()
        if row and row[0]:
            break
        time.sleep(0.2)
    assert row == (True, 2, 8)
    with chat_server.client() as c:
        found = _search(c, fresh_llm, aid, "archival_memory_search", query="Kept through the outage.")
    assert _results(found) == ["Kept through the outage."]


def test_rebuilt_memory_views_equal_the_live_ones_embeddings_included(
    admin_dsn: str, fresh_llm: FakeLLM, tmp_path: Path
) -> None:
    from tests.support import fresh_database

    dsn = fresh_database(admin_dsn)
    env = {"MEMGPT_MODEL_ENDPOINT_TYPE": "openai", "MEMGPT_MODEL_ENDPOINT": fresh_llm.url, "MEMGPT_MODEL": "gpt-4"}
    server = Server(tmp_path, dsn, env=env).start()
    try:
        with server.client() as c:
            aid = create_agent(c, name="Rebuilt")
            for text in list(FACTS)[:4]:
                c.post(f"/api/agents/{aid}/archival", json={"content": text})
            for n in range(3):
                say(c, aid, f"hello {n}")
            doomed = c.get(f"/api/agents/{aid}/archival").json()["archival_memory"][0]["id"]
            c.delete(f"/api/agents/{aid}/archival", params={"id": doomed})
            _search(c, fresh_llm, aid, "archival_memory_search", query="drink")
    finally:
        server.stop()
    query = {
        "view_passages": "SELECT id, agent_id, text, created_at, embedding::text, dim FROM view_passages ORDER BY id",
        "view_messages": "SELECT id, agent_id, role, text, content, position, seq FROM view_messages ORDER BY id",
    }

    def rows() -> dict[str, list[Any]]:
        with psycopg.connect(dsn) as conn:
            return {t: conn.execute(q).fetchall() for t, q in query.items()}

    live = rows()
    assert len(live["view_passages"]) == 3 and all(r[4] for r in live["view_passages"])
    done = subprocess.run([MEMGPT, "rebuild"], env=os.environ | {"MEMGPT_PG_URI": dsn}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Embedded 3 passages" in done.stdout
    assert rows() == live


@pytest.mark.parametrize("binary", [b"\x00\x01\x02binary"])
def test_memgpt_load_stores_a_directory_with_progress(chat_server: Server, tmp_path: Path, binary: bytes) -> None:
    with chat_server.client() as c:
        aid = create_agent(c, name="Loader", embedding_config={"embedding_chunk_size": 60})
    docs = tmp_path / "docs"
    (docs / "nested").mkdir(parents=True)
    (docs / "a.txt").write_text("\n\n".join(f"Paragraph {i} of the first file, about lighthouses." for i in range(20)))
    (docs / "nested" / "b.md").write_text("# Notes\n\nThe second file mentions the harbour master, Ingrid.")
    (docs / "image.bin").write_bytes(binary)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMGPT_")} | {
        "MEMGPT_PG_URI": chat_server.dsn or "",
        "MEMGPT_HOME": str(tmp_path),
    }
    done = subprocess.run(
        [MEMGPT, "load", "--agent", "Loader", str(docs)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    loaded = int(done.stdout.split("Loaded ")[1].split()[0])
    assert loaded >= 3 and "Skipping" in done.stderr and "image.bin" in done.stderr
    assert f"Storing passages: {loaded}/{loaded}" in done.stderr and f"Embedding: {loaded}/{loaded}" in done.stderr
    with chat_server.client() as c:
        assert c.get(f"/api/agents/{aid}/memory").json()["archival_memory"] == loaded
        texts = " ".join(
            p["contents"] for p in c.get(f"/api/agents/{aid}/archival", params={"limit": 100}).json()["archival_memory"]
        )
        assert "harbour master, Ingrid" in texts and "Paragraph 19" in texts
    missing = subprocess.run(
        [MEMGPT, "load", "--agent", "Nobody", str(docs)], env=env, capture_output=True, text=True, timeout=120
    )
    assert missing.returncode != 0 and "No agent named 'Nobody'" in missing.stderr
