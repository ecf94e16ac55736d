import re
from pathlib import Path

import pytest

from bot import storage
from bot.settings import Settings, SettingsError, load_settings

FERNET_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
GOOD = {
    "SLACK_BOT_TOKEN": "xoxb-1-secret-bot",
    "SLACK_APP_TOKEN": "xapp-1-secret-app",
    "TRUEDY_API_KEY": "truedy_secretsecret1",
    "BOT_ENCRYPTION_KEY": FERNET_KEY,
}


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)

    def set_env(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_env


def problems(env, **values: str) -> list[str]:
    env(**values)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    return raised.value.problems


def test_defaults(env):
    env(**GOOD)
    settings = load_settings()
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.truedy_api_url == "https://api.truedy.ai/api/public/v1"
    assert settings.truedy_api_keys == {}


def test_urls_are_normalised(env):
    env(**GOOD, SLACK_API_URL="http://127.0.0.1:9/api", TRUEDY_API_URL="http://127.0.0.1:8/v1/")
    settings = load_settings()
    assert settings.slack_api_url == "http://127.0.0.1:9/api/"
    assert settings.truedy_api_url == "http://127.0.0.1:8/v1"


def test_keys_by_workspace_from_json(env):
    env(**{**GOOD, "TRUEDY_API_KEY": ""}, TRUEDY_API_KEYS='{"T0AAA0001": "truedy_a1234567", "T0BBB0002": "truedy_b"}')
    settings = load_settings()
    assert {team: key.get_secret_value() for team, key in settings.truedy_api_keys.items()} == {
        "T0AAA0001": "truedy_a1234567",
        "T0BBB0002": "truedy_b",
    }


GENERATE = "python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())'"
MISSING_BOT_TOKEN = (
    "SLACK_BOT_TOKEN: is required but not set: the Bot User OAuth Token, xoxb-… (Slack app > OAuth & Permissions); "
    "or set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET to let workspaces install the app"
)


def test_with_nothing_set_every_missing_setting_is_named_in_one_run_with_where_to_get_it(env):
    lines = problems(env)
    assert [line.split(":")[0] for line in lines] == ["SLACK_APP_TOKEN", "BOT_ENCRYPTION_KEY", "SLACK_BOT_TOKEN"]
    assert "(Slack app > Basic Information > App-Level Tokens)" in lines[0]
    assert GENERATE in lines[1]
    assert lines[2] == MISSING_BOT_TOKEN
    with pytest.raises(SettingsError) as web:
        load_settings(worker=False)  # the web process: no app-level token needed
    assert [line.split(":")[0] for line in web.value.problems] == ["BOT_ENCRYPTION_KEY", "SLACK_BOT_TOKEN"]


def test_malformed_missing_and_conflicting_settings_come_in_the_same_run(env):
    lines = problems(env, PORT="eighty", SLACK_CLIENT_ID="not-an-id", TRUEDY_API_KEY="truedy_k1")
    assert [line.split(":")[0] for line in lines] == [
        "SLACK_CLIENT_ID",  # malformed, yet it still means installations…
        "PORT",
        "SLACK_APP_TOKEN",
        "BOT_ENCRYPTION_KEY",
        "SLACK_CLIENT_SECRET",  # …so these are what installations need
        "SLACK_SIGNING_SECRET",
        "TRUEDY_API_KEY",
    ]


def test_the_log_level_is_read_in_any_case(env):
    env(**GOOD, LOG_LEVEL=" debug")
    assert load_settings().log_level == "DEBUG"


def test_without_a_bot_token_or_installations_the_bot_says_which_to_set(env):
    lines = problems(env, **{**GOOD, "SLACK_BOT_TOKEN": ""})
    assert lines == [MISSING_BOT_TOKEN]


INSTALLATIONS = {
    **{name: value for name, value in GOOD.items() if name not in ("SLACK_BOT_TOKEN", "TRUEDY_API_KEY")},
    "SLACK_CLIENT_ID": "1234567890.0987654321",
    "SLACK_CLIENT_SECRET": "client-secret-value",
    "SLACK_SIGNING_SECRET": "signing-secret-value",
}


def test_installations_take_the_client_pair_and_the_signing_secret(env):
    env(**INSTALLATIONS)
    settings = load_settings()
    assert settings.installations and settings.slack_bot_token is None
    assert "client-secret-value" in settings.secrets()


@pytest.mark.parametrize(
    "values, expected",
    [
        (
            {"SLACK_BOT_TOKEN": "xoxb-1-secret-bot"},
            ["SLACK_BOT_TOKEN and SLACK_CLIENT_ID/SLACK_CLIENT_SECRET: choose one"],
        ),
        ({"SLACK_CLIENT_SECRET": ""}, ["SLACK_CLIENT_SECRET: is required with SLACK_CLIENT_ID"]),
        ({"SLACK_CLIENT_ID": ""}, ["SLACK_CLIENT_ID: is required with SLACK_CLIENT_SECRET"]),
        ({"SLACK_SIGNING_SECRET": ""}, ["SLACK_SIGNING_SECRET: is required when workspaces install the app"]),
        (
            {"TRUEDY_API_KEY": "truedy_k1", "ALERT_CHANNELS": '{"T0AAA0001": "C0AAA0001"}'},
            [
                "TRUEDY_API_KEY: not used when workspaces install the app",
                "ALERT_CHANNELS: not used when workspaces install the app",
            ],
        ),
        ({"SLACK_CLIENT_ID": "acme-secret"}, ["SLACK_CLIENT_ID: must be the app's Client ID"]),
        ({"SLACK_REDIRECT_URI": "http://bot.example.com/x"}, ["SLACK_REDIRECT_URI: must be the public https URL"]),
    ],
)
def test_settings_that_do_not_fit_together_are_named(env, values, expected):
    lines = problems(env, **{**INSTALLATIONS, **values})
    assert len(lines) == len(expected)
    for line, start in zip(lines, expected, strict=True):
        assert line.startswith(start)
        assert "secret-bot" not in line and "acme-secret" not in line


def test_truedy_keys_are_optional_since_workspaces_can_connect_in_slack(env):
    env(**{**GOOD, "TRUEDY_API_KEY": ""})
    settings = load_settings()
    assert settings.truedy_api_key is None and settings.truedy_api_keys == {}


@pytest.mark.parametrize(
    "values, expected",
    [
        ({"SLACK_BOT_TOKEN": "xoxp-user-secret"}, "SLACK_BOT_TOKEN: must be a bot token starting with xoxb-"),
        ({"SLACK_APP_TOKEN": "xoxb-secret"}, "SLACK_APP_TOKEN: must be an app-level token starting with xapp-"),
        ({"SLACK_API_URL": "slack.com"}, "SLACK_API_URL: must be an http(s) URL"),
        ({"TRUEDY_API_KEYS": '{"T0AAA0001": "truedy_secret'}, "TRUEDY_API_KEYS: must be a JSON object"),
        ({"TRUEDY_API_KEYS": '["truedy_secret"]'}, "TRUEDY_API_KEYS: must be a JSON object"),
        ({"TRUEDY_API_KEYS": '{"acme": "truedy_secret"}'}, "TRUEDY_API_KEYS: 'acme' is not a Slack team id"),
        (
            {"TRUEDY_API_KEYS": '{"T0AAA0001": 12345}'},
            "TRUEDY_API_KEYS: the key for T0AAA0001 must be a non-empty string",
        ),
        ({"TRUEDY_API_KEY": "truedy_secret more"}, "TRUEDY_API_KEY: must be a single Truedy API key"),
        ({"TRUEDY_READ_TIMEOUT": "60"}, "TRUEDY_READ_TIMEOUT: Input should be less than or equal to 20"),
        ({"RESUME_CONCURRENCY": "0"}, "RESUME_CONCURRENCY: Input should be greater than or equal to 1"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL: Input should be"),
        ({"ALERT_CHANNEL": "#ops"}, "ALERT_CHANNEL: must be a Slack channel id like C0123ABCD"),
        ({"ALERT_CHANNELS": '{"T0AAA0001": "#ops"}'}, "ALERT_CHANNELS: the channel for T0AAA0001 must be a Slack"),
        ({"ALERT_CHANNELS": "[1]"}, 'ALERT_CHANNELS: must be a JSON object like {"T0123ABCD": "C0123ABCD"}'),
        ({"PAUSED_POLL_SECONDS": "0"}, "PAUSED_POLL_SECONDS: Input should be greater than or equal to 1"),
        ({"BOT_ENCRYPTION_KEY": "secret-but-not-fernet"}, "BOT_ENCRYPTION_KEY: must be a Fernet key"),
        ({"DATABASE_URL": "mysql://secret@db/x"}, "DATABASE_URL: must be sqlite:///<file> or postgres://"),
        (
            {"TRUEDY_DASHBOARD_URL": "https://app.truedy.ai/secret"},
            "TRUEDY_DASHBOARD_URL: must be an http(s) URL containing {id}",
        ),
    ],
)
def test_malformed_settings_are_named_without_echoing_secrets(env, values, expected):
    lines = problems(env, **{**GOOD, **values})
    assert len(lines) == 1
    assert lines[0].startswith(expected)
    assert "secret" not in lines[0]


def test_secrets_lists_every_token_and_key(env):
    env(
        **GOOD,
        TRUEDY_API_KEYS='{"T0AAA0001": "truedy_other_secret"}',
        DATABASE_URL="postgres://bot:db-password@db.example/bot",
    )
    assert sorted(load_settings().secrets()) == sorted(
        [
            "xoxb-1-secret-bot",
            "xapp-1-secret-app",
            "truedy_secretsecret1",
            "truedy_other_secret",
            FERNET_KEY,
            "db-password",
        ]
    )


def test_heroku_postgres_urls_are_accepted(env):
    env(**GOOD, DATABASE_URL="postgres://u:p@host:5432/db")
    assert load_settings().database_url == "postgres://u:p@host:5432/db"


def test_while_rotating_each_encryption_key_is_a_secret_and_all_must_be_fernet_keys(env):
    old, new = GOOD["BOT_ENCRYPTION_KEY"], "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="
    env(**{**GOOD, "BOT_ENCRYPTION_KEY": f"{new}, {old}"})
    assert {new, old} <= set(load_settings().secrets())
    assert problems(env, **{**GOOD, "BOT_ENCRYPTION_KEY": f"{new},not-a-key"})[0].startswith(
        "BOT_ENCRYPTION_KEY: must be a Fernet key"
    )


def test_only_the_worker_needs_the_app_level_token(env):
    env(**{name: value for name, value in GOOD.items() if name != "SLACK_APP_TOKEN"})
    assert load_settings(worker=False).slack_app_token is None  # the web process and the alert command
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert [line.split(":")[0] for line in refused.value.problems] == ["SLACK_APP_TOKEN"]


def test_a_process_never_opens_more_postgresql_connections_than_the_pool_size():
    engine = storage.connect("postgres://u:pw@db.example.com:5432/d", pool_size=4)  # nothing connects yet
    assert (engine.pool.size(), engine.pool._max_overflow) == (4, 0)


def test_one_public_address_gives_the_redirect_url_and_the_other_way_round(env):
    env(**INSTALLATIONS, PUBLIC_URL="https://bot.example.com/")
    settings = load_settings()
    assert (settings.public_url, settings.redirect_uri) == (
        "https://bot.example.com",
        "https://bot.example.com/slack/oauth_redirect",
    )
    env(PUBLIC_URL="", SLACK_REDIRECT_URI="https://bot.example.org/slack/oauth_redirect")
    assert load_settings().public_url == "https://bot.example.org"
    assert problems(env, PUBLIC_URL="https://bot.example.com/somewhere") == [
        "PUBLIC_URL: must be the bot's public https address, without a path, e.g. https://bot.example.com"
    ]


def test_the_operator_settings_are_optional_and_checked(env):
    env(**GOOD)
    unset = load_settings()
    assert (unset.operator_name, unset.privacy_url, unset.support_url) == (None, None, None)
    env(OPERATOR_NAME="  ", PRIVACY_URL=" ", SUPPORT_URL="")
    blank = load_settings()
    assert (blank.operator_name, blank.privacy_url, blank.support_url) == (None, None, None)
    env(OPERATOR_NAME=" Acme Ltd ", PRIVACY_URL="https://acme.example/privacy", SUPPORT_URL="https://acme.example/")
    settings = load_settings()
    assert settings.operator_name == "Acme Ltd"
    assert (settings.privacy_url, settings.support_url) == ("https://acme.example/privacy", "https://acme.example/")
    lines = problems(env, OPERATOR_NAME="Acme\nLtd", PRIVACY_URL="http://acme.example/privacy", SUPPORT_URL="acme")
    assert lines == [
        "OPERATOR_NAME: must be one line: the name of whoever runs this bot, e.g. Example Ltd",
        "PRIVACY_URL: must be an https URL of a page, e.g. https://example.com/privacy",
        "SUPPORT_URL: must be an https URL of a page, e.g. https://example.com/privacy",
    ]
    assert problems(env, OPERATOR_NAME="A" * 101, PRIVACY_URL="https://a.example", SUPPORT_URL="https://a.example") == [
        "OPERATOR_NAME: String should have at most 100 characters"
    ]


PLACEHOLDER_SETTINGS = [
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "SLACK_CLIENT_ID",
    "PUBLIC_URL",
    "TRUEDY_API_KEY",
    "TRUEDY_API_KEYS",
]


def test_a_dotenv_copied_from_the_example_is_refused_one_line_per_placeholder(env, tmp_path):
    """Every line of .env.example, the commented settings uncommented too, as someone filling it in might."""
    example = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    uncommented = [re.sub(r"^# (?=[A-Z_]+=)", "", line) for line in example.splitlines()]
    (tmp_path / ".env").write_text("\n".join(uncommented) + "\n")  # env() made tmp_path the working directory
    lines = problems(env)
    placeholders = [line for line in lines if "placeholder" in line]
    assert sorted(line.split(":")[0] for line in placeholders) == sorted(PLACEHOLDER_SETTINGS)  # one line each
    assert all("(from .env.example or the docs): " in line for line in placeholders)
    assert placeholders[0] == (  # settings in the order they are declared
        "SLACK_BOT_TOKEN: still holds the placeholder xoxb-... (from .env.example or the docs): paste the Bot User "
        "OAuth Token (Slack app > OAuth & Permissions)"
    )
    assert not [line for line in lines if line.startswith(("DATABASE_URL", "DATABASE_POOL_SIZE"))]


@pytest.mark.parametrize(
    "name, value",
    [
        ("SLACK_BOT_TOKEN", "xoxb-…"),
        ("SLACK_APP_TOKEN", "xapp-…"),
        ("TRUEDY_API_KEY", "truedy_…"),
        ("TRUEDY_API_KEYS", '{"T0123ABCD": "truedy_…"}'),
        ("TRUEDY_API_KEYS", '{"T0123ABCD": "truedy_a-real-looking-key"}'),
        ("ALERT_CHANNEL", "C0123ABCD"),
        ("ALERT_CHANNELS", '{"T0AAA0001": "C0123ABCD"}'),
        ("PUBLIC_URL", "https://HOST"),
        ("PUBLIC_URL", "https://<app>.herokuapp.com/"),
        ("SLACK_REDIRECT_URI", "https://your-host/slack/oauth_redirect"),
    ],
)
def test_the_docs_placeholders_are_refused_too(env, name, value):
    (line,) = problems(env, **{**GOOD, name: value})
    assert line.startswith(f"{name}: still holds the placeholder ")


def test_a_real_value_that_merely_looks_like_an_example_is_not_a_placeholder(env):
    env(
        **{**GOOD, "SLACK_BOT_TOKEN": "xoxb-1234-5678-abc"},
        PUBLIC_URL="https://bot.example.com/",
        ALERT_CHANNEL="C0AAA0001",
    )
    assert load_settings().public_url == "https://bot.example.com"
