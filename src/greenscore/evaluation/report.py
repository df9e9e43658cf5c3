"""One self-contained HTML file of headings, text, tables, figures and JSON.

Model validation reports are read in places without internet access and archived for
years, so the file carries everything it needs: plotly.js is inlined once in the head
(about 4 MB), and each figure is only a ``<div>`` and a short script that uses it.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

_STYLE = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table.gs-table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
table.gs-table th, table.gs-table td { border: 1px solid #ddd; padding: 4px 8px;
       text-align: right; }
table.gs-table th { background: #f3f3f3; }
pre.gs-json { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: 0.85em; }
.gs-figure { margin: 1em 0; }
"""


class HtmlReport:
    """Build a report section by section, then :meth:`write` one HTML file.

    Parameters
    ----------
    title : str
        Page title and top heading.

    Examples
    --------
    >>> report = HtmlReport("LightGBM validation")
    >>> report.add_heading("Metrics").add_json({"auc": 0.78})  # doctest: +ELLIPSIS
    <...HtmlReport object at ...>
    """

    def __init__(self, title: str) -> None:
        self.title = title
        self._parts: list[str] = []
        self._figures = 0

    # ------------------------------------------------------------ content
    def add_heading(self, text: str, level: int = 2) -> HtmlReport:
        """Add a heading (``level`` 1-6; 1 is the page title's level)."""
        level = min(max(int(level), 1), 6)
        self._parts.append(f"<h{level}>{html.escape(text)}</h{level}>")
        return self

    def add_text(self, text: str) -> HtmlReport:
        """Add a paragraph of plain text (escaped; blank lines start new paragraphs)."""
        for para in str(text).split("\n\n"):
            self._parts.append(f"<p>{html.escape(para).replace(chr(10), '<br>')}</p>")
        return self

    def add_table(
        self, frame: pd.DataFrame, *, index: bool = False, float_format: str = "{:.4g}"
    ) -> HtmlReport:
        """Add a DataFrame as an HTML table (cell text escaped, floats formatted)."""
        self._parts.append(
            frame.to_html(
                index=index,
                classes="gs-table",
                border=0,
                escape=True,
                float_format=float_format.format,
                na_rep="",
            )
        )
        return self

    def add_figure(self, fig: go.Figure) -> HtmlReport:
        """Add a Plotly figure; its data travels in the file, plotly.js is shared."""
        self._figures += 1
        div = fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=f"gs-figure-{self._figures}",
            config={"displaylogo": False},
            # Plotly's default of 100% collapses inside a page flowing at auto height.
            default_height=f"{int(fig.layout.height or 480)}px",
        )
        self._parts.append(f'<div class="gs-figure">{div}</div>')
        return self

    def add_json(self, data: Any) -> HtmlReport:
        """Add any JSON-serialisable data (other objects via ``str``) as a readable block."""
        text = json.dumps(data, indent=2, default=str, sort_keys=False)
        self._parts.append(f'<pre class="gs-json">{html.escape(text)}</pre>')
        return self

    # ------------------------------------------------------------ output
    def to_html(self) -> str:
        """The whole page as one string."""
        head = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(self.title)}</title>",
            f"<style>{_STYLE}</style>",
        ]
        if self._figures:
            from plotly.offline import get_plotlyjs

            head.append(f'<script type="text/javascript">{get_plotlyjs()}</script>')
        body = [f"<h1>{html.escape(self.title)}</h1>", *self._parts]
        return "\n".join([*head, "</head><body>", *body, "</body></html>"])

    def write(self, path: Path | str) -> Path:
        """Write the page to ``path`` (folders are created) and return the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.to_html(), encoding="utf-8")
        return target
