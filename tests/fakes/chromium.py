"""Headless Chromium, driven over the DevTools protocol (a WebSocket, aiohttp's client): a page loaded as a
browser of a given width shows it, then what a person would see there: its text, its links, whether it scrolls
sideways, how wide its icon drew, and a screenshot of the whole page. Every URL the page asked for is kept, and
no host but 127.0.0.1 resolves: a page cannot reach the internet from a test.

One browser serves a whole test, its cookies kept from page to page (an install's state cookie, then the page
Slack sends the browser back to)."""

import asyncio
import base64
import itertools
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.fakes.loop import LoopThread, wait_until

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Set to a folder, the screenshots are also copied there (to look at them after a run).
SCREENSHOTS = os.environ.get("PAGE_SCREENSHOTS")
# Phones are this narrow; desktops at least this wide.
WIDTHS = (375, 1280)

# What the page shows, read in it once it is loaded: computed by the browser, not parsed from the HTML.
_WHAT_IS_SHOWN = """JSON.stringify({
    title: document.title,
    text: document.body.innerText,
    html: document.documentElement.outerHTML,
    links: [...document.querySelectorAll("a")].map(a => [a.innerText.trim(), a.href]),
    icon: document.querySelector(".icon")?.getBoundingClientRect().width ?? 0,
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
})"""


@dataclass
class Shown:
    """A page as a browser `width` px wide showed it."""

    width: int
    title: str
    text: str
    html: str
    links: dict[str, str]  # the text of each link -> where it goes
    icon_width: float  # as drawn; 0 without one
    scroll_width: int
    inner_width: int
    screenshot: Path

    @property
    def scrolls_sideways(self) -> bool:
        return self.scroll_width > self.width or self.inner_width != self.width


class Chromium:
    def __init__(self, loop: LoopThread, profile: Path):
        assert CHROMIUM is not None
        self._loop = loop
        self._profile = profile
        self._ids = itertools.count(1)
        self._answers: dict[int, asyncio.Future] = {}
        self.requested: list[str] = []  # every URL any page asked for, in order
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
        flags += ["--disable-component-update", "--disable-sync", "--hide-scrollbars", "--remote-debugging-port=0"]
        flags += [f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
        self._process = subprocess.Popen(
            [CHROMIUM, *flags, "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        # Chromium writes the port it took, and the browser's WebSocket path, in this file once it listens.
        active = profile / "DevToolsActivePort"
        lines = wait_until(lambda: active.exists() and active.read_text().split(), 30, "Chromium's DevTools port")
        self._loop.run(self._connect(f"ws://127.0.0.1:{lines[0]}{lines[1]}"))

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._loop.run(self._disconnect())
        finally:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)

    def show(self, url: str, folder: Path, name: str, widths: tuple[int, ...] = WIDTHS) -> dict[int, Shown]:
        """`url` loaded once in a new tab, then shown at each width in turn (no reload: a page that works once,
        like the end of an install, is seen at every width); screenshots as `folder/name-<width>.png`."""
        return self._loop.run(self._show(url, folder, name, widths), timeout=60)

    async def _connect(self, url: str) -> None:
        self._session = aiohttp.ClientSession()
        self._socket = await self._session.ws_connect(url, max_msg_size=0)
        self._reader = asyncio.ensure_future(self._read())

    async def _disconnect(self) -> None:
        self._reader.cancel()
        await self._socket.close()
        await self._session.close()

    async def _read(self) -> None:
        async for message in self._socket:
            data = json.loads(message.data)
            if "id" in data:
                self._answers.pop(data["id"]).set_result(data)
            elif data.get("method") == "Network.requestWillBeSent":
                self.requested.append(data["params"]["request"]["url"])

    async def _call(self, method: str, session: str | None = None, **params: Any) -> dict:
        call_id = next(self._ids)
        answer = self._answers[call_id] = asyncio.get_running_loop().create_future()
        await self._socket.send_json(
            {"id": call_id, "method": method, "params": params} | ({"sessionId": session} if session else {})
        )
        data = await asyncio.wait_for(answer, 30)
        assert "error" not in data, f"{method}: {data['error']}"
        return data["result"]

    async def _show(self, url: str, folder: Path, name: str, widths: tuple[int, ...]) -> dict[int, Shown]:
        target = (await self._call("Target.createTarget", url="about:blank"))["targetId"]
        session = (await self._call("Target.attachToTarget", targetId=target, flatten=True))["sessionId"]
        try:
            await self._call("Network.enable", session)
            await self._at(session, widths[0])
            navigated = await self._call("Page.navigate", session, url=url)
            assert "errorText" not in navigated, f"{url}: {navigated['errorText']}"
            for _ in range(1000):  # until loaded, 10 s at most
                if await self._evaluate(session, "document.readyState") == "complete":
                    break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError(f"{url} did not load in 10 s")
            shown = {}
            for width in widths:
                await self._at(session, width)
                shown[width] = await self._look(session, width, folder / f"{name}-{width}.png")
            return shown
        finally:
            await self._call("Target.closeTarget", targetId=target)

    async def _at(self, session: str, width: int) -> None:
        """As a phone below 600 px (the page's viewport meta applies, as on a phone), else as a desktop."""
        metrics = {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": width < 600}
        await self._call("Emulation.setDeviceMetricsOverride", session, **metrics)

    async def _evaluate(self, session: str, expression: str) -> Any:
        answer = await self._call("Runtime.evaluate", session, expression=expression, returnByValue=True)
        return answer["result"]["value"]

    async def _look(self, session: str, width: int, screenshot: Path) -> Shown:
        seen = json.loads(await self._evaluate(session, _WHAT_IS_SHOWN))
        height = (await self._call("Page.getLayoutMetrics", session))["cssContentSize"]["height"]
        clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
        image = await self._call("Page.captureScreenshot", session, format="png", captureBeyondViewport=True, clip=clip)
        screenshot.write_bytes(base64.b64decode(image["data"]))
        if SCREENSHOTS:
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            shutil.copy(screenshot, Path(SCREENSHOTS) / screenshot.name)
        return Shown(
            width=width,
            title=seen["title"],
            text=seen["text"],
            html=seen["html"],
            links=dict(seen["links"]),
            icon_width=seen["icon"],
            scroll_width=seen["scrollWidth"],
            inner_width=seen["innerWidth"],
            screenshot=screenshot,
        )
