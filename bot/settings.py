"""Every setting the bot reads, from the environment (or a local `.env` file)."""

import json
import re
from collections.abc import Callable
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy import make_url

from bot.storage import DEFAULT_POOL_SIZE, sqlalchemy_url
from bot.storage.keybox import is_fernet_key, split_keys

GENERATE_KEY = (
    "generate one with python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())'"
)
TEAM_ID = re.compile(r"^T[A-Z0-9]{2,20}$")
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,20}$")

# What .env.example (and the docs, app.json, with `…`) hold in place of a value: left so, a setting is refused
# at once, saying what to put there, rather than tried (a token that Slack refuses, a host that does not exist).
_ELIDED = r"(\.\.\.|…)"
EXAMPLE_TEAM, EXAMPLE_CHANNEL = "T0123ABCD", "C0123ABCD"
_EXAMPLE_HOST = r"https://(your-host|HOST|[^/]*<[^/]*>[^/]*)(/.*)?"
PLACEHOLDERS: dict[str, tuple[str, str, str]] = {  # setting: (what a placeholder looks like, shown as, what to do)
    "slack_bot_token": (
        f"xoxb-{_ELIDED}",
        "xoxb-...",
        "paste the Bot User OAuth Token (Slack app > OAuth & Permissions)",
    ),
    "slack_app_token": (
        f"xapp-{_ELIDED}",
        "xapp-...",
        "paste an app-level token with the connections:write scope (Slack app > Basic Information > App-Level Tokens)",
    ),
    "slack_signing_secret": (
        _ELIDED,
        "…",
        "paste the app's Signing Secret (Slack app > Basic Information > App Credentials)",
    ),
    "slack_client_secret": (
        _ELIDED,
        "…",
        "paste the app's Client Secret (Slack app > Basic Information > App Credentials)",
    ),
    "slack_client_id": (
        r"1234567890\.1234567890",
        "1234567890.1234567890",
        "paste the app's Client ID (Slack app > Basic Information > App Credentials)",
    ),
    "public_url": (_EXAMPLE_HOST, "https://your-host", "set the web process's public https address, or unset it"),
    "slack_redirect_uri": (
        _EXAMPLE_HOST,
        "https://your-host/…",
        "set the public https URL of /slack/oauth_redirect, or unset it",
    ),
    "truedy_api_key": (
        f"truedy_{_ELIDED}",
        "truedy_...",
        "paste the workspace's Truedy API key (Truedy Dashboard > Settings > API Keys), or unset it",
    ),
    "alert_channel": (
        EXAMPLE_CHANNEL,
        EXAMPLE_CHANNEL,
        "set the alert channel's id (channel details > About), or unset it",
    ),
}


class Settings(BaseSettings):
    # An empty variable is an unset one (a Heroku Button form leaves optional ones empty).
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False, env_ignore_empty=True)

    # Where bot tokens come from: this one token (one workspace), or installations (any number of workspaces).
    slack_bot_token: SecretStr | None = None
    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None
    slack_redirect_uri: str | None = None
    public_url: str | None = None  # the web process's public https address; from SLACK_REDIRECT_URI when unset
    slack_app_token: SecretStr | None = None  # required by the worker only (WorkerSettings)
    slack_signing_secret: SecretStr | None = None  # the web process serves Slack's HTTP requests with it
    slack_api_url: str = "https://slack.com/api/"

    truedy_api_url: str = "https://api.truedy.ai/api/public/v1"
    truedy_api_key: SecretStr | None = None
    truedy_api_keys: Annotated[dict[str, SecretStr], NoDecode] = {}
    truedy_dashboard_url: str | None = None
    truedy_connect_timeout: float = Field(5.0, gt=0, le=30)
    truedy_read_timeout: float = Field(10.0, gt=0, le=20)

    database_url: str = "sqlite:///truedy-bot.sqlite3"
    dyno: str | None = None  # set by Heroku in every dyno
    database_pool_size: int = Field(DEFAULT_POOL_SIZE, ge=1, le=100)
    bot_encryption_key: SecretStr

    paused_poll_seconds: float = Field(60, ge=1, le=3600)
    alert_channel: str | None = None
    alert_channels: Annotated[dict[str, str], NoDecode] = {}
    truedy_webhook_secret: SecretStr | None = None
    port: int = Field(8000, ge=1, le=65535)
    # The web process's processes (gunicorn's workers; Heroku sets it by dyno size).
    web_concurrency: int = Field(1, ge=1, le=256)

    resume_concurrency: int = Field(64, ge=1, le=512)
    # Resume all paces itself to this; Truedy allows ~100 a minute per key, and the rest are left to people.
    resume_all_per_minute: int = Field(90, ge=1, le=6000)
    # Pause again is offered under each successful resume for this many minutes (0: never).
    undo_minutes: int = Field(10, ge=0, le=60)
    # A paused campaign whose alert nobody acted on is reminded in its thread after this many minutes (0: never;
    # setup can set its own per workspace), then at growing intervals (1 h, 2 h, 4 h… later), at most
    # REMIND_MAX times. A fraction of a minute is read as such (tests use seconds).
    remind_after_minutes: float = Field(60, ge=0, le=1440)
    remind_max: int = Field(5, ge=1, le=20)
    # How long a resume-all job stays with a worker that stopped renewing its lease (it died or stalled).
    resume_all_lease_seconds: int = Field(60, ge=2, le=600)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # /metrics answers only `Authorization: Bearer <it>`; unset, there are no metrics (nothing is counted).
    metrics_token: SecretStr | None = None
    # The worker's own port for /healthz (and /metrics with METRICS_TOKEN); unset, the worker listens on none.
    metrics_port: int | None = Field(None, ge=1, le=65535)

    # Who runs this bot, named on the web pages an admin sees before and after installing it; each shown only
    # when set.
    operator_name: str | None = Field(None, max_length=100)
    privacy_url: str | None = None
    support_url: str | None = None

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and not token.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb- (Slack app > OAuth & Permissions)")
        return token

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and not token.get_secret_value().startswith("xapp-"):
            raise ValueError(
                "must be an app-level token starting with xapp- with the connections:write scope "
                "(Slack app > Basic Information > App-Level Tokens)"
            )
        return token

    @field_validator("slack_client_id")
    @classmethod
    def _client_id_shape(cls, client_id: str | None) -> str | None:
        if client_id is not None and not re.fullmatch(r"[0-9]+\.[0-9]+", client_id):
            raise ValueError("must be the app's Client ID, digits and a dot (Slack app > Basic Information)")
        return client_id

    @field_validator("slack_redirect_uri")
    @classmethod
    def _redirect_uri_shape(cls, url: str | None) -> str | None:
        # The web process answers the end of an install there only (bot.web's SLACK_PATHS), behind a proxy's prefix
        # or not.
        if url is not None and not re.fullmatch(r"https://[^\s/?#]+(/[^\s?#]*)?/slack/oauth_redirect", url):
            raise ValueError(
                "must be the public https URL of /slack/oauth_redirect, e.g. https://bot.example.com/slack/oauth_redirect"
            )
        return url

    @field_validator("public_url")
    @classmethod
    def _public_url_shape(cls, url: str | None) -> str | None:
        if url is not None and not re.fullmatch(r"https://[^\s/?#]+/?", url):
            raise ValueError("must be the bot's public https address, without a path, e.g. https://bot.example.com")
        return url.rstrip("/") if url is not None else None

    @field_validator("slack_api_url", "truedy_api_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", url):
            raise ValueError("must be an http(s) URL without query or fragment")
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 (read for its check: a port that is not one, or out of range, raises)
        except ValueError:
            raise ValueError("its host or port cannot be read (brackets not closed, a port not 1 to 65535)") from None
        if parts.username is not None or parts.password is not None:
            # Slack's and Truedy's clients send their own credentials; a user in the URL is taken for its host.
            raise ValueError("must not carry a user name or password (user:password@)") from None
        return url

    @field_validator("slack_api_url")
    @classmethod
    def _slack_url_trailing_slash(cls, url: str) -> str:
        return url if url.endswith("/") else url + "/"

    @field_validator("truedy_api_url")
    @classmethod
    def _truedy_url_no_trailing_slash(cls, url: str) -> str:
        return url.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, url: str) -> str:
        # Never quote the URL back: it may carry a password.
        shape = "must be sqlite:///<file> or postgres://user:password@host:5432/database"
        if not re.match(r"^(sqlite|postgres|postgresql)(\+\w+)?://", url):
            raise ValueError(shape)
        try:
            parsed = make_url(sqlalchemy_url(url))
            port = parsed.port
        except ValueError:
            raise ValueError(f"{shape}: its port is not a number") from None
        driver = parsed.get_driver_name()
        if parsed.get_backend_name() == "sqlite":
            if driver != "pysqlite":
                raise ValueError(f"names a driver this bot does not ship (+{driver}): use sqlite:///<file>")
            if not parsed.database or parsed.database == ":memory:":
                raise ValueError(
                    "must name a file, e.g. sqlite:///truedy-bot.sqlite3 (a database in memory would be lost at "
                    "every restart and not shared between processes)"
                )
            return url
        if driver != "psycopg":
            raise ValueError(f"names a driver this bot does not ship (+{driver}): use postgres://… (psycopg 3)")
        if not parsed.host or not parsed.database:
            raise ValueError(f"{shape}: it must name the host and the database")
        if port is not None and not 1 <= port <= 65535:
            raise ValueError(f"{shape}: its port must be 1 to 65535")
        return url

    @field_validator("operator_name")
    @classmethod
    def _one_line(cls, name: str | None) -> str | None:
        if name is not None and re.search(r"[\r\n\t]", name):
            raise ValueError("must be one line: the name of whoever runs this bot, e.g. Example Ltd")
        return name.strip() if name is not None else None

    @field_validator("privacy_url", "support_url")
    @classmethod
    def _https_page(cls, url: str | None) -> str | None:
        if url is not None and not re.fullmatch(r"https://[^\s/?#]+(/\S*)?", url.strip()):
            raise ValueError("must be an https URL of a page, e.g. https://example.com/privacy")
        return url.strip() if url is not None else None

    @field_validator("log_level", mode="before")
    @classmethod
    def _any_case(cls, level: object) -> object:
        return level.strip().upper() if isinstance(level, str) else level

    @field_validator("bot_encryption_key")
    @classmethod
    def _fernet_key(cls, key: SecretStr | None) -> SecretStr | None:
        if key is None:  # only when reading what else is wrong (_AsFarAsItGoes)
            return key
        keys = split_keys(key.get_secret_value())
        if not keys or not all(is_fernet_key(one) for one in keys):
            raise ValueError(
                "must be a Fernet key (32 url-safe base64-encoded bytes, or 64 hex digits), or several "
                f"comma-separated, newest first, while rotating; {GENERATE_KEY}"
            )
        return key

    @field_validator("truedy_dashboard_url")
    @classmethod
    def _dashboard_template(cls, url: str | None) -> str | None:
        if url is not None and (not re.match(r"^https?://\S+$", url) or "{id}" not in url):
            raise ValueError("must be an http(s) URL containing {id}, e.g. https://app.truedy.ai/campaigns/{id}")
        return url

    @field_validator("alert_channel")
    @classmethod
    def _channel_id(cls, channel: str | None) -> str | None:
        if channel is not None and not _is_channel_id(channel):
            raise ValueError("must be a Slack channel id like C0123ABCD (channel details > About), not a name")
        return channel

    @field_validator("alert_channels", mode="before")
    @classmethod
    def _channels_json(cls, raw: object) -> object:
        return _by_team(raw, "C0123ABCD", "channel", _is_channel_id, "a Slack channel id like C0123ABCD")

    @field_validator(
        "truedy_api_key",
        "truedy_dashboard_url",
        "alert_channel",
        "truedy_webhook_secret",
        "slack_signing_secret",
        "slack_bot_token",
        "slack_client_id",
        "slack_client_secret",
        "slack_redirect_uri",
        "public_url",
        "metrics_token",
        "metrics_port",
        "operator_name",
        "privacy_url",
        "support_url",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("metrics_token")
    @classmethod
    def _long_enough(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and (len(token.get_secret_value()) < 16 or re.search(r"\s", token.get_secret_value())):
            raise ValueError(
                "must be at least 16 characters without spaces (a scraper sends it as a bearer token); "
                "generate one with python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return token

    @field_validator("web_concurrency", mode="before")
    @classmethod
    def _processes(cls, value: object) -> object:
        if isinstance(value, str) and not re.fullmatch(r"\s*[0-9]{1,3}\s*", value):
            raise ValueError("must be a whole number of processes, 1 to 256 (Heroku sets it by dyno size)")
        return value

    @field_validator("truedy_api_key")
    @classmethod
    def _single_key_shape(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None and not _plausible_key(key.get_secret_value()):
            raise ValueError("must be a single Truedy API key (no spaces, quotes or line breaks)")
        return key

    @field_validator(*PLACEHOLDERS)
    @classmethod
    def _not_a_placeholder(cls, value: SecretStr | str | None, info: ValidationInfo) -> SecretStr | str | None:
        """After each shape check (PUBLIC_URL without its trailing slash)."""
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        placeholder, shown, to_do = PLACEHOLDERS[info.field_name]
        if text is not None and re.fullmatch(placeholder, text.strip()):
            raise ValueError(f"still holds the placeholder {shown} (from .env.example or the docs): {to_do}")
        return value

    @field_validator("truedy_api_keys", mode="before")
    @classmethod
    def _keys_json(cls, raw: object) -> object:
        return _by_team(raw, "truedy_...", "key", _plausible_key, "a non-empty string without spaces")

    @model_validator(mode="after")
    def _public_url_from_the_redirect(self) -> "Settings":
        if self.public_url is None and self.slack_redirect_uri is not None:
            scheme, _, rest = self.slack_redirect_uri.partition("://")
            self.public_url = f"{scheme}://{rest.split('/', 1)[0]}"
        return self

    @property
    def redirect_uri(self) -> str | None:
        """Where Slack sends the browser back after an install: SLACK_REDIRECT_URI, else on PUBLIC_URL."""
        if self.slack_redirect_uri is None and self.public_url is not None:
            return f"{self.public_url}/slack/oauth_redirect"
        return self.slack_redirect_uri

    @property
    def installations(self) -> bool:
        """Bot tokens come from workspaces installing the app (OAuth), not from SLACK_BOT_TOKEN."""
        return self.slack_client_id is not None or self.slack_client_secret is not None

    def mode_problems(self) -> list[str]:
        """Settings that each look right but do not fit together; one line each."""
        return self._heroku_problems() + self._token_problems()

    def _heroku_problems(self) -> list[str]:
        if self.dyno is None or not self.database_url.startswith("sqlite"):
            return []
        return [
            "DATABASE_URL: on Heroku (DYNO is set) it must be PostgreSQL: a dyno's filesystem is wiped at every "
            "restart, so the installations and keys stored in SQLite would be lost. Add the add-on, which sets "
            "DATABASE_URL: heroku addons:create heroku-postgresql:essential-0"
        ]

    def _token_problems(self) -> list[str]:
        if self.slack_bot_token is not None and self.installations:
            return [
                "SLACK_BOT_TOKEN and SLACK_CLIENT_ID/SLACK_CLIENT_SECRET: choose one: SLACK_BOT_TOKEN serves the one "
                "workspace it belongs to; the client id and secret let any number of workspaces install the app. "
                "Unset the other"
            ]
        if not self.installations:
            if self.slack_bot_token is None:
                return [
                    "SLACK_BOT_TOKEN: is required but not set: the Bot User OAuth Token, xoxb-… (Slack app > "
                    "OAuth & Permissions); or set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET to let workspaces "
                    "install the app"
                ]
            return []
        problems = []
        if self.slack_client_id is None:
            problems.append("SLACK_CLIENT_ID: is required with SLACK_CLIENT_SECRET (Slack app > Basic Information)")
        if self.slack_client_secret is None:
            problems.append("SLACK_CLIENT_SECRET: is required with SLACK_CLIENT_ID (Slack app > Basic Information)")
        if self.slack_signing_secret is None:
            problems.append(
                "SLACK_SIGNING_SECRET: is required when workspaces install the app: the install pages are served "
                "with it (Slack app > Basic Information)"
            )
        for name, value in (
            ("TRUEDY_API_KEY", self.truedy_api_key),
            ("TRUEDY_API_KEYS", self.truedy_api_keys),
            ("ALERT_CHANNEL", self.alert_channel),
            ("ALERT_CHANNELS", self.alert_channels),
            ("TRUEDY_WEBHOOK_SECRET", self.truedy_webhook_secret),
        ):
            if value:
                problems.append(
                    f"{name}: not used when workspaces install the app (SLACK_CLIENT_ID is set): each workspace "
                    "connects its own Truedy key, alert channel and webhook with the Connect Truedy button; unset it"
                )
        return problems

    def secrets(self) -> list[str]:
        """Every secret value, so logging can make sure none is ever written out."""
        values = [self.bot_encryption_key, *self.truedy_api_keys.values()]
        optional = (
            self.slack_bot_token,
            self.slack_client_secret,
            self.slack_app_token,
            self.slack_signing_secret,
            self.truedy_api_key,
            self.truedy_webhook_secret,
            self.metrics_token,
        )
        values += [secret for secret in optional if secret is not None]
        secrets = [secret.get_secret_value() for secret in values]
        encryption_keys = split_keys(self.bot_encryption_key.get_secret_value())
        secrets += encryption_keys if len(encryption_keys) > 1 else []
        if password := make_url(sqlalchemy_url(self.database_url)).password:
            secrets.append(str(password))
        return secrets


def _by_team(raw: object, example: str, value_name: str, value_ok: Callable[[str], bool], value_rule: str) -> object:
    """A JSON object from Slack team ids to `example`-like strings, each passing `value_ok`."""
    if not isinstance(raw, str):
        return raw
    if not raw.strip():
        return {}
    like = f'{{"{EXAMPLE_TEAM}": "{example}"}}'
    shape = f"must be a JSON object like {like}"
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        raise ValueError(f"{shape}; it is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise ValueError(shape)
    for team_id, value in parsed.items():
        if team_id == EXAMPLE_TEAM or value in (example, example.replace("...", "…")):
            raise ValueError(
                f"still holds the placeholder {like} (from .env.example or the docs): name each workspace by its "
                f"own team id, with its {value_name}"
            )
        if not TEAM_ID.match(team_id):
            raise ValueError(f"{team_id[:30]!r} is not a Slack team id (T followed by letters and digits)")
        if not isinstance(value, str) or not value_ok(value):
            raise ValueError(f"the {value_name} for {team_id} must be {value_rule}")
    return parsed


def _is_channel_id(channel: str) -> bool:
    return bool(CHANNEL_ID.match(channel))


def _plausible_key(key: str) -> bool:
    return bool(key) and not re.search(r"[\s\"'`]", key)


class SettingsError(Exception):
    """The environment does not describe a bot that can start; `problems` has one line per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class WorkerSettings(Settings):
    """The Socket Mode worker's: the same, with the app-level token required."""

    slack_app_token: SecretStr  # type: ignore[assignment]


class _AsFarAsItGoes(Settings):
    """The settings with what is required left optional, to find everything else that is wrong in the same run
    (the malformed ones read as unset)."""

    bot_encryption_key: SecretStr | None = None  # type: ignore[assignment]

    def missing(self, worker: bool) -> list[str]:
        problems = []
        if worker and self.slack_app_token is None:
            problems.append(
                "SLACK_APP_TOKEN: is required but not set: an app-level token, xapp-…, with the connections:write "
                "scope (Slack app > Basic Information > App-Level Tokens)"
            )
        if self.bot_encryption_key is None:
            problems.append(
                "BOT_ENCRYPTION_KEY: is required but not set: it encrypts the Truedy keys and bot tokens the bot "
                f"stores; {GENERATE_KEY}, and keep it (without it, what is stored cannot be read)"
            )
        return problems


# A malformed setting that decides the mode still decides it (SLACK_CLIENT_ID set means installations).
_AS_IF_SET = {"slack_client_id": "0.0", "slack_bot_token": "xoxb-", "slack_app_token": "xapp-"}


def load_settings(worker: bool = True) -> Settings:
    """The worker's settings, or (`worker=False`) those of the web process and the alert command. Every
    problem at once: malformed, missing, and settings that do not fit together."""
    try:
        settings = WorkerSettings() if worker else Settings()
    except UnicodeDecodeError:
        raise SettingsError(
            [".env: is not UTF-8 text (an editor saved it as Latin-1 or Windows-1252?): save it as UTF-8"]
        ) from None
    except ValidationError as error:
        malformed = [problem for problem in error.errors() if problem["type"] != "missing"]
        unset = {str(problem["loc"][0]) for problem in malformed if problem["loc"]}
        rest = _AsFarAsItGoes(
            **{name: _AS_IF_SET.get(name, _AsFarAsItGoes.model_fields[name].default) for name in unset}
        )
        named = {name.upper() for name in unset}
        more = [line for line in rest.missing(worker) + rest.mode_problems() if line.split(":")[0] not in named]
        raise SettingsError([_describe(problem) for problem in malformed] + more) from None
    if problems := settings.mode_problems():
        raise SettingsError(problems)
    return settings


def _describe(problem: dict) -> str:
    # Never echo problem["input"]: it may be a token or a key.
    message = problem["msg"].removeprefix("Value error, ")
    if not problem["loc"]:
        return message
    return f"{str(problem['loc'][0]).upper()}: {message}"
