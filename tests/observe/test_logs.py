"""The log store on a real directory: retention per group, the size cap, names a tenant chose, bounded pages."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from lambdabox.observe.logs import MAX_EVENT_BYTES, RETENTION_DAYS, LogStore, file_name

NAMESPACE = "000000000000:us-east-1"


def _age(path: Path, days: float) -> None:
    moment = time.time() - days * 86400
    os.utime(path, (moment, moment))


def _files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


def test_retention_is_stored_per_group_and_checked(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    assert store.get_retention(NAMESPACE, "/aws/lambda/a") is None
    store.set_retention(NAMESPACE, "/aws/lambda/a", 7)
    assert store.get_retention(NAMESPACE, "/aws/lambda/a") == 7
    for wrong in (0, 2, 4000, -1, True, 7.0, "7"):
        with pytest.raises(ValueError, match="retentionInDays must be one of 1, 3, 5"):
            store.set_retention(NAMESPACE, "/aws/lambda/a", wrong)
    assert store.get_retention(NAMESPACE, "/aws/lambda/a") == 7
    store.set_retention(NAMESPACE, "/aws/lambda/a", None)
    assert store.get_retention(NAMESPACE, "/aws/lambda/a") is None
    assert RETENTION_DAYS[0] == 1 and RETENTION_DAYS[-1] == 3653 and len(RETENTION_DAYS) == 22


def test_opening_a_stream_keeps_a_retention_already_set(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    store.set_retention(NAMESPACE, "/aws/lambda/a", 3)
    store.open_stream(NAMESPACE, "/aws/lambda/a", "s").close()
    assert store.get_retention(NAMESPACE, "/aws/lambda/a") == 3


def test_expire_uses_each_groups_retention_and_the_default(tmp_path: Path) -> None:
    store = LogStore(tmp_path, default_retention_days=30)
    streams = {}
    for group, stream in [("/aws/lambda/week", "old"), ("/aws/lambda/week", "new"), ("/aws/lambda/default", "old")]:
        opened = store.open_stream(NAMESPACE, group, stream)
        opened.write("hello")
        opened.close()
        streams[group, stream] = opened._path
    store.set_retention(NAMESPACE, "/aws/lambda/week", 7)
    _age(streams["/aws/lambda/week", "old"], 8)
    _age(streams["/aws/lambda/default", "old"], 8)  # within the default's 30 days
    assert store.expire() == 1
    assert not streams["/aws/lambda/week", "old"].exists()
    assert streams["/aws/lambda/week", "new"].exists() and streams["/aws/lambda/default", "old"].exists()
    _age(streams["/aws/lambda/default", "old"], 31)
    assert store.expire() == 1 and not streams["/aws/lambda/default", "old"].exists()


def test_without_retention_nothing_expires(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    stream = store.open_stream(NAMESPACE, "/aws/lambda/a", "s")
    stream.write("kept")
    stream.close()
    _age(stream._path, 5000)
    assert store.expire() == 0 and stream._path.exists()


def test_trim_deletes_the_least_recently_written_first(tmp_path: Path) -> None:
    store = LogStore(tmp_path, max_bytes=100_000)
    paths = []
    for index in range(5):
        stream = store.open_stream(NAMESPACE, f"/aws/lambda/f{index}", "s")
        stream.write("x" * 30_000)
        stream.close()
        _age(stream._path, 5 - index)  # f0 is the oldest
        paths.append(stream._path)
    assert store.trim() == 3  # 150 KB down to at most 90 KB
    assert [path.exists() for path in paths] == [False, False, False, True, True]


def test_a_stream_deleted_while_open_starts_afresh(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    stream = store.open_stream(NAMESPACE, "/aws/lambda/a", "s")
    stream.write("before")
    stream._path.unlink()
    stream.write("after")
    stream.close()
    assert [event.message for event in store.events(NAMESPACE, "/aws/lambda/a")] == ["after"]
    assert [event.stream for event in store.events(NAMESPACE, "/aws/lambda/a")] == ["s"]


@pytest.mark.parametrize(
    "group, stream",
    [
        ("/aws/lambda/" + "g" * 500, "2024/01/01/[$LATEST]" + "s" * 490),  # 512 characters each
        ("..", "."),
        ("", ""),
        ("../../etc", "../../../passwd"),
        (".hidden", "#not-a-hash"),
        ("\u00e9" * 512, "\udcff"),  # multi-byte, and a lone surrogate
    ],
)
def test_any_name_stays_inside_the_root_and_reads_back(tmp_path: Path, group: str, stream: str) -> None:
    root = tmp_path / "logs"
    store = LogStore(root)
    opened = store.open_stream(NAMESPACE, group, stream)
    opened.write("message")
    opened.close()
    store.set_retention(NAMESPACE, group, 14)
    assert store.get_retention(NAMESPACE, group) == 14
    events = store.events(NAMESPACE, group)
    assert [(event.message, event.stream) for event in events] == [("message", stream)]
    for path in _files(tmp_path):
        assert path.resolve().is_relative_to(root.resolve())
        assert len(path.name.encode()) <= 255 and not path.name.startswith(".")
    assert not (tmp_path / "etc").exists()


def test_file_names_never_collide_between_quoted_and_hashed(tmp_path: Path) -> None:
    long = "n" * 300
    assert file_name(long).startswith("#") and len(file_name(long)) == 65
    assert file_name("#" + "0" * 64) != file_name(long)
    assert file_name(".") == "%2E" and file_name("..") == "%2E." and file_name("a/b") == "a%2Fb"


def test_a_page_is_bounded_and_oldest_first(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    first = store.open_stream(NAMESPACE, "/aws/lambda/a", "one")
    second = store.open_stream(NAMESPACE, "/aws/lambda/a", "two")
    for moment in range(1000, 1100):
        (first if moment % 2 else second).write(f"event {moment}", timestamp=moment)
    page = store.page(NAMESPACE, "/aws/lambda/a", since=1010, limit=20)
    assert [event.timestamp for event in page.events] == list(range(1010, 1030)) and page.truncated
    big = store.page(NAMESPACE, "/aws/lambda/a", since=0, limit=1000, max_bytes=100)
    assert sum(len(event.message) for event in big.events) <= 100 and big.truncated
    assert big.events[0].timestamp == 1000
    whole = store.page(NAMESPACE, "/aws/lambda/a")
    assert len(whole.events) == 100 and not whole.truncated
    huge = store.open_stream(NAMESPACE, "/aws/lambda/b", "s")
    huge.write("h" * MAX_EVENT_BYTES, timestamp=5)
    assert len(store.page(NAMESPACE, "/aws/lambda/b", max_bytes=10).events) == 1  # at least one event


def test_pages_get_past_more_events_of_one_millisecond_than_a_page_holds(tmp_path: Path) -> None:
    """One read of a flood can stamp thousands of lines with one millisecond: `skip` pages through them all."""
    store = LogStore(tmp_path)
    streams = [store.open_stream(NAMESPACE, "/aws/lambda/m", name) for name in ("b", "a")]
    for number, stream in enumerate(streams):
        stream.write_many([f"{number}-{i}" for i in range(25)], timestamp=7)
    streams[0].write("later", timestamp=8)
    seen, since, skip = [], 0, 0
    while True:
        page = store.page(NAMESPACE, "/aws/lambda/m", since=since, limit=10, skip=skip)
        seen += [event.message for event in page.events]
        if not page.truncated:
            break
        last = page.events[-1].timestamp
        at_last = sum(1 for event in page.events if event.timestamp == last)
        skip, since = (skip + at_last if last == since else at_last), last
    # Every event once, those of one millisecond in a fixed order (stream "a" before "b"), then the later one.
    assert seen == [f"1-{i}" for i in range(25)] + [f"0-{i}" for i in range(25)] + ["later"]


def test_a_page_from_a_time_in_a_large_stream_starts_exactly_there(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    stream = store.open_stream(NAMESPACE, "/aws/lambda/a", "s")
    for moment in range(0, 200_000, 1000):
        stream.write_many([f"event {moment + offset} " + "p" * 40 for offset in range(1000)], timestamp=moment)
    stream.close()
    for since in (1, 57_000, 199_000, 199_001):
        page = store.page(NAMESPACE, "/aws/lambda/a", since=since, limit=1500)
        expected = -(-since // 1000) * 1000  # events come in batches of 1000 per millisecond stamp
        if expected >= 200_000:
            assert page.events == [] and not page.truncated
            continue
        assert page.events[0].timestamp == expected and page.events[0].message.startswith(f"event {expected} ")
        assert len(page.events) == min(1500, 200_000 - expected)


def test_groups_are_created_once_and_deleted_with_their_events(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    assert store.create_group(NAMESPACE, "/g", {"a": "b"}) is True
    assert store.create_group(NAMESPACE, "/g", {}) is False
    assert store.group_record(NAMESPACE, "/g")["tags"] == {"a": "b"}
    stream = store.open_stream(NAMESPACE, "/g", "s")
    stream.write("before")
    assert store.delete_group(NAMESPACE, "/g") is True
    assert store.delete_group(NAMESPACE, "/g") is False
    assert store.group_record(NAMESPACE, "/g") is None and store.events(NAMESPACE, "/g") == []
    # A stream still open when its group went starts the group afresh, holding only what came after.
    stream.write("after")
    stream.close()
    assert [event.message for event in store.events(NAMESPACE, "/g")] == ["after"]
    assert store.group_record(NAMESPACE, "/g")["logGroupName"] == "/g"


def test_retention_drops_old_events_from_a_recent_stream(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    now = int(time.time() * 1000)
    day = 86_400_000
    stream = store.open_stream(NAMESPACE, "/g", "s")
    stream.write_events([(now - 9 * day, "nine"), (now - 2 * day, "two"), (now, "today")])
    stream.close()
    store.set_retention(NAMESPACE, "/g", 7)
    assert store.expire(now) == 0
    assert [event.message for event in store.events(NAMESPACE, "/g")] == ["two", "today"]
    assert store.expire(now + 6 * day) == 0
    assert [event.message for event in store.events(NAMESPACE, "/g")] == ["today"]
    assert store.expire(now + 8 * day) == 1
    assert store.events(NAMESPACE, "/g") == []


def test_set_retention_keeps_the_rest_of_the_record(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    store.create_group(NAMESPACE, "/g", {"team": "red"})
    created = store.group_record(NAMESPACE, "/g")["creationTime"]
    store.set_retention(NAMESPACE, "/g", 30)
    assert store.group_record(NAMESPACE, "/g") == {
        "logGroupName": "/g", "retentionInDays": 30, "creationTime": created, "tags": {"team": "red"}}


def test_an_unordered_stream_is_rewritten_only_when_something_in_it_is_old(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    now = int(time.time() * 1000)
    day = 86_400_000
    stream = store.open_stream(NAMESPACE, "/g", "s")
    stream.write_events([(now, "new"), (now - 2 * day, "older, later")])
    stream.close()
    store.mark_unordered(NAMESPACE, "/g", "s")
    store.set_retention(NAMESPACE, "/g", 3)
    path = store.stream_path(NAMESPACE, "/g", "s")
    inode = path.stat().st_ino
    assert store.expire(now) == 0 and path.stat().st_ino == inode  # nothing old: left alone
    assert store.expire(now + 2 * day) == 0
    assert [event.message for event in store.events(NAMESPACE, "/g")] == ["new"]
