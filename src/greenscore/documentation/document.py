"""One small document model, rendered to Markdown and to a self-contained HTML page.

Model cards, datasheets and compliance documents are built once as a list of blocks
(headings, paragraphs, bullet lists, tables) and written in both formats, so the HTML and
the Markdown can never say different things. Inline ``code`` spans are the only markup.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_CODE = re.compile(r"`([^`]+)`")
_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1000px;color:#222;"
    "line-height:1.45}table{border-collapse:collapse;margin:.5rem 0 1rem}"
    "td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}"
    "th{background:#f4f6f4}h2{border-bottom:2px solid #2e7d32;padding-bottom:.2rem}"
    "code{background:#f4f4f4;padding:0 .2rem}"
)


def cell(value: Any, digits: int = 4) -> str:
    """A table cell: floats to ``digits`` significant places, None as ``n/a``."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:  # NaN
            return "n/a"
        return f"{value:.{digits}g}"
    return str(value)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _inline_html(text: str) -> str:
    return _CODE.sub(r"<code>\1</code>", html.escape(text, quote=False))


@dataclass
class Document:
    """A titled list of blocks; ``kind`` is heading, para, bullets, table or raw."""

    title: str
    blocks: list[tuple[str, Any]] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> Document:
        self.blocks.append(("heading", (level, text)))
        return self

    def para(self, text: str) -> Document:
        self.blocks.append(("para", text))
        return self

    def bullets(self, items: list[str]) -> Document:
        self.blocks.append(("bullets", list(items)))
        return self

    def raw(self, markdown: str) -> Document:
        """Markdown written elsewhere (shown as preformatted text in HTML)."""
        self.blocks.append(("raw", markdown))
        return self

    def table(self, header: list[str], rows: list[list[Any]]) -> Document:
        self.blocks.append(("table", (header, [[cell(v) for v in row] for row in rows])))
        return self

    def to_markdown(self) -> str:
        """The document as GitHub-flavoured Markdown."""
        out = [f"# {self.title}", ""]
        for kind, value in self.blocks:
            if kind == "heading":
                level, text = value
                out += ["#" * level + " " + text, ""]
            elif kind in ("para", "raw"):
                out += [value, ""]
            elif kind == "bullets":
                out += [f"- {item}" for item in value] + [""]
            elif kind == "table":
                header, rows = value
                out.append("| " + " | ".join(_md_cell(h) for h in header) + " |")
                out.append("|" + " --- |" * len(header))
                out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
                out.append("")
        return "\n".join(out)

    def to_html(self) -> str:
        """The document as one HTML page with its styles inline (opens offline)."""
        body: list[str] = [f"<h1>{_inline_html(self.title)}</h1>"]
        for kind, value in self.blocks:
            if kind == "heading":
                level, text = value
                body.append(f"<h{level}>{_inline_html(text)}</h{level}>")
            elif kind == "para":
                body.append(f"<p>{_inline_html(value)}</p>")
            elif kind == "raw":
                body.append(f"<pre>{html.escape(value)}</pre>")
            elif kind == "bullets":
                items = "".join(f"<li>{_inline_html(i)}</li>" for i in value)
                body.append(f"<ul>{items}</ul>")
            elif kind == "table":
                header, rows = value
                head = "".join(f"<th>{_inline_html(h)}</th>" for h in header)
                lines = "".join(
                    "<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in row) + "</tr>"
                    for row in rows
                )
                body.append(f"<table><tr>{head}</tr>{lines}</table>")
        return (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body>"
            + "\n".join(body)
            + "</body></html>\n"
        )

    def write(self, folder: Path, stem: str) -> list[Path]:
        """Write ``stem.md`` and ``stem.html`` into ``folder``; return both paths."""
        folder.mkdir(parents=True, exist_ok=True)
        md, page = folder / f"{stem}.md", folder / f"{stem}.html"
        md.write_text(self.to_markdown(), encoding="utf-8")
        page.write_text(self.to_html(), encoding="utf-8")
        return [md, page]
