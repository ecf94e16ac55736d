"""Truedy keys are stored only encrypted, with the Fernet key(s) from BOT_ENCRYPTION_KEY (or 64 hex digits each).

BOT_ENCRYPTION_KEY may list several keys, comma-separated, newest first: the first encrypts, every one
decrypts, and at start everything stored is re-encrypted with the first (a rotation).
"""

import base64
import logging
import re

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Engine, select

from bot.storage import (
    SECRET_INSTALLATION_COLUMNS,
    DatabaseError,
    insert_if_absent,
    meta,
    slack_bots,
    slack_installations,
    workspaces,
)

log = logging.getLogger("bot.keybox")

_CHECK_NAME = "encryption_check"
_CHECK_TEXT = "truedy-campaign-bot"


class KeyBox:
    def __init__(self, encryption_keys: str):
        self._keys = split_keys(encryption_keys)
        self._fernet = MultiFernet([Fernet(as_fernet_key(key)) for key in self._keys])

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        return self._fernet.decrypt(sealed.encode()).decode()

    def open_or_none(self, sealed: str | None) -> str | None:
        """The secret, or None when there is none or it was sealed with a key no longer listed."""
        if sealed is None:
            return None
        try:
            return self.open(sealed)
        except InvalidToken:
            return None

    def check_against(self, engine: Engine) -> None:
        """At start: the database's secrets must have been sealed with one of these keys (the first start
        records a check value); with several keys, everything is re-encrypted with the first."""
        with engine.begin() as connection:
            insert_if_absent(connection, meta, {"name": _CHECK_NAME, "value": self.seal(_CHECK_TEXT)})
            sealed = connection.execute(select(meta.c.value).where(meta.c.name == _CHECK_NAME)).scalar_one()
            try:
                self.open(sealed)
            except InvalidToken:
                raise DatabaseError(
                    "BOT_ENCRYPTION_KEY: not the key this database's Truedy keys were encrypted with "
                    "(set the original key, or start on an empty database)"
                ) from None
            if len(self._keys) > 1:
                self._rotate(connection, sealed)

    def _rotate(self, connection, sealed_check: str) -> None:
        connection.execute(
            meta.update()
            .where(meta.c.name == _CHECK_NAME)
            .values(value=self._fernet.rotate(sealed_check.encode()).decode())
        )
        sealed_columns = [(workspaces, ("api_key_encrypted", "webhook_secret_encrypted"))]
        sealed_columns += [(table, SECRET_INSTALLATION_COLUMNS) for table in (slack_installations, slack_bots)]
        for table, names in sealed_columns:
            key_columns = list(table.primary_key.columns)
            for name in (name for name in names if name in table.c):
                column = table.c[name]
                rows = connection.execute(select(*key_columns, column).where(column.is_not(None))).all()
                for *key, sealed in rows:
                    try:
                        rotated = self._fernet.rotate(sealed.encode()).decode()
                    except InvalidToken:
                        # One workspace's secret sealed with a key no longer listed (a rotation half done):
                        # that workspace is told to set it again; every other one goes on.
                        fields = {"event": "secret_unreadable", "table": table.name, "row": [str(k) for k in key]}
                        log.warning("a secret was encrypted with none of these keys", extra={"fields": fields})
                        continue
                    where = [key_column == value for key_column, value in zip(key_columns, key, strict=True)]
                    connection.execute(table.update().where(*where).values({name: rotated}))


def split_keys(encryption_keys: str) -> list[str]:
    return [key.strip() for key in encryption_keys.split(",") if key.strip()]


def as_fernet_key(key: str) -> str:
    """A Fernet key as it is, or the one made of 32 bytes written as 64 hex digits: what Heroku's `secret`
    generator gives (app.json), so that a Heroku Button deploy needs no terminal to make a key."""
    if re.fullmatch(r"[0-9a-fA-F]{64}", key):
        return base64.urlsafe_b64encode(bytes.fromhex(key)).decode()
    return key


def is_fernet_key(candidate: str) -> bool:
    try:
        Fernet(as_fernet_key(candidate))
    except (ValueError, TypeError):
        return False
    return True
