"""Data sources: upload documents, list them, attach them to agents (and detach)."""

import io
import zipfile

from tests.support import Server, pdf_file


def _pdf(text: str) -> bytes:
    content = f"BT /F1 18 Tf 20 100 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 400 144] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    return pdf_file(objects)


def _docx(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
        )
        z.writestr(
            "word/document.xml",
            '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
            f"<w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>",
        )
    return buffer.getvalue()


def test_sources_take_documents_and_agents_attach_them(server: Server) -> None:
    with server.client() as c:
        source = c.post("/api/sources", json={"name": "handbook", "description": "Staff handbook"}).json()
        assert set(source) == {"id", "name", "description", "user_id", "created_at", "embedding_config"}
        sid = source["id"]
        r = c.post(
            "/api/sources/upload",
            params={"source_id": sid},
            files={"file": ("rules.txt", b"Lunch is at noon.\n\nThe lighthouse opens at nine.")},
        )
        assert r.status_code == 200, r.text
        assert r.json()["added_passages"] == 1 and r.json()["added_documents"] == 1 and r.json()["source"]["id"] == sid
        long_md = "\n\n".join(f"## Rule {i}\n\nRule {i} says the harbour closes at {i} pm." for i in range(80))
        r = c.post(f"/api/sources/{sid}/upload", files={"file": ("rules.md", long_md.encode())})
        assert r.json()["added_passages"] > 1
        assert (
            c.post(
                f"/api/sources/{sid}/upload", files={"file": ("scan.pdf", _pdf("The ferry leaves at dawn."))}
            ).json()["added_passages"]
            == 1
        )
        assert (
            c.post(
                f"/api/sources/{sid}/upload", files={"file": ("memo.docx", _docx("Boats are painted blue."))}
            ).json()["added_passages"]
            == 1
        )
        assert c.post(f"/api/sources/{sid}/upload", files={"file": ("x.bin", b"\x00\x01")}).status_code == 422
        assert c.post(f"/api/sources/{sid}/upload", json={"file": "x"}).status_code == 400

        documents = c.get(f"/api/sources/{sid}/documents").json()["documents"]
        assert [d["filename"] for d in documents] == ["rules.txt", "rules.md", "scan.pdf", "memo.docx"]
        passages = c.get(f"/api/sources/{sid}/passages", params={"limit": 1000}).json()["passages"]
        total = sum(d["passages"] for d in documents)
        assert len(passages) == total
        texts = " ".join(p["text"] for p in passages)
        assert "ferry leaves at dawn" in texts and "Boats are painted blue." in texts and "Rule 79" in texts
        assert [s_["name"] for s_ in c.get("/api/sources").json()["sources"]] == ["handbook"]

        agent = c.post("/api/agents", json={"config": {"name": "Reader"}}).json()["agent_state"]["id"]
        r = c.post("/api/sources/attach", params={"agent_id": agent, "source_name": "handbook"})
        assert r.status_code == 200 and r.json()["id"] == sid
        assert c.get(f"/api/agents/{agent}/memory").json()["archival_memory"] == total
        archived = " ".join(
            p["contents"]
            for p in c.get(f"/api/agents/{agent}/archival", params={"limit": 1000}).json()["archival_memory"]
        )
        assert "The lighthouse opens at nine." in archived
        assert c.post("/api/sources/attach", params={"agent_id": agent, "source_id": sid}).status_code == 409
        assert c.post(f"/api/sources/{sid}/detach", params={"agent_id": agent}).status_code == 200
        assert c.get(f"/api/agents/{agent}/memory").json()["archival_memory"] == 0
        assert c.post("/api/sources/detach", params={"agent_id": agent, "source_name": "handbook"}).status_code == 409
        assert c.post("/api/sources/attach", params={"agent_id": agent, "source_name": "nope"}).status_code == 404

        key = c.post("/admin/users", json={}).json()["api_key"]
    with server.client(key) as other:
        assert other.get(f"/api/sources/{sid}").status_code == 404
        assert other.get("/api/sources").json()["sources"] == []
        assert other.post(f"/api/sources/{sid}/upload", files={"file": ("a.txt", b"x")}).status_code == 404
    with server.client() as c:
        assert c.delete(f"/api/sources/{sid}").json() == {"message": f"Source id={sid} successfully deleted"}
        assert c.get(f"/api/sources/{sid}/passages").status_code == 404


def test_a_large_document_is_stored_and_every_other_write_goes_on(server: Server) -> None:
    """A 1.5 MB text becomes one event of ~1,000 passages; pipelined, its insert stalled for good
    while holding the events table's lock, and every other write of every tenant with it."""
    words = ("tea", "oslo", "ferry", "blue", "dawn", "meaning", "life", "forty", "two", "boats")
    text = " ".join(words[(i * 7) % len(words)] for i in range(300_000)).encode()
    assert len(text) > 1_500_000
    with server.client() as c:
        sid = c.post("/api/sources", json={"name": "big-document"}).json()["id"]
        r = c.post(f"/api/sources/{sid}/upload", files={"file": ("big.txt", text)}, timeout=120)
        assert r.status_code == 200, r.text
        after = c.post("/api/agents", json={"config": {"name": "after-the-big-one"}}, timeout=30)
        assert after.status_code == 200, after.text
        passages = c.get(f"/api/sources/{sid}/passages", params={"limit": 1000}).json()["passages"]
    assert len(passages) > 500
