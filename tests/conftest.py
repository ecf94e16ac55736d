import pytest

from bot import storage
from bot.storage.keybox import KeyBox
from bot.storage.workspace_settings import Workspaces
from tests.fakes.databases import KINDS, fresh_database
from tests.fakes.loop import LoopThread
from tests.fakes.slack import FakeSlack
from tests.fakes.truedy import FakeTruedy
from tests.fakes.worker import ENCRYPTION_KEY


@pytest.fixture(scope="session")
def loop():
    thread = LoopThread()
    yield thread
    thread.stop()


@pytest.fixture
def slack(loop):
    fake = FakeSlack(loop).start()
    yield fake
    fake.stop()


@pytest.fixture
def truedy(loop):
    fake = FakeTruedy(loop).start()
    yield fake
    fake.stop()


@pytest.fixture(params=KINDS)
def database_url(request, tmp_path):
    """An empty database: SQLite, and PostgreSQL too when TEST_DATABASE_URL is set."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def engine(database_url):
    engine = storage.connect(database_url)
    storage.migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def workspaces(engine):
    keybox = KeyBox(ENCRYPTION_KEY)
    keybox.check_against(engine)
    return Workspaces(engine, keybox)
