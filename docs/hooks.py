"""MkDocs hook: the CLI and HTTP API reference pages, generated from the code at build time.

``reference/cli.md`` walks the Typer app's command tree; ``reference/http-api.md`` and
``reference/openapi.json`` come from the scoring service's OpenAPI document
(:mod:`greenscore.documentation`). Nothing generated is written into ``docs/``.
"""

from __future__ import annotations

from typing import Any

from mkdocs.structure.files import File, Files


def on_files(files: Files, config: Any) -> Files:
    from greenscore.documentation.api_reference import (
        openapi_document,
        openapi_json,
        render_openapi,
    )
    from greenscore.documentation.cli_reference import cli_reference

    document = openapi_document()
    pages = {
        "reference/cli.md": cli_reference(),
        "reference/http-api.md": render_openapi(document),
        "reference/openapi.json": openapi_json(document),
    }
    for uri, content in pages.items():
        files.append(File.generated(config, uri, content=content))
    return files
