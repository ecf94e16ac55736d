"""Truedy keys are stored only encrypted, with the Fernet key from BOT_ENCRYPTION_KEY."""

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Engine, select

from bot.storage import DatabaseError, meta

_CHECK_NAME = "encryption_check"
_CHECK_TEXT = "truedy-campaign-bot"


class KeyBox:
    def __init__(self, encryption_key: str):
        self._fernet = Fernet(encryption_key)

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        return self._fernet.decrypt(sealed.encode()).decode()

    def check_against(self, engine: Engine) -> None:
        """At start: the database's secrets must have been sealed with this key (the first start records one)."""
        with engine.begin() as connection:
            sealed = connection.execute(select(meta.c.value).where(meta.c.name == _CHECK_NAME)).scalar()
            if sealed is None:
                connection.execute(meta.insert().values(name=_CHECK_NAME, value=self.seal(_CHECK_TEXT)))
                return
        try:
            self.open(sealed)
        except InvalidToken:
            raise DatabaseError(
                "BOT_ENCRYPTION_KEY: not the key this database's Truedy keys were encrypted with "
                "(set the original key, or start on an empty database)"
            ) from None


def is_fernet_key(candidate: str) -> bool:
    try:
        Fernet(candidate)
    except (ValueError, TypeError):
        return False
    return True
