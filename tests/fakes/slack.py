"""A local Slack: the Web API methods the bot calls, response_url endpoints, and a Socket Mode WebSocket.

Tests push envelopes through the socket the way Slack does and read back the acks and every Web API
call the worker made.
"""

import asyncio
import base64
import itertools
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from bot.slack.manifest import STEPS
from tests.fakes import block_kit
from tests.fakes.loop import LoopThread, serve, wait_until

BOT_TEAM = "T0BOT0001"
BOT_USER = "U0BOT0001"
CLIENT_ID = "1111111111.2222222222"
CLIENT_SECRET = "fake-client-secret-0001"


@dataclass(frozen=True)
class Identity:
    """Whose a bot token is: what auth.test answers for it."""

    team_id: str | None
    enterprise_id: str | None = None
    org_wide: bool = False
    bot_user_id: str = BOT_USER
    bot_id: str = "B0BOT0001"


@dataclass
class ApiCall:
    method: str
    token: str | None
    params: dict[str, Any]
    at: float
    answer: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepRun:
    """One execution of one of the app's Workflow Builder steps."""

    callback_id: str
    execution_id: str
    workflow_execution_id: str
    token: str
    envelope: str | None = None
    ended: ApiCall | None = None  # the accepted functions.completeSuccess or completeError
    payload: dict[str, Any] | None = None  # the event as delivered, to deliver it again
    callback_known: bool = True


@dataclass
class Ack:
    envelope_id: str
    sent_at: float
    acked_at: float | None = None
    payload: dict[str, Any] | None = None
    sent: dict[str, Any] | None = None  # what was acked (a view submission's errors must name its input blocks)

    @property
    def latency(self) -> float:
        assert self.acked_at is not None
        return self.acked_at - self.sent_at


@dataclass
class Failure:
    error: str  # "connection_dropped": no answer at all, the connection is closed
    retry_after: int | None = None
    times: int = 1


# A trigger id opens a view within this long of the request that carried it (Slack's documented 3 s).
TRIGGER_SECONDS = 3.0


@dataclass
class FakeSlack:
    loop: LoopThread
    team_id: str = BOT_TEAM
    # With an enterprise id, the bot token is an org-wide install of that Grid organisation, and every payload
    # comes from a workspace of it.
    enterprise_id: str | None = None
    bot_token: str = "xoxb-fake-bot-token"
    app_token: str = "xapp-fake-app-token"
    calls: list[ApiCall] = field(default_factory=list)
    responses: list[ApiCall] = field(default_factory=list)
    acks: dict[str, Ack] = field(default_factory=dict)
    connections_opened: int = 0
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (channel, ts) -> message
    admins: set[str] = field(default_factory=set)  # user ids that users.info reports as workspace admins
    usergroups: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # id -> (handle, members)
    tokens: dict[str, Identity] = field(default_factory=dict)  # every bot token Slack accepts, and whose it is
    enterprise_users: dict[str, str] = field(default_factory=dict)  # user id -> their Grid organisation
    time_zones: dict[str, str] = field(default_factory=dict)  # user id -> their time zone (else New York's)
    step_runs: dict[str, StepRun] = field(default_factory=dict)  # function execution id -> the step's run
    auth_test_seconds: float = 0.0  # how long auth.test takes (Slack's takes ~0.3 s)
    slow: dict[str, float] = field(default_factory=dict)  # method -> how long Slack takes to answer it
    socket_refusals: int = 0  # Socket Mode handshakes to refuse (503) before accepting one
    # Where it listens once started (0: any free port). Set, the bot's settings can name it before it listens.
    port: int = 0
    # (at most N, in S seconds): chat.postMessage's rate limit per channel, as Slack's (about one a second, short
    # bursts allowed); beyond it, `ratelimited` (HTTP 429, Retry-After 1). None: no limit.
    channel_post_limit: tuple[int, float] | None = None
    _channel_posts: dict[str, list[float]] = field(default_factory=dict)  # channel -> when posts were taken
    _codes: dict[str, tuple[Identity, str]] = field(default_factory=dict)  # install code -> (bot, installer)
    _deleted: set[tuple[str, str]] = field(default_factory=set)
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    _failures: dict[tuple[str, str | None], Failure] = field(default_factory=dict)
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))
    # Trigger ids given in payloads, and when (monotonic): Slack opens a view for one only once, within 3 s.
    _triggers: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Everything refused as Slack would refuse it (Block Kit rules, unknown methods): a test fails at stop()
    # unless it expected them (and empties the list).
    refused: list[ApiCall] = field(default_factory=list)

    def __post_init__(self) -> None:
        org_wide = self.enterprise_id is not None
        self.tokens.setdefault(self.bot_token, Identity(self.team_id, self.enterprise_id, org_wide))

    def start(self) -> "FakeSlack":
        app = web.Application()
        app.router.add_post("/api/{method}", self._web_api)
        app.router.add_get("/api/{method}", self._web_api)
        app.router.add_post("/response/{id}", self._response_url)
        app.router.add_get("/socket", self._socket)
        self._runner, self.port = self.loop.run(serve(app, self.port))
        return self

    def stop(self) -> None:
        self.loop.run(self._runner.cleanup())
        refused = [(call.method, call.answer.get("error"), call.answer.get("errors")) for call in self.refused]
        assert not refused, f"Slack would have refused what the bot sent: {refused}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    # --- what tests set up -------------------------------------------------------------------

    def fail(
        self, method: str, error: str, channel: str | None = None, retry_after: int | None = None, times: int = 1
    ) -> None:
        """The next `times` calls of `method` (for `channel`, or any) answer `error`."""
        with self._lock:
            self._failures[(method, channel)] = Failure(error, retry_after, times)

    def recover(self, method: str, channel: str | None = None) -> None:
        """`method` answers again (the failures `fail` set up and not yet used are dropped)."""
        with self._lock:
            self._failures.pop((method, channel), None)

    def approve_install(
        self, team_id: str | None, user_id: str, enterprise_id: str | None = None, org_wide: bool = False
    ) -> str:
        """What happens on slack.com when `user_id` approves the install: the code Slack sends the browser
        back with. Each install gets a new bot token (and a new bot user per workspace)."""
        code = f"code-{uuid.uuid4().hex[:12]}"
        number = next(self._ts)
        bot = Identity(team_id, enterprise_id, org_wide, f"U0BOT{number:04d}", f"B0BOT{number:04d}")
        with self._lock:
            self._codes[code] = (bot, user_id)
        return code

    def tokens_of(self, team_id: str | None, enterprise_id: str | None = None) -> list[str]:
        with self._lock:
            return [
                token
                for token, who in self.tokens.items()
                if who.team_id == team_id and (enterprise_id is None or who.enterprise_id == enterprise_id)
            ]

    def revoke(self, team_id: str | None, enterprise_id: str | None = None) -> None:
        """The workspace removed the app: its tokens stop working."""
        for token in self.tokens_of(team_id, enterprise_id):
            with self._lock:
                del self.tokens[token]

    # --- what tests drive ----------------------------------------------------------------------

    def push(self, envelope_type: str, payload: dict[str, Any], connection: int = -1) -> str:
        return self.push_many([(envelope_type, payload)], connection)[0]

    def push_many(self, items: list[tuple[str, dict[str, Any]]], connection: int = -1) -> list[str]:
        """Send envelopes on one open Socket Mode connection (by default the newest)."""

        async def send() -> list[str]:
            socket = self._open_socket(connection)
            ids = []
            for envelope_type, payload in items:
                envelope_id = str(uuid.uuid4())
                envelope = {
                    "envelope_id": envelope_id,
                    "type": envelope_type,
                    "accepts_response_payload": envelope_type != "events_api",
                    "payload": payload,
                }
                self.acks[envelope_id] = Ack(envelope_id, time.monotonic(), sent=payload)
                await socket.send_str(json.dumps(envelope))
                ids.append(envelope_id)
            return ids

        return self.loop.run(send())

    def _trigger(self, trigger_id: str) -> str:
        with self._lock:
            self._triggers[trigger_id] = time.monotonic()
        return trigger_id

    def slash_command(
        self,
        text: str,
        user_id: str = "U0ALICE01",
        channel_id: str = "C0OPS0001",
        team_id: str | None = None,
        enterprise_id: str | None = None,
    ) -> dict[str, Any]:
        trigger = next(self._ts)
        enterprise_id = enterprise_id or self.enterprise_id
        return {
            "token": "deprecated-verification-token",
            "team_id": team_id or self.team_id,
            "team_domain": "acme",
            "channel_id": channel_id,
            "channel_name": "ops",
            "user_id": user_id,
            "user_name": "alice",
            "command": "/resume-campaign",
            "text": text,
            "api_app_id": "A0APP0001",
            "is_enterprise_install": "true" if enterprise_id else "false",
            **({"enterprise_id": enterprise_id} if enterprise_id else {}),
            "response_url": f"http://127.0.0.1:{self.port}/response/{trigger}",
            "trigger_id": self._trigger(f"{trigger}.1.abc"),
        }

    def click(
        self,
        channel: str,
        ts: str,
        user_id: str = "U0BOB0001",
        user_team: str | None = None,
        team_id: str | None = None,
        value: str | None = None,
        action_id: str = "resume_campaign",
        enterprise_id: str | None = None,
        button_value: str | None = None,
        option: int | None = None,
    ) -> dict[str, Any]:
        """A block_actions payload for a click on the button `action_id` (by default Resume) of the message
        at (channel, ts), as it is now (the one whose value is `button_value`, if given); `user_team`
        differs from the workspace for a guest from another organisation, or a member of another workspace
        of its Grid organisation."""
        enterprise_id = enterprise_id or self.enterprise_id
        message = self.messages[(channel, ts)]
        block_id, button = next(
            (block.get("block_id") or f"b{index}", element)
            for index, block in enumerate(message.get("blocks", []))
            for element in (block["elements"] if block.get("type") == "actions" else [block.get("accessory")])
            if element and element.get("action_id") == action_id and button_value in (None, element.get("value"))
        )
        if button["type"] == "overflow":  # Slack sends the option chosen, not the menu
            action = {"type": "overflow", "action_id": action_id, "selected_option": button["options"][option or 0]}
        else:
            action = {**button, "value": value if value is not None else button.get("value")}
        container = {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False}
        if message.get("thread_ts"):
            container["thread_ts"] = message["thread_ts"]
        team = team_id or self.team_id
        trigger = next(self._ts)
        return {
            "type": "block_actions",
            "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": user_team or team},
            "api_app_id": "A0APP0001",
            "token": "deprecated-verification-token",
            "container": container,
            "trigger_id": self._trigger(f"{trigger}.1.def"),
            "team": {"id": team, "domain": "acme", **({"enterprise_id": enterprise_id} if enterprise_id else {})},
            "enterprise": {"id": enterprise_id, "name": "Grid"} if enterprise_id else None,
            "is_enterprise_install": enterprise_id is not None,
            "channel": {"id": channel, "name": "ops"},
            "message": {"type": "message", "user": BOT_USER, "bot_id": "B0BOT0001", **message},
            "state": {"values": {}},
            "response_url": f"http://127.0.0.1:{self.port}/response/{trigger}",
            "actions": [{**action, "block_id": block_id, "action_ts": f"{time.time():.6f}"}],
        }

    def view_submission(
        self,
        view: dict[str, Any],
        values: dict[str, Any],
        user_id: str = "U0ADMIN01",
        team_id: str | None = None,
        enterprise_id: str | None = None,
        installed_team_id: str | None = None,
    ) -> dict[str, Any]:
        """The payload Slack sends when `view` (as opened by the bot) is submitted with `values`:
        block_id -> {"value": <element state>}. `installed_team_id`: the modal was opened in a Slack Connect
        channel, from the workspace that installed the app, by someone of `team_id`."""
        team = team_id or self.team_id
        enterprise_id = enterprise_id or self.enterprise_id
        installed = {"app_installed_team_id": installed_team_id} if installed_team_id else {}
        return {
            "type": "view_submission",
            "team": {"id": team, "domain": "acme"},
            "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": team},
            "api_app_id": "A0APP0001",
            "token": "deprecated-verification-token",
            "trigger_id": self._trigger(f"{next(self._ts)}.1.ghi"),
            "view": {
                **view,
                "id": "V0SETUP01",
                "team_id": team,
                "state": {"values": values},
                "hash": "1.abc",
                **installed,
            },
            "response_urls": [],
            "is_enterprise_install": enterprise_id is not None,
            "enterprise": {"id": enterprise_id, "name": "Grid"} if enterprise_id else None,
        }

    def block_suggestion(self, action_id: str, block_id: str, typed: str, team_id: str | None = None) -> dict[str, Any]:
        """What Slack sends while someone types in an external select of a modal: the options are the ack."""
        team = team_id or self.team_id
        return {
            "type": "block_suggestion",
            "user": {"id": "U0ADMIN01", "username": "u0admin01", "name": "u0admin01", "team_id": team},
            "container": {"type": "view", "view_id": "V0SETUP01"},
            "api_app_id": "A0APP0001",
            "token": "deprecated-verification-token",
            "action_id": action_id,
            "block_id": block_id,
            "value": typed,
            "team": {"id": team, "domain": "acme"},
            "enterprise": None,
            "is_enterprise_install": False,
            "view": {"id": "V0SETUP01", "type": "modal", "team_id": team, "callback_id": "workspace_setup"},
        }

    def click_private(
        self,
        message: dict[str, Any],
        action_id: str,
        channel: str,
        user_id: str = "U0ALICE01",
        team_id: str | None = None,
        index: int = 0,
    ) -> dict[str, Any]:
        """A click on the `index`-th button `action_id` of a private (ephemeral) message the bot sent
        through a response URL: Slack sends no `message` with it, only where it was and a new response URL."""
        buttons = [
            element
            for block in message.get("blocks", [])
            for element in (block.get("elements", []) if block.get("type") == "actions" else [block.get("accessory")])
            if element and element.get("action_id") == action_id
        ]
        button, team, trigger = buttons[index], team_id or self.team_id, next(self._ts)
        enterprise_id = self.enterprise_id
        return {
            "type": "block_actions",
            "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": team},
            "api_app_id": "A0APP0001",
            "token": "deprecated-verification-token",
            "container": {
                "type": "message",
                "message_ts": f"{time.time():.6f}",
                "channel_id": channel,
                "is_ephemeral": True,
            },
            "trigger_id": self._trigger(f"{trigger}.1.jkl"),
            "team": {"id": team, "domain": "acme", **({"enterprise_id": enterprise_id} if enterprise_id else {})},
            "enterprise": {"id": enterprise_id, "name": "Grid"} if enterprise_id else None,
            "is_enterprise_install": enterprise_id is not None,
            "channel": {"id": channel, "name": "ops"},
            "state": {"values": {}},
            "response_url": f"http://127.0.0.1:{self.port}/response/{trigger}",
            "actions": [{**button, "block_id": "x", "action_ts": f"{time.time():.6f}"}],
        }

    def click_in_home(self, view: dict[str, Any], action_id: str, user_id: str, index: int = 0) -> dict[str, Any]:
        """A click on the `index`-th button `action_id` of a Home tab the bot published: no channel, no
        response URL."""
        buttons = [
            element
            for block in view.get("blocks", [])
            for element in (block.get("elements", []) if block.get("type") == "actions" else [block.get("accessory")])
            if element and element.get("action_id") == action_id
        ]
        trigger = next(self._ts)
        return {
            "type": "block_actions",
            "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": self.team_id},
            "api_app_id": "A0APP0001",
            "token": "deprecated-verification-token",
            "container": {"type": "view", "view_id": "V0HOME001"},
            "trigger_id": self._trigger(f"{trigger}.1.mno"),
            "team": {"id": self.team_id, "domain": "acme"},
            "enterprise": None,
            "is_enterprise_install": False,
            "view": {**view, "id": "V0HOME001", "team_id": self.team_id, "state": {"values": {}}},
            "actions": [{**buttons[index], "block_id": "x", "action_ts": f"{time.time():.6f}"}],
        }

    def published_homes(self, user_id: str) -> list[dict[str, Any]]:
        return [c.params["view"] for c in self.calls_to("views.publish") if c.params.get("user_id") == user_id]

    def event(self, event_type: str, team_id: str, event_time: float | None = None, **event: Any) -> dict[str, Any]:
        """An Events API callback, as Slack posts it (HTTP) or wraps it (Socket Mode)."""
        moment = int(event_time if event_time is not None else time.time())
        authorizations = self._authorizations(team_id)
        return {
            "token": "deprecated-verification-token",
            "team_id": team_id,
            "api_app_id": "A0APP0001",
            "event": {"type": event_type, "event_ts": f"{moment}.000100", **event},
            "type": "event_callback",
            "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
            "event_time": moment,
            "authorizations": authorizations,
            "is_ext_shared_channel": False,
            **({"enterprise_id": authorizations[0]["enterprise_id"]} if authorizations[0]["enterprise_id"] else {}),
        }

    def step_executed(
        self, callback_id: str, inputs: dict[str, Any], team_id: str | None = None, run_by: str | None = None
    ) -> StepRun:
        """A workflow runs one of the app's steps: the `function_executed` event Slack sends, over Socket Mode.
        `run_by`: the person who started the workflow (a link or a button), whom Slack puts in `user_context`."""
        run, payload = self.step_event(callback_id, inputs, team_id, run_by)
        run.envelope = self.push("events_api", payload)
        run.payload = payload
        return run

    def deliver_again(self, run: StepRun, connection: int = -1) -> str:
        """Slack delivers the same `function_executed` again (as when an ack was late): the same event, its
        envelope marked as a retry."""
        assert run.payload is not None

        async def send() -> str:
            envelope_id = str(uuid.uuid4())
            envelope = {
                "envelope_id": envelope_id,
                "type": "events_api",
                "accepts_response_payload": False,
                "retry_attempt": 1,
                "retry_reason": "timeout",
                "payload": run.payload,
            }
            self.acks[envelope_id] = Ack(envelope_id, time.monotonic())
            await self._open_socket(connection).send_str(json.dumps(envelope))
            return envelope_id

        return self.loop.run(send())

    def step_event(
        self, callback_id: str, inputs: dict[str, Any], team_id: str | None = None, run_by: str | None = None
    ) -> tuple[StepRun, dict[str, Any]]:
        """The `function_executed` event of a step's run (posted over HTTP, or wrapped for Socket Mode), with a
        token of this execution's own, which the app may use for Slack's API during the step. Slack sends only
        the inputs a step declares, and fills `user_context` itself: a builder cannot type one."""
        team = team_id or self.team_id
        step = STEPS.get(callback_id) or {
            "title": callback_id,
            "description": "a step the app no longer declares",
            "input_parameters": {},
            "output_parameters": {},
        }
        undeclared = [name for name in inputs if name not in step["input_parameters"]] if callback_id in STEPS else []
        assert not undeclared, f"Slack sends only declared inputs, not {undeclared}"
        assert "user_context" not in inputs, "user_context comes from the trigger: pass run_by"
        if run_by is not None:
            inputs = {**inputs, "user_context": {"id": run_by, "secret": f"uc-{uuid.uuid4().hex[:16]}"}}
        run = StepRun(
            callback_id,
            f"Fx{uuid.uuid4().hex[:10].upper()}",
            f"Wx{uuid.uuid4().hex[:10].upper()}",
            f"xwfp-{team}-{uuid.uuid4().hex[:16]}",
        )
        who = self._installation_for(team)
        with self._lock:
            self.tokens[run.token] = who
            self.step_runs[run.execution_id] = run
            run.callback_known = callback_id in STEPS
        function = {
            "id": f"Fn{uuid.uuid4().hex[:10].upper()}",
            "callback_id": callback_id,
            "title": step["title"],
            "description": step["description"],
            "type": "app",
            "input_parameters": list(step["input_parameters"].values()),
            "output_parameters": list(step["output_parameters"].values()),
            "app_id": "A0APP0001",
        }
        payload = self.event(
            "function_executed",
            team,
            function=function,
            inputs=inputs,
            function_execution_id=run.execution_id,
            workflow_execution_id=run.workflow_execution_id,
            bot_access_token=run.token,
        )
        if who.enterprise_id:
            payload["enterprise_id"] = who.enterprise_id
        return run, payload

    def _installation_for(self, team: str) -> Identity:
        """Whose bot serves `team`: its own installation, else its Grid organisation's org-wide one."""
        with self._lock:
            bots = [identity for token, identity in self.tokens.items() if token.startswith("xoxb-")]
        own = next((i for i in bots if i.team_id == team), None)
        org_wide = next((i for i in bots if i.org_wide), None)  # a workspace of an organisation installed org-wide
        return own or org_wide or Identity(team, self.enterprise_id)

    def _authorizations(self, team: str) -> list[dict[str, Any]]:
        """What Slack puts in every event: the installation the event is for. For an org-wide install, its team is
        null and it is an enterprise install; the workspace is in the event's own fields."""
        who = self._installation_for(team)
        return [
            {
                "enterprise_id": who.enterprise_id,
                "team_id": None if who.org_wide else team,
                "user_id": who.bot_user_id,
                "is_bot": True,
                "is_enterprise_install": who.org_wide,
            }
        ]

    def step_ending(self, run: StepRun, timeout: float = 15) -> ApiCall:
        """How the step ended: Slack's record of the app's `functions.completeSuccess` or `completeError`."""
        return wait_until(lambda: run.ended, timeout, f"the end of step {run.callback_id}")

    def opened_views(self) -> list[dict[str, Any]]:
        return [call.params for call in self.calls_to("views.open") if call.answer.get("ok")]

    def add_message(self, channel: str, blocks: list, text: str, thread_ts: str | None = None) -> str:
        """A message some other tool posted with the bot's token."""
        ts = f"1700000000.{next(self._ts):06d}"
        with self._lock:
            self.messages[(channel, ts)] = {
                "ts": ts,
                "text": text,
                "blocks": blocks,
                **({"thread_ts": thread_ts} if thread_ts else {}),
            }
        return ts

    def delete(self, channel: str, ts: str) -> None:
        with self._lock:
            self._deleted.add((channel, ts))

    def disconnect_all(self, reason: str = "refresh_requested") -> None:
        async def send() -> None:
            for socket in list(self._sockets):
                if not socket.closed:
                    await socket.send_str(json.dumps({"type": "disconnect", "reason": reason}))

        self.loop.run(send())

    def drop_all(self) -> None:
        async def close() -> None:
            for socket in list(self._sockets):
                await socket.close()

        self.loop.run(close())

    # --- what tests read ----------------------------------------------------------------------

    def wait_connected(self, count: int = 1, timeout: float = 15) -> None:
        """Until the worker has opened `count` WebSockets in all, and the newest is still open."""
        wait_until(
            lambda: len(self._sockets) >= count and not self._sockets[-1].closed,
            timeout,
            f"Socket Mode connection number {count}",
        )

    def wait_ack(self, envelope_id: str, timeout: float = 5) -> Ack:
        return wait_until(lambda: self._acked(envelope_id), timeout, f"the ack of envelope {envelope_id}")

    def calls_to(self, method: str) -> list[ApiCall]:
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def posts_in(self, channel: str) -> list[ApiCall]:
        return [call for call in self.calls_to("chat.postMessage") if call.params.get("channel") == channel]

    def responses_to(self, payload: dict[str, Any]) -> list[ApiCall]:
        path = payload["response_url"].split(f":{self.port}")[1]
        with self._lock:
            return [call for call in self.responses if call.method == path]

    # --- the server ----------------------------------------------------------------------------

    def _acked(self, envelope_id: str) -> Ack | None:
        ack = self.acks.get(envelope_id)
        return ack if ack is not None and ack.acked_at is not None else None

    def _live_sockets(self) -> list[web.WebSocketResponse]:
        return [socket for socket in self._sockets if not socket.closed]

    def _open_socket(self, connection: int) -> web.WebSocketResponse:
        live = self._live_sockets()
        assert live, "the worker has no open Socket Mode connection"
        return live[connection]

    async def _web_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _params(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ") or params.get("token")
        call = ApiCall(method, token, params, time.monotonic())
        with self._lock:
            self.calls.append(call)
            failure = self._take_failure(method, params.get("channel"))
            if failure is None and method == "chat.postMessage" and self.channel_post_limit is not None:
                failure = self._over_channel_limit(str(params.get("channel")), call.at)
        status, headers = 200, {}
        if method == "auth.test" and self.auth_test_seconds:
            await asyncio.sleep(self.auth_test_seconds)
        if seconds := self.slow.get(method):
            await asyncio.sleep(seconds)
        if failure is not None and failure.error == "connection_dropped":
            request.transport.close()
            call.answer = {"ok": False, "error": failure.error}
            return web.Response(status=500)
        if failure is not None:
            call.answer = {"ok": False, "error": failure.error}
            if failure.retry_after is not None:
                status, headers = 429, {"Retry-After": str(failure.retry_after)}
        elif method == "oauth.v2.access":
            call.answer = self._install(request, params)
        elif method not in KNOWN_METHODS:
            call.answer = {"ok": False, "error": "unknown_method"}
        elif (token != self.app_token) if method == "apps.connections.open" else (token not in self.tokens):
            call.answer = {"ok": False, "error": "invalid_auth"}
        elif problems := _block_kit_problems(method, params):
            error = "invalid_arguments" if method.startswith("views.") else "invalid_blocks"
            call.answer = {"ok": False, "error": error, "errors": problems}
        elif method.startswith("functions.complete"):
            call.answer = self._end_step(call)
        else:
            call.answer = self._answer(method, params, self.tokens.get(token or "", Identity(self.team_id)))
        if call.answer.get("error") in (
            "unknown_method",
            "invalid_blocks",
            "invalid_arguments",
            "parameter_validation_failed",
        ):
            with self._lock:
                self.refused.append(call)
        return web.json_response(call.answer, status=status, headers=headers)

    def _over_channel_limit(self, channel: str, now: float) -> Failure | None:
        assert self.channel_post_limit is not None
        most, seconds = self.channel_post_limit
        recent = [moment for moment in self._channel_posts.get(channel, []) if now - moment < seconds]
        if len(recent) >= most:
            self._channel_posts[channel] = recent
            return Failure("ratelimited", retry_after=1)
        self._channel_posts[channel] = [*recent, now]
        return None

    def _take_failure(self, method: str, channel: str | None) -> Failure | None:
        for key in ((method, channel), (method, None)):
            failure = self._failures.get(key)
            if failure is not None:
                failure.times -= 1
                if failure.times <= 0:
                    del self._failures[key]
                return failure
        return None

    def _install(self, request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
        """oauth.v2.access: the app's client id and secret (HTTP Basic), and a code that works once."""
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return {"ok": False, "error": "invalid_client_id"}
        with self._lock:
            installed = self._codes.pop(params.get("code") or "", None)
        if installed is None:
            return {"ok": False, "error": "invalid_code"}
        bot, installer = installed
        token = f"xoxb-{bot.team_id or bot.enterprise_id}-{uuid.uuid4().hex[:16]}"
        with self._lock:
            self.tokens[token] = bot
        return {
            "ok": True,
            "app_id": "A0APP0001",
            "authed_user": {"id": installer},
            "scope": "commands,chat:write,chat:write.public,users:read,usergroups:read",
            "token_type": "bot",
            "access_token": token,
            "bot_user_id": bot.bot_user_id,
            "team": {"id": bot.team_id, "name": f"Team {bot.team_id}"} if bot.team_id else None,
            "enterprise": {"id": bot.enterprise_id, "name": "Grid"} if bot.enterprise_id else None,
            "is_enterprise_install": bot.org_wide,
        }

    def _end_step(self, call: ApiCall) -> dict[str, Any]:
        """Slack ends a step once, and only with the outputs its manifest declares, of their declared types."""
        params = call.params
        with self._lock:
            run = self.step_runs.get(params.get("function_execution_id") or "")
            if run is None:
                return {"ok": False, "error": "function_execution_not_found"}
            if run.ended is not None:
                return {"ok": False, "error": "execution_not_in_running_state"}
            if call.method == "functions.completeError":
                problems = [] if isinstance(params.get("error"), str) and params["error"].strip() else ["no error text"]
            elif not run.callback_known:
                problems = ["outputs: a step this app does not declare has none"]
            else:
                problems = output_problems(STEPS[run.callback_id], params.get("outputs"))
            if problems:
                return {"ok": False, "error": "parameter_validation_failed", "errors": problems}
            run.ended = call
        return {"ok": True}

    def _answer(self, method: str, params: dict[str, Any], bot: Identity) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://acme.slack.com/",
                "team": "Acme",
                "user": "truedy",
                "team_id": bot.team_id or bot.enterprise_id,
                "enterprise_id": bot.enterprise_id,
                "is_enterprise_install": bot.org_wide,
                "user_id": bot.bot_user_id,
                "bot_id": bot.bot_id,
            }
        if method == "apps.connections.open":
            self.connections_opened += 1
            return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket?ticket={uuid.uuid4()}"}
        if method == "chat.postMessage":
            ts = f"1700000000.{next(self._ts):06d}"
            message = {"ts": ts, "text": params.get("text"), "blocks": params.get("blocks") or []}
            if params.get("thread_ts"):
                message["thread_ts"] = params["thread_ts"]
            with self._lock:
                self.messages[(params.get("channel"), ts)] = message
            return {"ok": True, "channel": params.get("channel"), "ts": ts, "message": message}
        if method == "users.info":
            user = params.get("user")
            enterprise = self.enterprise_users.get(user or "")
            return {
                "ok": True,
                "user": {
                    "id": user,
                    "team_id": bot.team_id,
                    **({"enterprise_user": {"enterprise_id": enterprise, "id": user}} if enterprise else {}),
                    "is_admin": user in self.admins,
                    "tz": self.time_zones.get(user or "", "America/New_York"),
                    "is_owner": False,
                    "is_primary_owner": False,
                },
            }
        if method == "views.open":
            with self._lock:
                given = self._triggers.pop(str(params.get("trigger_id")), None)
            if given is None:
                return {"ok": False, "error": "invalid_trigger_id"}  # never given, or used already
            if time.monotonic() - given > TRIGGER_SECONDS:
                return {"ok": False, "error": "expired_trigger_id"}
            view = params.get("view")
            view = json.loads(view) if isinstance(view, str) else view
            return {"ok": True, "view": {**view, "id": "V0SETUP01", "hash": "1.abc"}}
        if method == "usergroups.list":
            return {
                "ok": True,
                "usergroups": [
                    {"id": group_id, "handle": handle, "name": handle}
                    for group_id, (handle, _) in self.usergroups.items()
                ],
            }
        if method == "usergroups.users.list":
            group = self.usergroups.get(params.get("usergroup"))
            return {"ok": True, "users": group[1]} if group else {"ok": False, "error": "no_such_subteam"}
        if method == "chat.update":
            key = (params.get("channel"), params.get("ts"))
            with self._lock:
                if key in self._deleted or key not in self.messages:
                    return {"ok": False, "error": "message_not_found"}
                self.messages[key].update(text=params.get("text"), blocks=params.get("blocks") or [])
            return {"ok": True, "channel": key[0], "ts": key[1], "text": params.get("text")}
        return {"ok": True}

    async def _response_url(self, request: web.Request) -> web.Response:
        params = await _params(request)
        call = ApiCall(request.path, None, params, time.monotonic())
        problems = block_kit.message_problems(params)
        call.answer = {"ok": False, "error": "invalid_blocks", "errors": problems} if problems else {"ok": True}
        with self._lock:
            self.responses.append(call)
            if problems:
                self.refused.append(call)
        if problems:
            return web.Response(status=400, text="invalid_blocks")
        return web.Response(text="ok")

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        if self.socket_refusals > 0:
            self.socket_refusals -= 1
            return web.Response(status=503, text="service unavailable")
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        self._sockets.append(socket)
        await socket.send_str(
            json.dumps({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0APP0001"}})
        )
        async for message in socket:
            if message.type != WSMsgType.TEXT:
                continue
            ack = json.loads(message.data)
            pending = self.acks.get(ack.get("envelope_id"))
            if pending is not None and pending.acked_at is None:
                pending.acked_at = time.monotonic()
                pending.payload = ack.get("payload")
                if problems := _ack_problems(pending.payload, pending.sent):
                    with self._lock:
                        self.refused.append(
                            ApiCall(
                                "ack",
                                None,
                                pending.payload or {},
                                time.monotonic(),
                                {"ok": False, "error": "invalid_blocks", "errors": problems},
                            )
                        )
        return socket


# The Web API methods the bot (and Bolt for it) calls; Slack answers `unknown_method` to anything else.
KNOWN_METHODS = {
    "auth.test",
    "apps.connections.open",
    "oauth.v2.access",
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "chat.delete",
    "users.info",
    "views.open",
    "views.publish",
    "views.update",
    "usergroups.list",
    "usergroups.users.list",
    "conversations.info",
    "functions.completeSuccess",
    "functions.completeError",
}


def output_problems(step: dict[str, Any], outputs: Any) -> list[str]:
    """What Slack would refuse in a step's outputs: a name the step does not declare, a required one missing,
    a value not of its declared type."""
    if not isinstance(outputs, dict):
        return ["outputs: not an object"]
    declared = step["output_parameters"]
    problems = [f"{name}: not an output of this step" for name in outputs if name not in declared]
    problems += [f"{name}: required" for name, p in declared.items() if p.get("is_required") and name not in outputs]
    for name, value in outputs.items():
        if name in declared and not _of_type(declared[name]["type"], value):
            problems.append(f"{name}: not a {declared[name]['type']}: {value!r}")
    return problems


def _of_type(kind: str, value: Any) -> bool:
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "slack#/types/timestamp":  # seconds since the epoch
        return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 32503680000
    if kind in ("slack#/types/user_id", "slack#/types/channel_id"):
        return isinstance(value, str) and bool(re.fullmatch(r"[UWCGD][A-Z0-9]{2,}", value))
    return isinstance(value, str) if kind == "string" else False


def _ack_problems(payload: Any, sent: dict[str, Any] | None = None) -> list[str]:
    """An ack's payload is a message (a command's reply), a view (`response_action` update or push), options
    or a submission's errors: Slack refuses it as it would refuse them elsewhere."""
    if not isinstance(payload, dict):
        return []
    if "view" in payload:
        return block_kit.view_problems(payload["view"])
    if "text" in payload or "blocks" in payload:
        return block_kit.message_problems(payload)
    if "options" in payload:
        return block_kit.options_problems(payload["options"])
    if payload.get("response_action") == "errors":
        return _errors_problems(payload.get("errors"), (sent or {}).get("view"))
    return []


def _errors_problems(errors: Any, view: dict[str, Any] | None) -> list[str]:
    """A submission's errors name input blocks of the submitted view: Slack shows "We had some trouble connecting"
    instead of an error under anything else (or under nothing)."""
    if not isinstance(errors, dict) or not errors:
        return ["errors: an object of block_id -> message"]
    inputs = {block.get("block_id") for block in (view or {}).get("blocks") or () if block.get("type") == "input"}
    problems = []
    for block_id, message in errors.items():
        if view is not None and block_id not in inputs:
            problems.append(f"errors.{block_id}: not an input block of the submitted view")
        if not isinstance(message, str) or not message:
            problems.append(f"errors.{block_id}: a message is required")
    return problems


def _block_kit_problems(method: str, params: dict[str, Any]) -> list[str]:
    if method in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
        return block_kit.message_problems(params)
    if method in ("views.open", "views.publish", "views.update"):
        view = params.get("view")
        return block_kit.view_problems(json.loads(view) if isinstance(view, str) else view)
    return []


async def _params(request: web.Request) -> dict[str, Any]:
    if request.method == "GET":
        return dict(request.query)
    if request.content_type == "application/json":
        body = await request.json()
        return body if isinstance(body, dict) else {}
    form = await request.post()
    params = dict(form)
    for key in ("blocks", "attachments", "outputs"):  # JSON inside a form, as slack_sdk sends them
        if isinstance(params.get(key), str):
            params[key] = json.loads(params[key])
    return params
