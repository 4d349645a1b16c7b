"""Bounded work for any input: what a hostile tenant uploads or sends answers 4xx, the server's
memory stays bounded, and nothing answers 500."""

import io
import time
import zipfile
import zlib
from pathlib import Path

import httpx

from tests.support import Server, pdf_file

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _docx(document: bytes, extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", b'<?xml version="1.0"?><Types/>')
        z.writestr("word/document.xml", document)
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return buffer.getvalue()


def _docx_bomb(megabytes: int) -> bytes:
    """A DOCX whose document.xml unzips to `megabytes` MB of valid XML, streamed into the zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open("word/document.xml", "w", force_zip64=True) as part:
            part.write(f'<?xml version="1.0"?><w:document xmlns:w="{W}"><w:body><w:p><w:r><w:t>'.encode())
            block = b"A" * (1024 * 1024)
            for _ in range(megabytes):
                part.write(block)
            part.write(b"</w:t></w:r></w:p></w:body></w:document>")
    return buffer.getvalue()


def _pdf_page(content_object: bytes, extra_trailer: bytes = b"") -> bytes:
    return pdf_file(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 400 144] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            content_object,
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )


def _pdf_flate_bomb(megabytes: int) -> bytes:
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(b"\0" * (1024 * 1024)) for _ in range(megabytes)) + compressor.flush()
    return _pdf_page(b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream")


def _upload(client: httpx.Client, sid: str, name: str, data: bytes) -> httpx.Response:
    return client.post(f"/api/sources/{sid}/upload", files={"file": (name, data)}, timeout=180.0)


def _user(server: Server) -> httpx.Client:
    with server.client() as admin:
        return server.client(admin.post("/admin/users", json={}).json()["api_key"])


def test_hostile_documents_answer_4xx_with_memory_bounded(server: Server) -> None:
    assert server.proc is not None
    client = _user(server)
    sid = client.post("/api/sources", json={"name": "bombs"}).json()["id"]
    entities = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        b'<w:document xmlns:w="'
        + W.encode()
        + b'"><w:body><w:p><w:r><w:t>&c;&c;&c;</w:t></w:r></w:p></w:body></w:document>'
    )
    hostile = {
        "bomb.docx": _docx_bomb(300),
        "entities.docx": _docx(entities),
        "malformed.docx": _docx(b"<w:document><w:body><w:p>never closed"),
        "nodocument.docx": b"PK\x05\x06" + b"\0" * 18,
        "notzip.docx": b"this is not a zip file at all",
        "flatebomb.pdf": _pdf_flate_bomb(400),
        "unknownfilter.pdf": _pdf_page(b"<< /Length 4 /Filter /NoSuchDecode >>\nstream\nabcd\nendstream"),
        "broken.pdf": b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 9 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF",
        "encrypted.pdf": _pdf_page(b"<< /Length 4 >>\nstream\nabcd\nendstream").replace(
            b"/Root 1 0 R", b"/Root 1 0 R /Encrypt << /Filter /Standard /V 4 /R 4 /O <00> /U <00> /P -4 >>"
        ),
    }
    before = _rss_mb(server.proc.pid)
    peak = before
    for name, data in hostile.items():
        r = _upload(client, sid, name, data)
        peak = max(peak, _rss_mb(server.proc.pid))
        assert r.status_code in (413, 422), (name, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/json") and r.json()["detail"], name
    assert len(hostile["bomb.docx"]) < 1024 * 1024  # small on the wire, 300 MB unpacked
    # The 20 MB upload itself is held while it is read; nothing near the bombs' unpacked sizes.
    assert peak - before < 200, (before, peak)
    # Documents that are fine still read.
    ok = _docx(
        f'<?xml version="1.0"?><w:document xmlns:w="{W}"><w:body><w:p><w:r><w:t>Boats are blue.</w:t>'
        f"</w:r></w:p></w:body></w:document>".encode()
    )
    assert _upload(client, sid, "fine.docx", ok).status_code == 200
    passages = client.get(f"/api/sources/{sid}/passages").json()["passages"]
    assert [p["text"] for p in passages] == ["Boats are blue."]


def test_deep_json_and_odd_last_event_ids_answer_400(server: Server) -> None:
    client = _user(server)
    agent = client.post("/api/agents", json={"config": {"name": "deep"}}).json()["agent_state"]["id"]
    for depth in (401, 900, 2000):
        body = '{"config": ' + "[" * depth + "]" * depth + "}"
        r = client.post("/api/agents", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (depth, r.status_code, r.text)
        assert r.json()["detail"]
    for resume in (b"\xb2", "²".encode(), "١٢".encode(), b"12a", b"9" * 26):
        r = client.post(
            f"/api/agents/{agent}/messages",
            json={"message": "hi", "stream": True},
            headers={"Last-Event-ID": resume},
        )
        assert r.status_code == 400, (resume, r.status_code, r.text)


def test_a_long_run_on_sentence_is_chunked_in_linear_time(server: Server) -> None:
    client = _user(server)
    sid = client.post("/api/sources", json={"name": "run-on"}).json()["id"]
    words = ["harbour", "ferry", "lighthouse", "the", "at", "closes", "blue", "painted", "noon"]
    text = " ".join(words[i % len(words)] + str(i % 97) for i in range(50_000))  # ~400 KB, no sentence end
    started = time.monotonic()
    r = _upload(client, sid, "runon.txt", text.encode())
    assert r.status_code == 200, r.text
    assert r.json()["added_passages"] > 100
    assert time.monotonic() - started < 40  # was ~50 s of chunking alone (0.125 s per KB); now a few seconds
