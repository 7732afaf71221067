import pytest
from reactor.selectreactor import SelectReactor
from reactor.pollreactor import PollReactor
from reactor.epollreactor import EPollReactor

@pytest.fixture(params=[SelectReactor, PollReactor, EPollReactor], ids=["select","poll","epoll"])
def reactor(request):
    r = request.param()
    yield r
    r.close()
