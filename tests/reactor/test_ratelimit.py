"""Tests for reactor.ratelimit: one line per kind per interval, and the count of the rest."""

import reactor as loom
from reactor import log
from reactor.ratelimit import RateLimitedLog, peerLog
from reactor.task import Clock


def limited(interval=1.0, clock=None):
    lines = []
    return RateLimitedLog(interval, clock=clock or Clock(), emit=lines.append), lines


def test_theFirstLineOfAWindowIsLoggedTheRestCountedAndSummarised():
    limiter, lines = limited(2.0)
    assert limiter.msg("bad frame", "Dropping %s: %s", "A", "bad frame") is True
    for peer in "BCD":
        assert limiter.msg("bad frame", "Dropping %s: %s", peer, "bad frame") is False
    assert lines == ["Dropping A: bad frame"] and limiter.suppressed("bad frame") == 3
    limiter.clock.advance(1.999)
    assert len(lines) == 1
    limiter.clock.advance(0.001)
    assert lines[1:] == ["bad frame: 3 more like this not logged (at most one line per 2 s)"]
    assert limiter.suppressed("bad frame") == 0


def test_aNewWindowLogsAgainAndQuietWindowsCostNoTimer():
    limiter, lines = limited()
    limiter.msg("slow", "one")
    limiter.clock.advance(1)
    assert limiter.msg("slow", "two") is True
    assert lines == ["one", "two"]
    assert limiter.clock.getDelayedCalls() == []  # nothing was held back: no summary due


def test_kindsAreLimitedSeparately():
    limiter, lines = limited()
    for _ in range(3):
        limiter.msg("a", "line a")
        limiter.msg("b", "line b")
    assert lines == ["line a", "line b"]
    limiter.clock.advance(1)
    assert sorted(lines[2:]) == [
        "a: 2 more like this not logged (at most one line per 1 s)",
        "b: 2 more like this not logged (at most one line per 1 s)",
    ]


def test_withoutAClockOrReactorTheCountComesWithTheNextLine(monkeypatch):
    monkeypatch.setattr(loom, "_installed", None)
    now = [100.0]
    monkeypatch.setattr("reactor.ratelimit.time.monotonic", lambda: now[0])
    lines = []
    limiter = RateLimitedLog(1.0, emit=lines.append)
    limiter.msg("k", "first")
    limiter.msg("k", "second")
    assert lines == ["first"] and limiter.suppressed("k") == 1
    now[0] += 5
    limiter.msg("k", "third")
    assert lines == [
        "first",
        "k: 1 more like this not logged (at most one line per 1 s)",
        "third",
    ]
    assert loom._installed is None  # it never installs a reactor


def test_peerLogWritesThroughReactorLog():
    events = []
    log.addObserver(events.append)
    try:
        peerLog.msg("test_ratelimit kind", "hello %s", "there")
    finally:
        log.removeObserver(events.append)
    assert [log.textFromEventDict(event) for event in events] == ["hello there"]
    assert not events[0]["isError"]
