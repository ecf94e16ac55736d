"""Sends signed requests all at once and prints each one's response latency in ms (a JSON list, in the
order given). bench/http.py runs it as a process of its own: in its own process, the clock that times the
acks does not wait for the fakes, which share bench/http.py's event loop and serve the bot's other work.

    python -m bench.signed_burst URL < [[body, headers], …]
"""

import asyncio
import json
import sys
import time

import aiohttp


async def send_all(url: str, requests: list[tuple[str, dict[str, str]]]) -> list[float]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one(body: str, headers: dict[str, str]) -> float:
            started = time.monotonic()
            async with session.post(url, data=body.encode(), headers=headers) as response:
                await response.read()
                assert response.status == 200, response.status
            return (time.monotonic() - started) * 1000

        return list(await asyncio.gather(*(one(body, headers) for body, headers in requests)))


if __name__ == "__main__":
    print(json.dumps(asyncio.run(send_all(sys.argv[1], json.load(sys.stdin)))))
