"""What a provider's 429 says about the quota it hit, read from the vendor's documented shapes: the
limits it names and how long to wait. `ratelimit.RateLimiter.learn` paces every worker to it.

- Gemini: the error's details, `google.rpc.QuotaFailure` violations (a `quotaId` such as
  `GenerateContentInputTokensPerModelPerMinute`, its `quotaValue`) and `google.rpc.RetryInfo`'s
  `retryDelay` ("53s").
- OpenAI: the `x-ratelimit-limit-requests` / `-tokens` headers (the minute's limits), with
  `x-ratelimit-remaining-*` and `x-ratelimit-reset-*` ("1s", "6m0s"): an exhausted limit pauses every
  worker until its reset.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_LIMIT = 10**12  # a bound on a limit a server states (a hostile or broken value is ignored)


@dataclass(frozen=True)
class Quota:
    """The limits a 429 named (None: not said) and how long every worker should wait before the
    next call (None: not said)."""

    rpm: int | None = None
    tpm: int | None = None
    rpd: int | None = None
    pause_s: float | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.rpm, self.tpm, self.rpd, self.pause_s))


def _count(value: object) -> int | None:
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if 0 < number <= MAX_LIMIT else None


def gemini_quota(details: list[dict[str, Any]], retry_delay_s: float | None) -> Quota:
    """The quota of a Gemini 429 from its error details: each QuotaFailure violation names a limit
    per minute or per day, of requests or of (input) tokens; RetryInfo's delay is the pause."""
    found: dict[str, int] = {}
    for detail in details:
        if not str(detail.get("@type", "")).endswith("google.rpc.QuotaFailure"):
            continue
        violations = detail.get("violations")
        for violation in violations if isinstance(violations, list) else []:
            if not isinstance(violation, dict):
                continue
            name = f"{violation.get('quotaId', '')} {violation.get('quotaMetric', '')}".lower()
            value = _count(violation.get("quotaValue"))
            if value is None:
                continue
            per = "minute" if "perminute" in name else "day" if "perday" in name else None
            field = {
                ("minute", False): "rpm",
                ("minute", True): "tpm",
                ("day", False): "rpd",
            }.get((per or "", "token" in name))
            if field is not None:
                found[field] = min(value, found.get(field, value))
    return Quota(**found, pause_s=retry_delay_s)


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_s(value: str) -> float | None:
    """Seconds in `1.5`, `20ms`, `1s`, `6m0s` or `1h2m3.5s`; None when it is none of these."""
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parts = _DURATION_PART.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        return None
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def openai_quota(headers: Mapping[str, str], retry_after_s: float | None) -> Quota:
    """The quota of an OpenAI 429 from its `x-ratelimit-*` headers: the limits of requests and tokens
    a minute. The pause is the reset of each exhausted one (remaining 0); else the server's own
    `retry-after` (`retry_after_s`); else the tokens' reset (requests were left: the call asked more
    tokens than were)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    found: dict[str, Any] = {}
    exhausted, resets = [], {}
    for kind, field in (("requests", "rpm"), ("tokens", "tpm")):
        limit = _count(lowered.get(f"x-ratelimit-limit-{kind}", ""))
        if limit is not None:
            found[field] = limit
        reset = duration_s(lowered.get(f"x-ratelimit-reset-{kind}", ""))
        if reset is not None:
            resets[kind] = reset
            if lowered.get(f"x-ratelimit-remaining-{kind}", "").strip() == "0":
                exhausted.append(reset)
    if exhausted:
        pause: float | None = max(exhausted)
    elif "retry-after" in lowered or "retry-after-ms" in lowered:
        pause = retry_after_s
    else:
        pause = resets.get("tokens", retry_after_s)
    return Quota(**found, pause_s=pause)
