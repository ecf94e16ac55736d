import pytest

from tests.fakes.loop import LoopThread
from tests.fakes.slack import FakeSlack
from tests.fakes.truedy import FakeTruedy


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
