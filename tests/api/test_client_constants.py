"""/static/client-constants.js: the page's enums and limits, as api/client_constants.py builds them."""

from __future__ import annotations

import json

from httpx import AsyncClient

from testgen.api.client_constants import client_constants

PATH = "/static/client-constants.js"
PREFIX = "window.TESTGEN_CONSTANTS = "


async def test_the_page_gets_the_enums_and_limits_from_the_server(client: AsyncClient) -> None:
    response = await client.get(PATH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.text.startswith(PREFIX)
    table = json.loads(response.text.removeprefix(PREFIX).rstrip().rstrip(";"))
    assert table == client_constants().model_dump(mode="json", exclude_none=True)
    assert table["limits"]["generate"]["num_test_cases"] == {"default": 5, "minimum": 1, "maximum": 50}
    assert table["error_hints"]["budget"] == "hint.budget"
    # cached like the page's other files: the browser asks again and gets a 304 while it is unchanged
    assert response.headers["cache-control"] == "no-cache"
    again = await client.get(PATH, headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    # run before the page's modules, which read it when they load
    page = (await client.get("/")).text
    assert page.index(PATH) < page.index('<script type="module"')
