"""The web page: plain HTML/JS/CSS shipped inside the package (no build step), served at `/`.

The files are read from the installed package (importlib.resources) when they are asked for, so
importing this module does no I/O and a wheel works the same as a source checkout.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import re
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Cookie, Header, Path, Response

from testgen.api.client_constants import client_constants
from testgen.core import i18n
from testgen.core.errors import NotFoundError
from testgen.data import job_states

router = APIRouter(include_in_schema=False)

# Only files of web/ with these endings and a plain name are served: nothing else under the package
# can be reached by a crafted name. The page's script is ES modules (app.js imports the others).
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
STATIC_NAME = re.compile(r"[a-z][a-z0-9-]*(\.js|\.css)")
# The page's files are also served under /static/<version>/, the version a hash of them all:
# index.html names its style sheet and script there (the modules' relative imports follow), so a
# browser keeps them a year without asking again, and a release whose files differ is fetched under
# its own version. index.html itself, and the scripts the server builds (job states, constants,
# messages), are asked for each time (no-cache) and answered 304 while unchanged.
VERSION = re.compile(r"[0-9a-f]{16}")
LONG_CACHE = "public, max-age=31536000, immutable"
PAGE_FILE_REFERENCE = re.compile(rb'(src|href)="/static/([a-z][a-z0-9-]*\.(?:js|css))"')


def _read(name: str) -> bytes:
    return (resources.files("testgen") / "web" / name).read_bytes()


def _read_static(name: str) -> bytes | None:
    """A file of web/, or None when there is none of that name."""
    try:
        return _read(name)
    except (FileNotFoundError, IsADirectoryError):
        return None


def _versioned_index() -> bytes:
    """index.html naming the page's files under the version of them all (read now: a developer's
    edit shows at the next load)."""
    web = resources.files("testgen") / "web"
    files = {
        entry.name: entry.read_bytes()
        for entry in web.iterdir()
        if entry.is_file() and STATIC_NAME.fullmatch(entry.name)
    }
    digest = hashlib.sha256()
    for name, body in sorted(files.items()):
        digest.update(hashlib.sha256(name.encode() + b"\0" + body).digest())
    version = digest.hexdigest()[:16].encode()

    def versioned(reference: re.Match[bytes]) -> bytes:
        attribute, name = reference.group(1), reference.group(2)
        if name.decode() not in files:  # built by the server: asked for each time
            return reference.group(0)
        return attribute + b'="/static/' + version + b"/" + name + b'"'

    return PAGE_FILE_REFERENCE.sub(versioned, _read("index.html"))


def _cached(
    body: bytes, media_type: str, if_none_match: str | None, cache_control: str = "no-cache"
) -> Response:
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    # no-cache: the browser may keep a copy but asks each time (a 304 when unchanged), so an upgrade
    # of testgen never leaves an old app.js running against a new API (a versioned address, whose
    # content changes only with its version, is kept: LONG_CACHE).
    headers = {"ETag": etag, "Cache-Control": cache_control}
    if if_none_match is not None and etag in (tag.strip() for tag in if_none_match.split(",")):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


@router.get("/")
async def index(if_none_match: Annotated[str | None, Header()] = None) -> Response:
    return _cached(await asyncio.to_thread(_versioned_index), "text/html; charset=utf-8", if_none_match)


@router.get("/static/job-states.js")
async def job_states_script(if_none_match: Annotated[str | None, Header()] = None) -> Response:
    """The job statuses, their sets and roles (data/job_states.py), so that the page copies none."""
    body = f"window.TESTGEN_JOB_STATES = {json.dumps(job_states.describe())};\n".encode()
    return _cached(body, MEDIA_TYPES[".js"], if_none_match)


@functools.cache
def _client_constants_script() -> bytes:
    table = client_constants().model_dump(mode="json", exclude_none=True)
    return f"window.TESTGEN_CONSTANTS = {json.dumps(table)};\n".encode()


@router.get("/static/client-constants.js")
async def client_constants_script(if_none_match: Annotated[str | None, Header()] = None) -> Response:
    """The priorities, test types, export formats, error hints and input bounds
    (api/client_constants.py), built once, so that the page copies none."""
    return _cached(_client_constants_script(), MEDIA_TYPES[".js"], if_none_match)


@router.get("/static/messages.js")
async def messages_script(
    testgen_language: Annotated[str | None, Cookie()] = None,
    accept_language: Annotated[str | None, Header()] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The page's message table, as a script that runs before the page's modules (like job-states.js):
    the language chosen in the page (its cookie), else the browser's (`Accept-Language`), else English;
    with the English table, which index.html is written in."""
    language = i18n.ui_language(testgen_language) if testgen_language else i18n.negotiate(accept_language)
    body = {
        "language": language,
        "languages": list(i18n.UI_LANGUAGES),
        "messages": i18n.table(language),
        "source": i18n.table(i18n.UI_DEFAULT),
    }
    script = f"window.TESTGEN_MESSAGES = {json.dumps(body, ensure_ascii=False)};\n".encode()
    response = _cached(script, MEDIA_TYPES[".js"], if_none_match)
    response.headers["Vary"] = "Accept-Language, Cookie"
    return response


@router.get("/static/{name}")
async def static_file(
    name: Annotated[str, Path(max_length=64)], if_none_match: Annotated[str | None, Header()] = None
) -> Response:
    return await _static(name, if_none_match, "no-cache")


@router.get("/static/{version}/{name}", name="static_file")
async def versioned_static_file(
    version: Annotated[str, Path(max_length=16)],
    name: Annotated[str, Path(max_length=64)],
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """A file of the page under a version that index.html names: kept for a year. Any version is
    answered with the file as it is now: only the index.html of that version names its address."""
    if not VERSION.fullmatch(version):
        raise NotFoundError("File", name)
    return await _static(name, if_none_match, LONG_CACHE)


async def _static(name: str, if_none_match: str | None, cache_control: str) -> Response:
    match = STATIC_NAME.fullmatch(name)
    body = await asyncio.to_thread(_read_static, name) if match else None
    if match is None or body is None:
        raise NotFoundError("File", name)
    return _cached(body, MEDIA_TYPES[match.group(1)], if_none_match, cache_control)
