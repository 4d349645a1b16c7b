"""Text out of uploaded files: plain text and Markdown as they are, PDF (pypdf), DOCX (its XML).

An upload is hostile input: a small DOCX can unzip to gigabytes, a PDF can hold decompression
bombs, unknown filters, encryption or parser traps. So PDF and DOCX are parsed in a child process
(`python -m runtime.adapters.documents`) with a memory limit and a deadline: whatever the parser does, the
server's memory and event loop are untouched, and every failure answers 4xx. DOCX entries are
checked before they are read (declared size and compression ratio), read with a limit, and parsed
by a streaming SAX reader that refuses DTDs and entities (defusedxml).
"""

import asyncio
import io
import logging
import re
import resource
import sys
import warnings
import zipfile
from xml.sax import SAXException
from xml.sax import handler as sax_handler

import defusedxml.sax

from domain.errors import InvalidValue

PARSE_SECONDS = 60.0  # one document's parse, wall clock
PARSE_MEMORY = 1024 * 1024 * 1024  # the parsing child's address space
MAX_PAGES = 2000
MAX_TEXT = 20 * 1024 * 1024  # characters of text taken out of one document
DOCX_MAX_XML = 64 * 1024 * 1024  # bytes of XML read out of one DOCX, all parts together
DOCX_MAX_RATIO = 100  # uncompressed / compressed size of one part (Word's own XML stays well below)
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


class UnreadableDocument(InvalidValue):
    """Not a document we can read (answered 422)."""


class DocumentTooLarge(InvalidValue):
    """More than the limits allow (answered 413)."""


def _is_pdf(filename: str, data: bytes) -> bool:
    return filename.lower().endswith(".pdf") or data.startswith(b"%PDF-")


def _is_docx(filename: str) -> bool:
    return filename.lower().endswith(".docx")


async def read_text(filename: str, data: bytes) -> str:
    """The document's text; PDF and DOCX parsed in a limited child process."""
    if not (_is_pdf(filename, data) or _is_docx(filename)):
        return plain(filename, data)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "runtime.adapters.documents",
        filename,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(child.communicate(data), PARSE_SECONDS)
    except TimeoutError:
        raise UnreadableDocument(f"{filename} took longer than {PARSE_SECONDS:g} s to read.") from None
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    reason = err.decode("utf-8", "replace").strip()[-300:]
    if child.returncode == 0:
        return out.decode("utf-8", "replace")
    if child.returncode == _TOO_LARGE:
        raise DocumentTooLarge(reason or f"{filename} is larger than the limits allow.")
    raise UnreadableDocument(reason or f"{filename} could not be read.")


def plain(filename: str, data: bytes) -> str:
    if b"\0" in data[:8192]:
        raise UnreadableDocument(f"{filename} is not text, PDF or DOCX.")
    return data.decode("utf-8", errors="replace")


def _pdf(filename: str, data: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted and not reader.decrypt(""):
        raise UnreadableDocument(f"{filename} is an encrypted PDF; upload it without a password.")
    if len(reader.pages) > MAX_PAGES:
        raise DocumentTooLarge(f"{filename} has {len(reader.pages)} pages; at most {MAX_PAGES} are read.")
    texts, size = [], 0
    for page in reader.pages:
        text = page.extract_text() or ""
        size += len(text)
        if size > MAX_TEXT:
            raise DocumentTooLarge(f"{filename} holds more than {MAX_TEXT} characters of text.")
        texts.append(text)
    return "\n\n".join(texts)


class _DocxText(sax_handler.ContentHandler):
    """The text of WordprocessingML as docx2txt reads it: runs' text, tabs, breaks, and a blank
    line before each paragraph — streamed, so no tree of the XML is ever built."""

    def __init__(self, filename: str) -> None:
        super().__init__()
        self._filename = filename
        self._parts: list[str] = []
        self._size = 0
        self._in_text = 0

    def _add(self, text: str) -> None:
        self._size += len(text)
        if self._size > MAX_TEXT:
            raise DocumentTooLarge(f"{self._filename} holds more than {MAX_TEXT} characters of text.")
        self._parts.append(text)

    def startElementNS(self, name: tuple[str | None, str], qname: str | None, attrs: object) -> None:
        uri, local = name
        if uri != _W:
            return
        if local == "t":
            self._in_text += 1
        elif local == "tab":
            self._add("\t")
        elif local in ("br", "cr"):
            self._add("\n")
        elif local == "p":
            self._add("\n\n")

    def endElementNS(self, name: tuple[str | None, str], qname: str | None) -> None:
        if name == (_W, "t"):
            self._in_text -= 1

    def characters(self, content: str) -> None:
        if self._in_text:
            self._add(content)

    def text(self) -> str:
        return "".join(self._parts)


def _docx(filename: str, data: bytes) -> str:
    archive = zipfile.ZipFile(io.BytesIO(data))
    names = {info.filename: info for info in archive.infolist()}
    if "word/document.xml" not in names:
        raise UnreadableDocument(f"{filename} is not a DOCX file: it has no word/document.xml.")
    headers = [n for n in names if re.match(r"word/header[0-9]*\.xml$", n)]
    footers = [n for n in names if re.match(r"word/footer[0-9]*\.xml$", n)]
    parts = [*headers, "word/document.xml", *footers]
    declared = sum(names[n].file_size for n in parts)
    if declared > DOCX_MAX_XML:
        raise DocumentTooLarge(f"{filename} unpacks to {declared} bytes of XML; at most {DOCX_MAX_XML} are read.")
    for n in parts:
        info = names[n]
        if info.file_size > 1024 * 1024 and info.file_size > DOCX_MAX_RATIO * max(info.compress_size, 1):
            raise DocumentTooLarge(
                f"{filename}: {n} expands {info.file_size // max(info.compress_size, 1)}-fold; "
                f"at most {DOCX_MAX_RATIO}-fold is read."
            )
    budget = DOCX_MAX_XML  # read with a limit too, whatever the entries declare
    texts = []
    for n in parts:
        reader = _DocxText(filename)
        parser = defusedxml.sax.make_parser()
        parser.forbid_dtd = True  # type: ignore[attr-defined]
        parser.setFeature(sax_handler.feature_namespaces, True)
        parser.setContentHandler(reader)
        with archive.open(n) as stream:
            while block := stream.read(65536):
                budget -= len(block)
                if budget < 0:
                    raise DocumentTooLarge(f"{filename} unpacks to more than {DOCX_MAX_XML} bytes of XML.")
                parser.feed(block)  # type: ignore[attr-defined]
        parser.close()  # type: ignore[attr-defined]
        texts.append(reader.text())
    return "".join(texts).strip()


def extract(filename: str, data: bytes) -> str:
    """The document's text, parsed here (the child calls this; tests may too)."""
    if _is_pdf(filename, data):
        try:
            return _pdf(filename, data)
        except (InvalidValue, MemoryError):
            raise
        except Exception as e:  # noqa: BLE001 — any parser failure on hostile input means "unreadable"
            raise UnreadableDocument(f"{filename} is not a readable PDF: {type(e).__name__}: {e}"[:300]) from None
    if _is_docx(filename):
        try:
            return _docx(filename, data)
        except InvalidValue:
            raise
        except (zipfile.BadZipFile, zipfile.LargeZipFile, SAXException, ValueError, KeyError, EOFError, OSError) as e:
            raise UnreadableDocument(f"{filename} is not a readable DOCX file: {type(e).__name__}: {e}"[:300]) from None
    return plain(filename, data)


_TOO_LARGE = 3


def _main() -> int:
    """Child: the upload on stdin, its text on stdout; a reason on stderr and exit 2 (unreadable)
    or 3 (too large). Memory is limited so a bomb ends here, not in the server."""
    resource.setrlimit(resource.RLIMIT_AS, (PARSE_MEMORY, PARSE_MEMORY))
    logging.disable(logging.CRITICAL)  # pypdf warns about every quirk; stderr carries only the reason
    warnings.simplefilter("ignore")
    sys.setrecursionlimit(5000)
    filename = sys.argv[1]
    data = sys.stdin.buffer.read()
    try:
        text = extract(filename, data)
    except DocumentTooLarge as e:
        sys.stderr.write(str(e))
        return _TOO_LARGE
    except MemoryError:
        sys.stderr.write(f"{filename} needs more memory to read than an upload may use.")
        return _TOO_LARGE
    except InvalidValue as e:
        sys.stderr.write(str(e))
        return 2
    except RecursionError:
        sys.stderr.write(f"{filename} is nested too deeply to read.")
        return 2
    sys.stdout.buffer.write(text.encode("utf-8", "surrogatepass"))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
