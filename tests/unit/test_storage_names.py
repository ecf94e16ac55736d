"""A table of bot.storage never shares its name with a module of bot.storage: importing the module replaces the
package's attribute, and `from bot.storage import <table>` then hands out the module or the table depending on
what was imported first (resume_all_jobs was both)."""

import pkgutil
import re
from pathlib import Path

from sqlalchemy import Table

import bot.storage


def test_no_table_is_named_as_a_module_of_storage():
    modules = {info.name for info in pkgutil.iter_modules(bot.storage.__path__)}
    source = (Path(bot.storage.__file__)).read_text()
    tables = set(re.findall(r"^(\w+) = Table\(", source, re.MULTILINE))
    assert tables and tables & modules == set()
    for name in modules:
        __import__(f"bot.storage.{name}")
    assert all(isinstance(getattr(bot.storage, name), Table) for name in tables)
