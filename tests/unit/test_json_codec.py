"""The JSON every job writes (core/json_codec.py): the same text as the standard library's, faster."""

from __future__ import annotations

import datetime as dt
import json

from testgen.core.json_codec import dumps
from testgen.data.job_states import JobStatus


def test_it_writes_what_the_standard_library_writes() -> None:
    value = {
        "status": JobStatus.completed,
        "text": 'ñandú "quoted" \u2028 línea',
        "nested": [{"n": 1, "x": 1.5, "none": None, "ok": True}],
        3: "an integer key",
    }
    assert dumps(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert json.loads(dumps(value))["3"] == "an integer key"


def test_values_orjson_refuses_or_json_cannot_type_still_serialise() -> None:
    assert dumps({"big": 2**70}) == '{"big":1180591620717411303424}'
    assert json.loads(dumps({"at": dt.date(2026, 12, 1), "set": {1}})) == {"at": "2026-12-01", "set": "{1}"}
