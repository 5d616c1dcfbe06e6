"""The reference for the real model path: a plain SDK client sending the worker's requests.

    .venv/bin/python bench/_plain_sdk.py [URL] [--sdk google-genai|openai] [--calls N] [--concurrency C]

The SDK as its documentation shows it, with nothing of testgen's (no retries, no language check, no
parsing of the answer): google-genai's `genai.Client` with its default transport and its own types for
the config (`client.aio.models.generate_content`), or openai's `AsyncOpenAI` (`chat.completions.create`
with the answer's JSON schema, the SDK's retries off; Gemini also serves this API). It sends the prompts
a job of 15 x 3 scenarios sends (its three batches in turn) to the server at URL, Gemini-compatible or
OpenAI-compatible, and prints, as JSON, the CPU time this process spent per call. Without a URL it
starts the tests' fake server (tests/support/fake_gemini.py or tests/support/fake_openai.py, answering
at once) in a child process. It runs in a process of its own, on the worker's event loop and garbage-collector
settings, so that only the client's own work is counted. bench/bench_jobs.py runs it against its fake
Gemini.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from _harness import CRITERIA
from google import genai
from google.genai import types
from openai import AsyncOpenAI

from testgen.core import heap
from testgen.core.event_loop import new_event_loop
from testgen.generation.llm.base import StoryText
from testgen.generation.llm.prompt import SYSTEM_INSTRUCTION, build_prompt, response_schema
from testgen.generation.planning import plan_batches

WARM_UP = 100
SDKS = ("google-genai", "openai")

Call = Callable[[int], Awaitable[object]]


def _requests() -> list[tuple[str, dict[str, Any]]]:
    story = StoryText(id="P-00000", title="Story P-00000", description="", acceptance_criteria=CRITERIA)
    return [(build_prompt(batch), response_schema(batch)) for batch in plan_batches(story, 15, 3, 15)]


def gemini_call(url: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    options = types.HttpOptions(base_url=url, api_version="v1beta")
    client = genai.Client(api_key="bench-key", http_options=options)
    requests = [
        (
            prompt,
            types.GenerateContentConfig(
                system_instruction=SYSTEM_INSTRUCTION,
                temperature=0.7,
                response_mime_type="application/json",
                response_json_schema=schema,
                automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            ),
        )
        for prompt, schema in _requests()
    ]

    async def call(i: int) -> object:
        prompt, config = requests[i % len(requests)]
        return await client.aio.models.generate_content(
            model="gemini-2.5-flash", contents=prompt, config=config
        )

    return call, client.aio.aclose


def openai_call(url: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    client = AsyncOpenAI(base_url=url, api_key="bench-key", max_retries=0)
    requests = _requests()

    async def call(i: int) -> object:
        prompt, schema = requests[i % len(requests)]
        return await client.chat.completions.create(
            model="gemini-2.5-flash",
            messages=[{"role": "system", "content": SYSTEM_INSTRUCTION}, {"role": "user", "content": prompt}],
            response_format={"type": "json_schema", "json_schema": {"name": "batch", "schema": schema}},
            temperature=0.7,
        )

    return call, client.close


async def cpu_per_call(sdk: str, url: str, calls: int, concurrency: int) -> float:
    """CPU seconds of this process per call, over `calls` calls (after a warm-up)."""
    call, close = gemini_call(url) if sdk == "google-genai" else openai_call(url)
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await call(i)

    try:
        await asyncio.gather(*(one(i) for i in range(WARM_UP)))
        heap.settle()
        started = time.process_time()
        await asyncio.gather(*(one(i) for i in range(calls)))
        return (time.process_time() - started) / calls
    finally:
        await close()


def _serve(sdk: str, urls: Any) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.support.fake_gemini import FakeGemini
    from tests.support.fake_openai import FakeOpenAI

    with (FakeGemini if sdk == "google-genai" else FakeOpenAI)(latency_s=0.0) as fake:
        urls.put(fake.url)
        time.sleep(3600)


@contextmanager
def fake_server(sdk: str) -> Iterator[str]:
    """The tests' fake of the SDK's server, in a child process (its CPU is not this process's)."""
    urls: Any = multiprocessing.Queue()
    child = multiprocessing.Process(target=_serve, args=(sdk, urls), daemon=True)
    child.start()
    try:
        yield str(urls.get(timeout=30))
    finally:
        child.terminate()
        child.join(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url", nargs="?", help="the server; without it, the tests' fake in a child process")
    parser.add_argument("--sdk", choices=SDKS, default=SDKS[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=1000)
    args = parser.parse_args()
    with nullcontext(args.url) if args.url else fake_server(args.sdk) as url:
        loop = new_event_loop("auto")
        try:
            seconds = loop.run_until_complete(cpu_per_call(args.sdk, url, args.calls, args.concurrency))
        finally:
            loop.close()
    print(json.dumps({"sdk": args.sdk, "cpu_ms_per_call": seconds * 1000, "calls": args.calls}))


if __name__ == "__main__":
    main()
