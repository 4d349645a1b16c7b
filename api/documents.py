"""Text out of uploaded files: plain text and Markdown as they are, PDF (pypdf), DOCX (docx2txt)."""

import io

from domain.errors import InvalidValue


class UnreadableDocument(InvalidValue):
    pass


def extract(filename: str, data: bytes) -> str:
    lower = filename.lower()
    if lower.endswith(".pdf") or data.startswith(b"%PDF-"):
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError

        try:
            return "\n\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)
        except (PdfReadError, ValueError, KeyError) as e:
            raise UnreadableDocument(f"{filename} is not a readable PDF: {e}") from None
    if lower.endswith(".docx"):
        import zipfile

        import docx2txt

        try:
            return docx2txt.process(io.BytesIO(data))
        except (zipfile.BadZipFile, KeyError) as e:
            raise UnreadableDocument(f"{filename} is not a readable DOCX file: {e}") from None
    if b"\0" in data[:8192]:
        raise UnreadableDocument(f"{filename} is not text, PDF or DOCX.")
    return data.decode("utf-8", errors="replace")
