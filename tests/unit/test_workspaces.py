"""Workspace settings on a real database (SQLite, and PostgreSQL when TEST_DATABASE_URL is set)."""

from dataclasses import replace

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from cryptography.fernet import Fernet
from sqlalchemy import inspect, select

from bot import storage
from bot.storage import DatabaseError
from bot.storage.alert_records import AlertRecords
from bot.storage.audit import AuditLog
from bot.storage.inflight import Claim, InFlightResumes
from bot.storage.keybox import KeyBox
from bot.storage.workspace_settings import SetupChoices, WorkspaceId, Workspaces
from tests.fakes.first_release import create_first_release_database
from tests.fakes.worker import ENCRYPTION_KEY

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
    assert storage.migrate(engine) == storage.newest_revision()


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


def test_a_database_of_the_first_release_upgrades_in_place_with_nothing_lost(database_url):
    engine = storage.connect(database_url)
    keybox = KeyBox(ENCRYPTION_KEY)
    create_first_release_database(engine, keybox.seal("truedy_old_key_0001"), keybox.seal("truedy-campaign-bot"))

    assert storage.migrate(engine) == storage.newest_revision()
    keybox.check_against(engine)
    settings = Workspaces(engine, keybox).get(WorkspaceId("", "T0OLD0001"))
    assert settings is not None
    assert (settings.api_key, settings.alert_channel, settings.allowed_users) == (
        "truedy_old_key_0001",
        "C0OLD0001",
        ("U0OLD0001",),
    )
    (entry,) = AuditLog(engine).latest("T0OLD0001")
    assert (entry.campaign_id, entry.outcome, entry.truedy_request_id) == ("batch_old0001", "resumed", "req_old")
    (alert,) = AlertRecords(engine).open_alerts_of([WorkspaceId("", "T0OLD0001")])[WorkspaceId("", "T0OLD0001")]
    assert alert.campaign_id == "batch_old0002"
    # Claims of the old release had no owner: they are dropped (they live for seconds anyway).
    assert isinstance(InFlightResumes(engine).claim("", "T0OLD0001", "batch_old0003", "U2"), Claim)
    assert not inspect(engine).has_table("schema_version")
    assert schema_differences(engine) == []
    engine.dispose()


def test_a_fresh_database_gets_exactly_the_declared_schema(engine):
    assert schema_differences(engine) == []


def schema_differences(engine) -> list:
    """What Alembic sees between the migrated database and the tables the code declares."""
    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), storage.metadata)


def test_a_secret_no_listed_key_opens_affects_only_its_own_workspace(engine, workspaces):
    """A rotation half done: one workspace's key was sealed with a key BOT_ENCRYPTION_KEY no longer lists."""
    other = WorkspaceId("", "T0OTHER01")
    workspaces.save_setup(BOT, SetupChoices("truedy_bot_key", "C0ALERT01", (), ("S0OPS0001",), "whsec_1"), "U0ADMIN1")
    workspaces.save_setup(other, SetupChoices("truedy_other_key", "C0ALERT02", (), ()), "U0ADMIN2")
    lost = KeyBox(Fernet.generate_key().decode())
    with engine.begin() as connection:
        connection.execute(
            storage.workspaces.update()
            .where(storage.workspaces.c.team_id == "T0BOT0001")
            .values(api_key_encrypted=lost.seal("truedy_bot_key"), webhook_secret_encrypted=lost.seal("whsec_1"))
        )
    # Starting with a new key in front re-encrypts what it can, and starts anyway.
    rotating = KeyBox(f"{Fernet.generate_key().decode()},{ENCRYPTION_KEY}")
    rotating.check_against(engine)
    workspaces = Workspaces(engine, rotating)
    by_team = {settings.workspace.team_id: settings for settings in workspaces.all()}
    assert by_team["T0OTHER01"].api_key == "truedy_other_key" and not by_team["T0OTHER01"].secrets_unreadable
    broken = by_team["T0BOT0001"]
    assert (broken.api_key, broken.webhook_secret, broken.secrets_unreadable) == (None, None, True)
    assert broken.allowed_usergroups == ("S0OPS0001",)  # the rest of its settings are intact

    # Its admins are told once.
    assert workspaces.secret_problem_told(BOT) is True
    assert workspaces.secret_problem_told(BOT) is False
    assert workspaces.get(BOT).secret_problem_told

    # Setup overwrites it: the workspace works again, and a later problem would be told again.
    saved = workspaces.save_setup(BOT, SetupChoices("truedy_new_key", "C0ALERT01", (), None), "U0ADMIN1")
    assert (saved.api_key, saved.secrets_unreadable, saved.secret_problem_told) == ("truedy_new_key", False, False)
    assert saved.allowed_usergroups == ("S0OPS0001",)  # no group field submitted: kept


def test_an_environment_key_replaces_one_that_cannot_be_decrypted(engine, workspaces):
    workspaces.seed_keys({"T0BOT0001": "truedy_env_key"})
    with engine.begin() as connection:
        sealed = KeyBox(Fernet.generate_key().decode()).seal("truedy_env_key")
        connection.execute(storage.workspaces.update().values(api_key_encrypted=sealed))
    workspaces.seed_keys({"T0BOT0001": "truedy_env_key"})
    assert workspaces.get(BOT).api_key == "truedy_env_key"


def test_who_allowed_unattended_workflow_runs_is_kept_until_someone_unticks_it(engine, workspaces):
    choices = SetupChoices("truedy_bot_key", None, ("U0BOB0001",), ())
    assert workspaces.save_setup(BOT, choices, "U0ADMIN1").unattended_allowed_by is None
    allowed = workspaces.save_setup(BOT, replace(choices, allow_unattended=True), "U0ADMIN1")
    assert allowed.unattended_allowed_by == "U0ADMIN1" and allowed.unattended_allowed_at is not None
    # Saved again by another admin with it still ticked, or by a form without the field: the first allower stays.
    assert workspaces.save_setup(BOT, replace(choices, allow_unattended=True), "U0ADMIN2").unattended_allowed_by == (
        "U0ADMIN1"
    )
    assert workspaces.save_setup(BOT, choices, "U0ADMIN2").unattended_allowed_by == "U0ADMIN1"
    unticked = workspaces.save_setup(BOT, replace(choices, allow_unattended=False), "U0ADMIN2")
    assert (unticked.unattended_allowed_by, unticked.unattended_allowed_at) == (None, None)
