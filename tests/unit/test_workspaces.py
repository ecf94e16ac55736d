"""Workspace settings on a real database (SQLite, and PostgreSQL when TEST_DATABASE_URL is set)."""

import pytest
from sqlalchemy import inspect, select, text

from bot import storage
from bot.inflight import Claim, InFlightResumes
from bot.keybox import KeyBox
from bot.storage import DatabaseError
from bot.workspaces import SetupChoices, WorkspaceId

BOT = WorkspaceId("", "T0BOT0001")


def test_environment_keys_are_seeded_and_a_rotated_variable_takes_effect(workspaces):
    workspaces.seed_keys({"T0BOT0001": "truedy_first_key"})
    workspaces.seed_keys({"T0BOT0001": "truedy_rotated_key"})
    settings = workspaces.get(BOT)
    assert settings.api_key == "truedy_rotated_key"
    assert (settings.key_last4, settings.key_source, settings.updated_by) == ("_key", "env", "environment")


def test_a_key_saved_in_slack_wins_over_the_environment(workspaces):
    workspaces.seed_keys({"T0BOT0001": "truedy_env_key"})
    workspaces.save_setup(BOT, SetupChoices("truedy_slack_key", "C0ALERT01", ("U1",), ("S1",)), "U0ADMIN01")
    workspaces.seed_keys({"T0BOT0001": "truedy_env_key"})
    settings = workspaces.get(BOT)
    assert settings.api_key == "truedy_slack_key" and settings.key_source == "slack"
    assert settings.key_checked_at is not None
    assert (settings.alert_channel, settings.allowed_users, settings.allowed_usergroups) == (
        "C0ALERT01",
        ("U1",),
        ("S1",),
    )


def test_saving_without_a_key_keeps_the_saved_key(workspaces):
    workspaces.save_setup(BOT, SetupChoices("truedy_slack_key", None, (), ()), "U0ADMIN01")
    workspaces.save_setup(BOT, SetupChoices(None, "C0NEW0001", (), ()), "U0ADMIN02")
    settings = workspaces.get(BOT)
    assert (settings.api_key, settings.alert_channel, settings.updated_by) == (
        "truedy_slack_key",
        "C0NEW0001",
        "U0ADMIN02",
    )


def test_grid_workspaces_find_keys_seeded_without_an_enterprise_id(workspaces):
    workspaces.seed_keys({"T0BOT0001": "truedy_env_key"})
    assert workspaces.get(WorkspaceId("E0GRID001", "T0BOT0001")).api_key == "truedy_env_key"
    assert workspaces.get(WorkspaceId("", "T0OTHER01")) is None


def test_keys_are_stored_only_encrypted(workspaces, engine):
    workspaces.save_setup(BOT, SetupChoices("truedy_plaintext_never", None, (), ()), "U0ADMIN01")
    with engine.connect() as connection:
        rows = connection.execute(select(storage.workspaces)).all()
    assert "truedy_plaintext_never" not in repr(rows)


def test_a_different_encryption_key_is_refused(engine, workspaces):
    with pytest.raises(DatabaseError, match="BOT_ENCRYPTION_KEY: not the key"):
        KeyBox("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=").check_against(engine)


def test_migrating_twice_changes_nothing(engine):
    assert storage.migrate(engine) == storage.LATEST_VERSION


@pytest.mark.parametrize(
    "given, used",
    [
        ("postgres://u:p@host:5432/db", "postgresql+psycopg://u:p@host:5432/db"),
        ("postgresql://u@host/db", "postgresql+psycopg://u@host/db"),
        ("postgresql+psycopg://u@host/db", "postgresql+psycopg://u@host/db"),
        ("sqlite:///bot.sqlite3", "sqlite:///bot.sqlite3"),
    ],
)
def test_database_urls(given, used):
    assert storage.sqlalchemy_url(given) == used


def test_an_unreachable_database_is_one_clear_line():
    engine = storage.connect("postgresql://nobody:secretpw@127.0.0.1:1/none")
    with pytest.raises(DatabaseError) as raised:
        storage.migrate(engine)
    assert str(raised.value).startswith("DATABASE_URL: cannot use the database (")
    assert "secretpw" not in str(raised.value)


def test_a_version_2_database_is_migrated_with_its_locks_and_deliveries(database_url, monkeypatch):
    engine = storage.connect(database_url)
    monkeypatch.setattr(storage, "LATEST_VERSION", 2)
    storage.migrate(engine)
    with engine.begin() as connection:  # resume_locks as version 2 had it, with a lock in flight
        connection.execute(text("DROP TABLE resume_locks"))
        connection.execute(
            text(
                "CREATE TABLE resume_locks (enterprise_id VARCHAR(32), team_id VARCHAR(32), campaign_id VARCHAR(64), "
                "user_id VARCHAR(32) NOT NULL, started_at TIMESTAMP NOT NULL, expires_at TIMESTAMP NOT NULL, "
                "PRIMARY KEY (enterprise_id, team_id, campaign_id))"
            )
        )
        connection.execute(
            text("INSERT INTO resume_locks VALUES ('', 'T1', 'batch_1', 'U1', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
        )
    monkeypatch.undo()
    assert storage.migrate(engine) == 3
    in_flight = InFlightResumes(engine)
    assert isinstance(in_flight.claim("", "T1", "batch_1", "U2"), Claim)
    assert "ix_webhook_deliveries_received_at" in {i["name"] for i in inspect(engine).get_indexes("webhook_deliveries")}
    assert inspect(engine).has_table("alert_channel_problems")
    engine.dispose()
