"""Installations in the database: slack_sdk's store on this project's tables, tokens only encrypted."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from slack_bolt.error import BoltError
from slack_sdk.oauth.installation_store import Installation
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot import storage
from bot.storage.installations import InstallationStore, OAuthStateStore
from bot.storage.keybox import KeyBox
from bot.storage.resume_all_jobs import ResumeAllJobs
from bot.storage.schedules import ScheduledResumes
from bot.storage.workspace_settings import SetupChoices, WorkspaceId
from tests.fakes.worker import ENCRYPTION_KEY

NEW_KEY = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="


def installation(team_id: str, token: str, installed_at: float | None = None, **fields) -> Installation:
    return Installation(
        app_id="A0APP0001",
        team_id=team_id,
        team_name="Acme",
        bot_token=token,
        bot_id="B0BOT0002",
        bot_user_id="U0BOT0002",
        bot_scopes="commands,chat:write",
        user_id="U0INSTALL",
        installed_at=installed_at,
        **fields,
    )


def store(engine, keys: str = ENCRYPTION_KEY) -> InstallationStore:
    keybox = KeyBox(keys)
    keybox.check_against(engine)
    return InstallationStore("1234.5678", engine, keybox)


def test_bot_tokens_are_stored_only_encrypted_and_read_back(engine):
    installations = store(engine)
    token = "xoxb-plaintext-never-" + "x" * 60  # longer than 79 characters once encrypted would not fit String(200)
    installations.save(installation("T0AAA0001", token))
    with engine.connect() as connection:
        rows = [
            *connection.execute(select(storage.slack_installations)).all(),
            *connection.execute(select(storage.slack_bots)).all(),
        ]
    assert rows and "plaintext-never" not in repr(rows)
    assert installations.find_workspace_bot("", "T0AAA0001").bot_token == token
    assert installations.find_installation(enterprise_id=None, team_id="T0AAA0001").user_id == "U0INSTALL"


def test_a_grid_workspace_is_served_by_its_organisations_org_wide_install(engine):
    installations = store(engine)
    org_wide = installation(None, "xoxb-org", enterprise_id="E0GRID001", is_enterprise_install=True)
    installations.save(org_wide)
    assert installations.find_workspace_bot("E0GRID001", "T0GRID002").bot_token == "xoxb-org"
    assert installations.find_workspace_bot("E0OTHER01", "T0GRID002") is None
    assert installations.find_workspace_bot("", "T0GRID002") is None


def test_a_reinstall_wins_and_its_time_is_known(engine):
    installations = store(engine)
    installations.save(installation("T0AAA0001", "xoxb-first", installed_at=time.time() - 60))
    installations.save(installation("T0AAA0001", "xoxb-second"))
    assert installations.find_workspace_bot("", "T0AAA0001").bot_token == "xoxb-second"
    since = installations.installed_since(None, "T0AAA0001")
    assert since is not None and datetime.now(UTC) - since < timedelta(seconds=10)
    assert installations.installed_since(None, "T0NONE001") is None


def test_rotating_the_encryption_key_re_encrypts_bot_tokens(engine):
    store(engine).save(installation("T0AAA0001", "xoxb-rotated"))
    rotating = store(engine, f"{NEW_KEY},{ENCRYPTION_KEY}")
    assert rotating.find_workspace_bot("", "T0AAA0001").bot_token == "xoxb-rotated"
    assert store(engine, NEW_KEY).find_workspace_bot("", "T0AAA0001").bot_token == "xoxb-rotated"


def test_oauth_states_work_once_and_expired_ones_are_removed(engine):
    states = OAuthStateStore(600, engine)
    state = states.issue()
    assert states.consume(state) and not states.consume(state)
    expired = OAuthStateStore(-1, engine)
    stale = expired.issue()
    assert not expired.consume(stale)
    states.issue()
    with engine.connect() as connection:
        remaining = connection.execute(select(storage.slack_oauth_states.c.state)).scalars().all()
    assert stale not in remaining and len(remaining) == 1


def test_anonymous_visits_to_the_install_page_never_grow_the_states_past_their_bound(engine):
    states = OAuthStateStore(600, engine, most=10)
    issued = [states.issue() for _ in range(25)]
    with engine.connect() as connection:
        remaining = connection.execute(select(storage.slack_oauth_states.c.state)).scalars().all()
    assert sorted(remaining) == sorted(issued[-10:])  # the newest visitors can still install
    assert states.consume(issued[-1]) and not states.consume(issued[0])


def test_forgetting_a_workspace_keeps_other_workspaces(engine, workspaces):
    jobs, schedules = ResumeAllJobs(engine), ScheduledResumes(engine)
    for team in ("T0AAA0001", "T0BBB0002"):
        workspaces.save_setup(WorkspaceId("", team), SetupChoices("truedy_key_" + team, "C0AAA0001", (), ()), "U1")
        job_id = jobs.propose(WorkspaceId("", team), "U1", "C0AAA0001", [("batch_forget01", None)])
        jobs.confirm(job_id, WorkspaceId("", team), "U1", "1.1")
        schedules.add(WorkspaceId("", team), "batch_forget02", "U1", datetime.now(UTC), "C0AAA0001", "command")
    workspaces.forget(WorkspaceId("", "T0AAA0001"))
    # Its scheduled resumes go: none of them runs.
    assert [schedule.workspace.team_id for schedule in schedules.take("test", 10)] == ["T0BBB0002"]
    assert workspaces.get(WorkspaceId("", "T0AAA0001")) is None
    assert workspaces.get(WorkspaceId("", "T0BBB0002")).api_key == "truedy_key_T0BBB0002"
    # A running resume-all goes too (its worker stops at its next lease renewal), with its items.
    assert jobs.running_in(WorkspaceId("", "T0AAA0001")) is None
    assert jobs.running_in(WorkspaceId("", "T0BBB0002")) is not None
    with engine.connect() as connection:
        assert len(connection.execute(select(storage.resume_all_items)).all()) == 1


def test_a_request_reuses_a_found_installation_but_never_a_missing_one_and_an_uninstall_counts_at_once(engine):
    installations = store(engine)
    assert installations.find_bot_for_request(None, "T0AAA0001", False) is None
    installations.save(installation("T0AAA0001", "xoxb-first"))
    assert installations.find_bot_for_request(None, "T0AAA0001", False).bot_token == "xoxb-first"  # at once
    with engine.begin() as connection:  # another process's change, unseen for a few seconds
        connection.execute(storage.slack_bots.delete())
    assert installations.find_bot_for_request(None, "T0AAA0001", False).bot_token == "xoxb-first"
    installations.delete_all(enterprise_id=None, team_id="T0AAA0001")  # this process's uninstall
    assert installations.find_bot_for_request(None, "T0AAA0001", False) is None


def test_a_burst_from_one_workspace_reads_its_installation_once(engine, monkeypatch):
    installations = store(engine)
    installations.save(installation("T0AAA0001", "xoxb-first"))
    installations._forget_recent()
    reads, read = [], installations.find_bot
    release = threading.Event()

    def slow_read(**where):
        reads.append(where)
        release.wait(5)
        return read(**where)

    monkeypatch.setattr(installations, "find_bot", slow_read)
    with ThreadPoolExecutor(20) as pool:
        found = [pool.submit(installations.find_bot_for_request, None, "T0AAA0001", False) for _ in range(20)]
        wait_for(lambda: reads)
        release.set()
        assert {bot.result().bot_token for bot in found} == {"xoxb-first"}
    assert len(reads) == 1


def test_a_read_that_an_install_overtook_is_not_kept(engine, monkeypatch):
    installations = store(engine)
    installations.save(installation("T0AAA0001", "xoxb-first"))
    installations._forget_recent()
    read = installations.find_bot

    def read_then_reinstalled(**where):
        bot = read(**where)
        installations.save(installation("T0AAA0001", "xoxb-second", installed_at=time.time() + 1))
        return bot

    monkeypatch.setattr(installations, "find_bot", read_then_reinstalled)
    assert installations.find_bot_for_request(None, "T0AAA0001", False).bot_token == "xoxb-first"
    monkeypatch.setattr(installations, "find_bot", read)
    assert installations.find_bot_for_request(None, "T0AAA0001", False).bot_token == "xoxb-second"


def wait_for(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_a_database_that_fails_while_saving_an_install_gives_bolts_storage_error():
    gone = storage.connect("postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(BoltError, match="cannot save the installation"):
        InstallationStore("1234.5678", gone, KeyBox(ENCRYPTION_KEY)).save(installation("T0AAA0001", "xoxb-x"))


def stale_snapshot_then_write(engine, other, attempts: list[int]) -> None:
    """A transaction that reads, then writes after another process wrote in between (the first time)."""
    attempts.append(len(attempts) + 1)
    with engine.begin() as connection:
        connection.execute(select(storage.slack_oauth_states)).all()  # its snapshot
        if len(attempts) == 1:
            with other.begin() as meanwhile:
                meanwhile.execute(storage.slack_oauth_states.insert().values(state="s1", expire_at=datetime.now()))
        connection.execute(storage.slack_oauth_states.insert().values(state="s2", expire_at=datetime.now()))


def test_a_transaction_sqlite_fails_for_a_stale_read_is_run_again(tmp_path):
    url = f"sqlite:///{tmp_path}/bot.sqlite3"
    engine, other = storage.connect(url), storage.connect(url)
    storage.migrate(engine)
    with pytest.raises(OperationalError, match="database is locked"):
        stale_snapshot_then_write(engine, other, [])  # what SQLite does to a read-then-write transaction
    attempts: list[int] = []
    storage.retried_if_sqlite_was_busy(lambda: stale_snapshot_then_write(engine, other, attempts))
    assert attempts == [1, 2]
    with engine.connect() as connection:
        assert sorted(connection.execute(select(storage.slack_oauth_states.c.state)).scalars()) == ["s1", "s1", "s2"]
    engine.dispose()
    other.dispose()


def test_saving_an_installation_is_run_again_when_sqlite_finds_its_read_stale(tmp_path, monkeypatch):
    engine = storage.connect(f"sqlite:///{tmp_path}/bot.sqlite3")
    storage.migrate(engine)
    store = InstallationStore("client", engine, KeyBox(ENCRYPTION_KEY))
    saves = {"save": 0, "save_bot": 0}
    for method in saves:
        original = getattr(InstallationStore.__mro__[1], method)

        def failing_once(self, item, method=method, original=original):
            saves[method] += 1
            if saves[method] == 1:
                raise OperationalError("INSERT …", {}, Exception("database is locked"))
            return original(self, item)

        monkeypatch.setattr(InstallationStore.__mro__[1], method, failing_once)
    store.save(installation("T0BUSY001", "xoxb-busy-1"))
    assert saves == {"save": 2, "save_bot": 2}
    assert store.find_bot(enterprise_id=None, team_id="T0BUSY001").bot_token == "xoxb-busy-1"
    engine.dispose()


def test_an_install_is_saved_while_another_process_writes_every_moment(database_url):
    """Another process (a worker's runners) writing all the while: each install is saved. Begun as a read,
    slack_sdk's save failed at once on SQLite when a write came in between ("database is locked"), three tries
    in a row at times, and the install page said the database did not answer."""
    engine, other = storage.connect(database_url), storage.connect(database_url)  # two processes' engines
    storage.migrate(engine)
    stop = threading.Event()

    def busy() -> None:
        schedules = ScheduledResumes(other)
        while not stop.is_set():
            schedules.take("other-process", 10)  # a write transaction, as the scheduler's every second
            schedules.add(
                WorkspaceId("", "T0BUSY001"),
                f"batch_busy{time.monotonic_ns()}",
                "U1",
                datetime.now(UTC),
                "C1",
                "command",
            )

    writer = threading.Thread(target=busy, daemon=True)
    writer.start()
    try:
        installations = store(engine)
        for n in range(40):
            installations.save(installation(f"T0SAVE{n:03d}", f"xoxb-save-{n}"))
    finally:
        stop.set()
        writer.join(10)
        engine.dispose()
        other.dispose()
