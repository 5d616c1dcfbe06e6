"""The reference for the real model path: a plain google-genai client sending the worker's requests.

    .venv/bin/python bench/_plain_sdk.py URL [--calls N] [--concurrency C]

The SDK as its documentation shows it: one `genai.Client` with its default transport, the SDK's own
types for the config, `await client.aio.models.generate_content(...)`, and nothing of testgen's (no
retries, no language check, no parsing of the answer). It sends the prompts and configs a job of 15 x 3
scenarios sends (its three batches in turn) to the Gemini-compatible server at URL and prints, as JSON,
the CPU time this process spent per call. It runs in a process of its own, on the worker's event loop
and garbage-collector settings, so that only the client's own work is counted. bench/bench_jobs.py runs
it against its fake Gemini.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from google import genai
from google.genai import types

from testgen.core import heap
from testgen.core.event_loop import new_event_loop
from testgen.generation.llm.base import StoryText
from testgen.generation.llm.prompt import SYSTEM_INSTRUCTION, build_prompt, response_schema
from testgen.generation.planning import plan_batches

CRITERIA = ["A reset link is emailed", "The link expires after 1 hour", "Old passwords are rejected"]
WARM_UP = 100


async def cpu_per_call(url: str, calls: int, concurrency: int) -> float:
    """CPU seconds of this process per call, over `calls` calls (after a warm-up)."""
    story = StoryText(id="P-00000", title="Story P-00000", description="", acceptance_criteria=CRITERIA)
    requests = [
        (
            build_prompt(batch),
            types.GenerateContentConfig(
                system_instruction=SYSTEM_INSTRUCTION,
                temperature=0.7,
                response_mime_type="application/json",
                response_json_schema=response_schema(batch),
                automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            ),
        )
        for batch in plan_batches(story, 15, 3, 15)
    ]
    options = types.HttpOptions(base_url=url, api_version="v1beta")
    client = genai.Client(api_key="bench-key", http_options=options)
    gate = asyncio.Semaphore(concurrency)

    async def call(i: int) -> None:
        prompt, config = requests[i % len(requests)]
        async with gate:
            await client.aio.models.generate_content(model="gemini-2.5-flash", contents=prompt, config=config)

    try:
        await asyncio.gather(*(call(i) for i in range(WARM_UP)))
        heap.settle()
        started = time.process_time()
        await asyncio.gather(*(call(i) for i in range(calls)))
        return (time.process_time() - started) / calls
    finally:
        await client.aio.aclose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=1000)
    args = parser.parse_args()
    loop = new_event_loop("auto")
    try:
        seconds = loop.run_until_complete(cpu_per_call(args.url, args.calls, args.concurrency))
    finally:
        loop.close()
    print(json.dumps({"cpu_ms_per_call": seconds * 1000, "calls": args.calls}))


if __name__ == "__main__":
    main()
