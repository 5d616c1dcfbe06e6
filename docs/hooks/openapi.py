"""MkDocs hook: the API reference is rendered from the app's own OpenAPI document, never retyped.

At each build it creates the FastAPI app with offline settings (its lifespan never runs: no Redis, no
database, no network) and takes `app.openapi()`. The document is written into the site as
`openapi.json` (for download and for other tools), and the `[OAD(openapi.json)]` tag of a page is
pointed at a copy on disk that the neoteroi.mkdocsoad plugin renders as Markdown. Nothing generated is
kept in the repository, so the reference cannot fall out of step with the routes.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

from testgen.api.app import create_app
from testgen.core.config import Settings

DOCUMENT_NAME = "openapi.json"
TAG = f"[OAD({DOCUMENT_NAME})]"

_workdir: Path | None = None
_document = ""


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the app as `testgen api` serves it at /openapi.json."""
    with tempfile.TemporaryDirectory(prefix="testgen-docs-") as data_dir:
        settings = Settings(_env_file=None, llm_provider="offline", data_dir=Path(data_dir))  # type: ignore[call-arg]
        return create_app(settings).openapi()


def on_config(config: Any) -> Any:
    global _workdir, _document
    _document = json.dumps(openapi_document(), indent=2, ensure_ascii=False)
    _workdir = Path(tempfile.mkdtemp(prefix="testgen-openapi-"))
    (_workdir / DOCUMENT_NAME).write_text(_document, encoding="utf-8")
    return config


def on_files(files: Files, config: Any) -> Files:
    files.append(File.generated(config, DOCUMENT_NAME, content=_document))
    return files


@event_priority(100)  # before the plugin, which reads the tag in the same event
def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    if TAG in markdown and _workdir is not None:
        return markdown.replace(TAG, f"[OAD({_workdir / DOCUMENT_NAME})]")
    return markdown


def on_shutdown() -> None:
    if _workdir is not None:
        shutil.rmtree(_workdir, ignore_errors=True)
