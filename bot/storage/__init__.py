"""The database: one schema on SQLite (default) or PostgreSQL, migrated by the bot itself at start."""

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    create_engine,
    event,
    false,
    func,
    inspect,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError, SQLAlchemyError

log = logging.getLogger("bot.storage")
T = TypeVar("T")

# The schema's history, one Alembic revision per change; the tables below are what it adds up to.
MIGRATIONS = Path(__file__).parent / "migrations"

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

workspaces = Table(
    "workspaces",
    metadata,
    Column("enterprise_id", String(32), primary_key=True),  # "" outside Enterprise Grid
    Column("team_id", String(32), primary_key=True),
    Column("api_key_encrypted", Text),
    Column("key_last4", String(4)),
    Column("key_source", String(8)),  # "env" or "slack": a key saved in Slack wins over the environment
    Column("key_checked_at", DateTime(timezone=True)),
    Column("alert_channel", String(32)),
    Column("allowed_users", Text, nullable=False, default="[]"),  # JSON list of user ids
    Column("allowed_usergroups", Text, nullable=False, default="[]"),  # JSON list of user group ids
    Column("updated_by", String(32)),
    Column("updated_at", DateTime(timezone=True)),
    # Truedy's webhooks for this workspace arrive on /truedy/webhook/<token>, signed with its secret.
    Column("webhook_token", String(64)),
    Column("webhook_secret_encrypted", Text),
    # When the admins were told a secret here cannot be decrypted (once; cleared when setup saves a key).
    Column("secret_problem_told_at", DateTime(timezone=True)),
    # The admin who let workflow runs with no person (scheduled triggers) resume here although resumes are
    # restricted, and when; None: such runs are refused while resumes are restricted.
    Column("unattended_allowed_by", String(32)),
    Column("unattended_allowed_at", DateTime(timezone=True)),
    # Reminders of pauses nobody handles (bot.storage.reminders): after this many minutes (None: REMIND_AFTER_MINUTES;
    # 0: none), never between quiet_from and quiet_to ("HH:MM") in time_zone (IANA), which also reads "9:00
    # tomorrow"; from the second on, they mention escalate_to (a user group "S…" or a person "U…"/"W…").
    Column("remind_after_minutes", Integer),
    Column("quiet_from", String(5)),
    Column("quiet_to", String(5)),
    Column("time_zone", String(64)),
    Column("escalate_to", String(32)),
    Index("ix_workspaces_webhook_token", "webhook_token", unique=True),
)

resume_locks = Table(
    "resume_locks",
    metadata,
    Column("enterprise_id", String(32), primary_key=True),
    Column("team_id", String(32), primary_key=True),
    Column("campaign_id", String(64), primary_key=True),
    Column("user_id", String(32), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("owner", String(32), nullable=False),  # the claim's own token: only its holder refreshes or releases it
    # Where the resume shows as under way ("announcement", "alert" or "digest", the message's channel and ts,
    # and how it was asked), so that one whose worker died is ended there (bot.runners.abandoned).
    Column("shown_as", String(12)),
    Column("shown_channel", String(32)),
    Column("shown_ts", String(32)),
    Column("via", String(16)),
    Index("ix_resume_locks_expires_at", "expires_at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("enterprise_id", String(32), nullable=False),
    Column("team_id", String(32), nullable=False),
    Column("user_id", String(32), nullable=False),
    Column("campaign_id", String(64), nullable=False),
    Column("via", String(16), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("truedy_request_id", String(100)),
    Column("latency_ms", Integer),
    Column("workflow", String(64)),  # via "workflow": the Workflow Builder run's execution id
    # A workflow run with no person Slack vouches for (a scheduled trigger), and the admin who allowed such runs
    # in a workspace that restricts resumes (None where nobody is restricted).
    Column("unattended", Boolean, nullable=False, default=False, server_default=false()),
    Column("allowed_by", String(32)),
)


campaign_alerts = Table(
    "campaign_alerts",
    metadata,
    Column("enterprise_id", String(32), primary_key=True),
    Column("team_id", String(32), primary_key=True),
    Column("campaign_id", String(64), primary_key=True),
    # "posting": a worker is posting the alert for a new pause; "open": posted, campaign paused;
    # "closed": the pause is over (a new pause starts a new alert).
    Column("state", String(8), nullable=False),
    Column("channel", String(32)),
    Column("message_ts", String(32)),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

poll_schedule = Table(
    "poll_schedule",
    metadata,
    Column("enterprise_id", String(32), primary_key=True),
    Column("team_id", String(32), primary_key=True),
    Column("next_poll_at", DateTime(timezone=True), nullable=False),
    Column("polled_at", DateTime(timezone=True)),
    Column("not_before", DateTime(timezone=True)),  # Truedy's rate limit for this key resets then
    Index("ix_poll_schedule_next_poll_at", "next_poll_at"),  # the polls due, whatever the number of workspaces
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("dedupe_key", String(255), primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Index("ix_webhook_deliveries_received_at", "received_at"),  # pruning
)

alert_channel_problems = Table(
    "alert_channel_problems",
    metadata,
    Column("enterprise_id", String(32), primary_key=True),
    Column("team_id", String(32), primary_key=True),
    Column("channel", String(32), nullable=False),  # the alert channel Slack refused; alerts resume elsewhere
    Column("error", String(64), nullable=False),
    Column("since", DateTime(timezone=True), nullable=False),
)

# A digest: one message for the many campaigns one poll found newly paused; each row follows its campaign.
alert_digests = Table(
    "alert_digests",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("enterprise_id", String(32), nullable=False),
    Column("team_id", String(32), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("message_ts", String(32)),  # None until posted
    # Raised with every row change: whoever renders the message renders again if it moved meanwhile.
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_alert_digests_message", "channel", "message_ts"),
)

alert_digest_rows = Table(
    "alert_digest_rows",
    metadata,
    Column("digest_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("campaign_id", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("name", Text),
    # "paused", "resuming", "resumed", "over" (not paused any more) or "failed" (still paused; try again).
    Column("kind", String(8), nullable=False),
    Column("line", Text),  # what the row says of its state (mrkdwn), beside the kind
)

ACTIVE_JOB = "state IN ('running', 'cancelling')"

# Resume all: a job per request, and one item per campaign it resumes; a worker holds a running job by a
# lease, so that after a restart (or on another worker) it goes on where it stopped.
resume_all_jobs_table = Table(
    "resume_all_jobs",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("enterprise_id", String(32), nullable=False),
    Column("team_id", String(32), nullable=False),
    Column("requested_by", String(32), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("message_ts", String(32)),  # the progress message, once posted
    Column("digest_id", BigInteger().with_variant(Integer, "sqlite")),  # started from this digest
    # "proposed" (counted, awaiting the click that confirms), "running", "cancelling", "ended"
    Column("state", String(12), nullable=False),
    Column("ending", String(12)),  # "finished", "cancelled" or "stopped" (Truedy refuses the key)
    Column("cancelled_by", String(32)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("owner", String(32)),  # the run holding it (one worker's turn at it, its own token)…
    Column("lease_expires_at", DateTime(timezone=True)),  # …until then (the database's clock), unless it renews
    Column("not_before", DateTime(timezone=True)),  # Truedy's rate limit for the key resets then
    Column("workflow", String(64)),  # started by a Workflow Builder step: its run's execution id
    Column("unattended", Boolean, nullable=False, default=False, server_default=false()),  # as in audit_log
    Column("allowed_by", String(32)),
    # "resume", or "pause": Pause all again, which pauses again what the resume-all job `undoes` resumed.
    Column("action", String(8), nullable=False, default="resume", server_default="resume"),
    Column("undoes", BigInteger().with_variant(Integer, "sqlite")),
    Column("summary_ts", String(32)),  # the summary in the progress message's thread, once posted
    # A finished resume-all offers Pause all again in its summary until then (the database's clock; None: not, or
    # no longer), and whoever clicked it first took it (`undo_taken_by`).
    Column("undo_until", DateTime(timezone=True)),
    Column("undo_taken_by", String(32)),
    Index("ix_resume_all_jobs_state", "state"),
    Index("ix_resume_all_jobs_undo_until", "undo_until"),  # the offers whose minutes ran out
    # One Pause all again per resume-all, enforced by the database (beside the offer's own atomic move).
    Index("ux_resume_all_jobs_undoes", "undoes", unique=True),
    # One active job per workspace, enforced by the database: two confirmations at once start one job.
    Index(
        "ux_resume_all_jobs_active",
        "enterprise_id",
        "team_id",
        unique=True,
        sqlite_where=text(ACTIVE_JOB),
        postgresql_where=text(ACTIVE_JOB),
    ),
)

resume_all_items = Table(
    "resume_all_items",
    metadata,
    Column("job_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("campaign_id", String(64), nullable=False),
    Column("name", Text),
    # None until tried; `sending` from just before its request goes out until Truedy's answer is recorded
    # (one left behind by a run that died is never sent again: it becomes `interrupted`); then `resumed`,
    # `skipped`, or the error (`not_resumable`…).
    Column("outcome", String(32)),
    Column("detail", Text),  # for the summary: why it failed, or who was resuming it
)

# Installations (OAuth): the columns of slack_sdk's SQLAlchemy stores, which read and write these tables;
# secrets are Text, since they are stored encrypted (`bot.storage.installations`) and Fernet output is longer
# than the stock String(200). Timestamps are naive UTC, as the stores write them.
SECRET_INSTALLATION_COLUMNS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")


ACTIVE_SCHEDULE = "state IN ('pending', 'taken', 'sending')"

# The states and moves are in bot.storage.schedules.
scheduled_resumes = Table(
    "scheduled_resumes",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("enterprise_id", String(32), nullable=False),
    Column("team_id", String(32), nullable=False),
    Column("campaign_id", String(64), nullable=False),
    Column("scheduled_by", String(32), nullable=False),  # whose resume it is: their restrictions apply then
    Column("due_at", DateTime(timezone=True), nullable=False),  # the time the person asked for
    Column("channel", String(32), nullable=False),  # where it was scheduled, and where it is answered
    Column("thread_ts", String(32)),  # scheduled from an alert: its thread
    Column("message_ts", String(32)),  # the "scheduled" message, once posted
    Column("via", String(16), nullable=False),  # "command", "alert", "digest"
    # "pending", "taken" (by `owner`, until `lease_expires_at`), "sending", then "ended"; or "cancelled"
    Column("state", String(12), nullable=False),
    Column("outcome", String(32)),  # how it ended (an audit outcome: "resumed", "not_resumable"…, or "unknown")
    Column("cancelled_by", String(32)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),  # last taken
    Column("ended_at", DateTime(timezone=True)),
    Column("owner", String(32)),  # the process that holds it (taken or sending)…
    Column("lease_expires_at", DateTime(timezone=True)),  # …until then (the database's clock), unless it renews
    Column("sending_at", DateTime(timezone=True)),  # recorded just before the request left for Truedy
    # When it may be taken next: its time, or later once handed back (Truedy's rate limit, a failure before Truedy
    # was asked, someone else resuming the campaign); `attempts`: how many times it was handed back, `failures`:
    # how many of those for a failure (the bot's, or no connection to Truedy), which alone count towards giving up.
    Column("try_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("failures", Integer, nullable=False, default=0, server_default="0"),
    # The schedules due, whatever the number pending: one indexed query a tick.
    Index("ix_scheduled_resumes_state_try_at", "state", "try_at"),
    # One schedule not yet ended per campaign and workspace, enforced by the database: two people scheduling
    # the same campaign at the same instant, on two processes, make one.
    Index(
        "ux_scheduled_resumes_active",
        "enterprise_id",
        "team_id",
        "campaign_id",
        unique=True,
        sqlite_where=text(ACTIVE_SCHEDULE),
        postgresql_where=text(ACTIVE_SCHEDULE),
    ),
)

# The states and moves are in bot.storage.step_runs.
workflow_step_runs = Table(
    "workflow_step_runs",
    metadata,
    Column("function_execution_id", String(64), primary_key=True),  # Slack's, unique: a redelivery finds its run
    Column("enterprise_id", String(32), nullable=False),
    Column("team_id", String(32), nullable=False),
    Column("step", String(64), nullable=False),  # the step's callback id
    Column("workflow", String(64)),  # the workflow run's execution id
    # "running", "sending" (a resume's request may have left), "waiting" (a resume all's job runs),
    # "completing" (the completion is decided, Slack not yet told), "ended"
    Column("state", String(12), nullable=False),
    Column("owner", String(32)),
    Column("lease_expires_at", DateTime(timezone=True)),
    Column("job_id", BigInteger().with_variant(Integer, "sqlite")),  # the resume-all job it started
    Column("wait_until", DateTime(timezone=True)),  # a resume all completes the step by then, finished or not
    Column("completion", Text),  # JSON: {"outputs": {...}} or {"error": "..."}
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Index("ix_workflow_step_runs_state_lease", "state", "lease_expires_at"),  # runs whose process is gone
    Index("ix_workflow_step_runs_created_at", "created_at"),  # pruning
)

# Pause again: offered under a successful resume for UNDO_MINUTES, and the one pause a click on it makes
# (bot.storage.pause_again has its states and moves).
pause_offers = Table(
    "pause_offers",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("enterprise_id", String(32), nullable=False),
    Column("team_id", String(32), nullable=False),
    Column("campaign_id", String(64), nullable=False),
    Column("campaign_name", String(255)),  # as Truedy had it, for the confirmation and the thread
    Column("resumed_by", String(32), nullable=False),
    Column("kind", String(16), nullable=False),  # the message it is on: "alert", "announcement", "schedule"
    Column("channel", String(32), nullable=False),
    Column("message_ts", String(32), nullable=False),
    Column("thread_ts", String(32), nullable=False),  # where its results go
    Column("shown", Text, nullable=False),  # the message without the offer (JSON: text and blocks)
    Column("offered_until", DateTime(timezone=True), nullable=False),  # the database's clock
    # "offered", "taken" (by `owner`, until `lease_expires_at`), "sending", then "paused", "refused", "unknown";
    # or "withdrawn" (its minutes ran out before anyone paused it)
    Column("state", String(12), nullable=False),
    Column("owner", String(32)),
    Column("lease_expires_at", DateTime(timezone=True)),
    Column("taken_by", String(32)),  # who clicked: whose pause it is
    Column("sending_at", DateTime(timezone=True)),  # recorded just before the request left for Truedy
    Column("outcome", String(32)),  # an audit outcome: "paused", "not_pausable"…, or "unknown"
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    # What the sweep looks for, whatever the number offered: expired offers, and dead processes' pauses.
    Index("ix_pause_offers_state_offered_until", "state", "offered_until"),
    Index("ix_pause_offers_state_lease", "state", "lease_expires_at"),
)


# Reminders of a pause nobody handles: one row per alert (or digest) message, in its thread (bot.storage.reminders
# has its states and moves).
pause_reminders = Table(
    "pause_reminders",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("enterprise_id", String(32), nullable=False),
    Column("team_id", String(32), nullable=False),
    Column("kind", String(8), nullable=False),  # "alert" (of campaign_id) or "digest" (of digest_id)
    Column("campaign_id", String(64)),
    Column("digest_id", BigInteger().with_variant(Integer, "sqlite")),
    Column("channel", String(32), nullable=False),
    Column("message_ts", String(32), nullable=False),  # the alert: reminders go to its thread
    Column("paused_at", DateTime(timezone=True), nullable=False),  # when it was alerted (the database's clock)
    Column("next_at", DateTime(timezone=True), nullable=False),  # when it is next looked at
    Column("sent", Integer, nullable=False, default=0, server_default="0"),  # reminders sent (or maybe sent)
    Column("last_sent_at", DateTime(timezone=True)),
    # "waiting", "taken" (by `owner`, until `lease_expires_at`), "sending", or "ended" (`ending` says why)
    Column("state", String(8), nullable=False),
    Column("ending", String(12)),
    Column("owner", String(32)),
    Column("lease_expires_at", DateTime(timezone=True)),
    Column("snoozed_until", DateTime(timezone=True)),
    Column("snoozed_for_good", Boolean, nullable=False, default=False, server_default=false()),  # until resumed
    Column("snoozed_by", String(32)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_pause_reminders_state_next_at", "state", "next_at"),  # the reminders due, however many wait
    Index("ix_pause_reminders_state_lease", "state", "lease_expires_at"),  # those of processes that died
    Index("ux_pause_reminders_message", "enterprise_id", "team_id", "channel", "message_ts", unique=True),
)

# When each channel may have its next reminder: Slack takes about one message a second per channel.
reminder_channels = Table(
    "reminder_channels",
    metadata,
    Column("enterprise_id", String(32), primary_key=True),
    Column("team_id", String(32), primary_key=True),
    Column("channel", String(32), primary_key=True),
    Column("next_post_at", DateTime(timezone=True), nullable=False),
)


def _installation_columns(user: bool) -> list[Column]:
    columns = [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("client_id", String(32), nullable=False),
        Column("app_id", String(32), nullable=False),
        Column("enterprise_id", String(32)),
        Column("enterprise_name", String(200)),
        *([Column("enterprise_url", String(200))] if user else []),
        Column("team_id", String(32)),
        Column("team_name", String(200)),
        Column("bot_token", Text),
        Column("bot_id", String(32)),
        Column("bot_user_id", String(32)),
        Column("bot_scopes", String(1000)),
        Column("bot_refresh_token", Text),
        Column("bot_token_expires_at", DateTime),
    ]
    if user:
        columns += [
            Column("user_id", String(32), nullable=False),
            Column("user_token", Text),
            Column("user_scopes", String(1000)),
            Column("user_refresh_token", Text),
            Column("user_token_expires_at", DateTime),
            Column("incoming_webhook_url", Text),
            Column("incoming_webhook_channel", String(200)),
            Column("incoming_webhook_channel_id", String(200)),
            Column("incoming_webhook_configuration_url", String(200)),
        ]
    columns += [
        Column("is_enterprise_install", Boolean, nullable=False, default=False),
        *([Column("token_type", String(32))] if user else []),
        Column("installed_at", DateTime, nullable=False),
    ]
    return columns


slack_installations = Table(
    "slack_installations",
    metadata,
    *_installation_columns(user=True),
    Index("slack_installations_idx", "client_id", "enterprise_id", "team_id", "user_id", "installed_at"),
)

slack_bots = Table(
    "slack_bots",
    metadata,
    *_installation_columns(user=False),
    Index("slack_bots_idx", "client_id", "enterprise_id", "team_id", "installed_at"),
)

slack_oauth_states = Table(
    "slack_oauth_states",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("state", String(200), nullable=False),
    Column("expire_at", DateTime, nullable=False),
    Index("ix_slack_oauth_states_state", "state"),  # each redirect finds its state
    Index("ix_slack_oauth_states_expire_at", "expire_at"),  # pruning
)


class DatabaseError(Exception):
    """The database cannot be used; the message is one line for the operator, without secrets."""


def sqlalchemy_url(database_url: str) -> str:
    """Heroku's `postgres://` and plain `postgresql://` both mean psycopg 3 here."""
    for prefix in ("postgres://", "postgresql://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url.removeprefix(prefix)
    return database_url


# A database that stops answering (a network that drops packets, a failover) must cost a request seconds,
# not minutes: the person is told the database is unavailable, and the worker carries on.
DATABASE_TIMEOUT_SECONDS = 3
POSTGRESQL_TIMEOUTS = {
    "connect_timeout": DATABASE_TIMEOUT_SECONDS,  # the whole connection set-up, TLS and auth included
    "tcp_user_timeout": DATABASE_TIMEOUT_SECONDS * 1000,  # sent data unacknowledged this long: the link is dead
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 3,
    "keepalives_count": 2,
    # A statement (or a wait for a row lock) that runs this long is stopped by the server.
    "options": "-c statement_timeout=5000 -c lock_timeout=3000",
}


# PostgreSQL connections a process keeps at most, unless DATABASE_POOL_SIZE says otherwise: a worker and 2 web
# processes fit a 20-connection plan (3 x 6, and 2 left for psql and releases).
DEFAULT_POOL_SIZE = 6


def connect(database_url: str, pool_size: int = DEFAULT_POOL_SIZE) -> Engine:
    """`pool_size`: PostgreSQL connections this process keeps at most (DATABASE_POOL_SIZE)."""
    url = sqlalchemy_url(database_url)
    if url.startswith("sqlite"):
        # One connection per process: SQLite takes one writer at a time anyway, and waiting for a pooled
        # connection wakes up at once, where SQLite's own busy wait sleeps in steps of up to 100 ms.
        engine = create_engine(
            url,
            connect_args={"timeout": 10, "check_same_thread": False},
            pool_size=1,
            max_overflow=0,
            pool_timeout=10,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        engine = create_engine(
            url,
            # Never more than pool_size: processes x pool_size must fit the server's (or the plan's) limit.
            pool_size=pool_size,
            max_overflow=0,
            pool_pre_ping=True,
            pool_timeout=DATABASE_TIMEOUT_SECONDS,
            connect_args=POSTGRESQL_TIMEOUTS,
        )
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # Transactions are begun by _sqlite_begin, not by the driver (which begins none before DDL or reads).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers and one writer work at once; several workers may share the file.
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL stays consistent and skips an fsync per commit, which writes in the ack path need.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


_WRITE_LOCK_FIRST = "sqlite_write_lock_first"


def _sqlite_begin(connection: Connection) -> None:
    # Every transaction here writes before it reads, except migrations: those take the write lock at once
    # (IMMEDIATE), so that two processes never both read the schema and then both try to change it
    # (SQLite would fail one at once, busy timeout or not). They take turns, as on PostgreSQL.
    immediate = connection.get_execution_options().get(_WRITE_LOCK_FIRST)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def database_answers(engine: Engine) -> bool:
    """Whether the database answers a query now (health checks)."""
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except SQLAlchemyError:
        return False
    return True


def writing_first(engine: Engine) -> Engine:
    """An engine whose transactions take SQLite's write lock at once (BEGIN IMMEDIATE): for a transaction that
    reads what it then writes, so that processes sharing the file take turns instead of failing."""
    return engine.execution_options(**{_WRITE_LOCK_FIRST: True})


def retried_if_sqlite_was_busy(action: Callable[[], T], tries: int = 3) -> T:
    """For slack_sdk's stores, whose transactions read, then write: on SQLite, one whose read came before
    another process's write fails at once when it writes ("database is locked", busy timeout or not: its
    snapshot is stale). Run again, it starts from a fresh snapshot."""
    for _ in range(tries - 1):
        try:
            return action()
        except OperationalError as error:
            if "database is locked" not in str(error.orig):
                raise
    return action()


def newest_revision() -> str:
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head


def migrate(engine: Engine) -> str:
    """Bring the schema to the newest Alembic revision (`migrations/versions`), one process at a time;
    refuse a schema newer than this code knows. Returns the revision."""
    scripts = ScriptDirectory(str(MIGRATIONS))
    newest = scripts.get_current_head()
    assert newest is not None
    try:
        with engine.execution_options(**{_WRITE_LOCK_FIRST: True}).begin() as connection:
            if connection.dialect.name == "postgresql":
                # Workers starting together migrate one after the other.
                connection.execute(text("SELECT pg_advisory_xact_lock(7451203)"))
            _adopt_first_releases_schema(connection, scripts)
            current = MigrationContext.configure(connection).get_current_revision()
            if current is not None and current not in {script.revision for script in scripts.walk_revisions()}:
                raise DatabaseError(
                    f"DATABASE_URL: the database has schema revision {current[:40]}, newer than this bot knows "
                    f"({newest}); deploy the newer bot"
                )
            if current != newest:
                config = Config()
                config.set_main_option("script_location", str(MIGRATIONS))
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                log.info("database migrated", extra={"fields": {"event": "migrated", "revision": newest}})
            return newest
    except SQLAlchemyError as error:
        raise DatabaseError(f"DATABASE_URL: cannot use the database ({error_reason(error)})") from None


def _adopt_first_releases_schema(connection: Connection, scripts: ScriptDirectory) -> None:
    """The first releases numbered their schema in a `schema_version` table: map it onto Alembic's
    revisions (2 is revision 0001, 3 is 0002), so that their databases upgrade in place."""
    if not inspect(connection).has_table("schema_version"):
        return
    version = connection.execute(text("SELECT version FROM schema_version")).scalar()
    revision = {2: "0001", 3: "0002"}.get(version or 0)
    if revision is None:
        raise DatabaseError(
            f"DATABASE_URL: the database has the schema of a pre-release bot (version {version}); "
            "start on an empty database"
        )
    MigrationContext.configure(connection).stamp(scripts, revision)
    connection.execute(text("DROP TABLE schema_version"))


def error_reason(error: SQLAlchemyError) -> str:
    # The first line of the driver's message; SQLAlchemy's own text would repeat the statement.
    original = getattr(error, "orig", None) or error
    return str(original).strip().splitlines()[0][:200] if str(original).strip() else type(original).__name__


class _OfAWorkspace(Protocol):
    enterprise_id: str
    team_id: str


def workspace_key(workspace: _OfAWorkspace) -> dict[str, str]:
    """The columns that name a workspace in every per-workspace table."""
    return {"enterprise_id": workspace.enterprise_id, "team_id": workspace.team_id}


def of_workspace(table: Table, workspace: _OfAWorkspace) -> ColumnElement[bool]:
    """The rows of `table` that belong to `workspace`."""
    return and_(table.c.enterprise_id == workspace.enterprise_id, table.c.team_id == workspace.team_id)


def of_workspaces(table: Table, wanted: Iterable[_OfAWorkspace]) -> ColumnElement[bool]:
    """The rows of `table` that belong to any of `wanted` (one query for many workspaces)."""
    pairs = [(workspace.enterprise_id, workspace.team_id) for workspace in wanted]
    return tuple_(table.c.enterprise_id, table.c.team_id).in_(pairs)


def insert_if_absent(connection: Connection, table: Table, values: dict) -> bool:
    """Insert unless a row with the same primary key exists; True if inserted. Unlike catching an
    IntegrityError, this leaves the transaction usable on PostgreSQL, so it can go on."""
    dialect_insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = dialect_insert(table).values(**values).on_conflict_do_nothing()
    # RETURNING, not rowcount: psycopg reports no row count for INSERT … ON CONFLICT here.
    return connection.execute(statement.returning(*table.primary_key.columns)).first() is not None


def database_now(connection: Connection) -> datetime:
    """The database's clock. Claims and leases decide between processes, which may run on hosts whose clocks
    disagree: they are all compared with this one clock, never a host's."""
    if connection.dialect.name == "postgresql":
        return connection.execute(text("SELECT statement_timestamp()")).scalar_one().astimezone(UTC)
    # SQLite has no server: its clock is the one of the host that holds the file (and every process using it).
    value = connection.execute(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar_one()
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def database_clock(connection: Connection) -> ColumnElement:
    """The database's clock inside a statement (`database_now` without a round trip of its own)."""
    if connection.dialect.name == "postgresql":
        return func.statement_timestamp()
    # SQLite compares text: written as SQLAlchemy writes a datetime (six decimals; strftime gives three), so that
    # a moment stored at this clock's millisecond is not later than the clock at that millisecond.
    return func.strftime("%Y-%m-%d %H:%M:%f000", "now")


@contextmanager
def reading(engine: Engine, connection: Connection | None) -> Iterator[Connection]:
    """`connection` when the caller has one open (several reads on one checkout), else a new one."""
    if connection is not None:
        yield connection
        return
    with engine.connect() as opened:
        yield opened


def utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
