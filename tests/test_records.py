"""The one record helper behind every store: content keys, sealed records, and two writers of one key."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time

import pytest

from qaplib.records import SealedRecords, check_key, content_key


def test_content_keys_are_the_stores_existing_keys():
    """Key-sorted JSON with the default separators, as every run key, firmware key and search key was made: a
    change here would orphan every committed record."""
    payload = {"spec": {"b": [1, 2]}, "a": 0.5}
    assert content_key(payload) == hashlib.sha256(b'{"a": 0.5, "spec": {"b": [1, 2]}}').hexdigest()[:24]
    assert len(content_key(payload, length=None)) == 64
    assert content_key({**payload, "a": 0.25}) != content_key(payload)


@pytest.mark.parametrize("key", ["", "../outside", "a/b", ".hidden", "with space", None, 3])
def test_a_key_that_is_not_a_plain_file_name_is_refused(key):
    with pytest.raises(ValueError, match="plain file name"):
        check_key(key)


@pytest.mark.parametrize("damage", ["missing", "truncated", "edited", "other key", "not json", "link", "fifo", "list"])
def test_only_whole_unedited_records_of_their_own_key_are_served(tmp_path, damage):
    records = SealedRecords(tmp_path)
    written = records.write("k1", {"lut": 10, "note": "x"})
    assert written == {"lut": 10, "note": "x", "key": "k1"} == records.read("k1")
    path, text = records.path("k1"), records.path("k1").read_text()
    if damage == "missing":
        path.unlink()
    elif damage == "truncated":
        path.write_text(text[: len(text) // 2])
    elif damage == "edited":
        path.write_text(text.replace('"lut": 10', '"lut": 1'))
    elif damage == "other key":
        records.write("k2", {"lut": 10, "note": "x"})
        os.replace(records.path("k2"), path)
    elif damage == "not json":
        path.write_bytes(b"\x00\xff")
    elif damage == "link":
        (tmp_path / "elsewhere.json").write_text(text)
        path.unlink()
        path.symlink_to(tmp_path / "elsewhere.json")
    elif damage == "fifo":
        path.unlink()
        os.mkfifo(path)
    else:
        path.write_text("[1, 2]")
    assert records.read("k1") is None
    assert records.exists("k1") == (damage != "missing")


def _make_slowly(directory: str, log: str, writer: int, barrier) -> None:
    barrier.wait()

    def make():
        with open(log, "a") as handle:
            handle.write(f"{writer}\n")
        time.sleep(0.5)
        return {"writer": writer}

    record = SealedRecords(directory).read_or_make("shared", make)
    with open(log, "a") as handle:
        handle.write(f"got {record['writer']}\n")


def _write_many(directory: str, writer: int, barrier) -> None:
    barrier.wait()
    records = SealedRecords(directory)
    for n in range(40):
        records.write("shared", {"writer": writer, "n": n, "payload": [writer] * 20_000})


def test_two_processes_asking_for_one_record_make_it_once_and_both_get_it(tmp_path):
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(2)
    log = tmp_path / "log"
    workers = [context.Process(target=_make_slowly, args=(str(tmp_path), str(log), k, barrier)) for k in (0, 1)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert [worker.exitcode for worker in workers] == [0, 0]
    lines = log.read_text().splitlines()
    made = [line for line in lines if line.isdigit()]
    assert len(made) == 1, lines  # the second waited for the first one's record instead of computing its own
    assert sorted(line for line in lines if line.startswith("got")) == [f"got {made[0]}"] * 2, lines


def test_two_writers_of_one_key_leave_one_whole_record_and_a_reader_never_sees_a_part(tmp_path):
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(3)
    workers = [context.Process(target=_write_many, args=(str(tmp_path), k, barrier)) for k in (0, 1)]
    for worker in workers:
        worker.start()
    barrier.wait()
    records, seen = SealedRecords(tmp_path), set()
    while any(worker.is_alive() for worker in workers):
        record = records.read("shared")
        if record is not None:
            assert record["payload"] == [record["writer"]] * 20_000
            seen.add(record["writer"])
    for worker in workers:
        worker.join(30)
    assert [worker.exitcode for worker in workers] == [0, 0]
    final = records.read("shared")
    assert final is not None and final["n"] == 39 and final["writer"] in (0, 1)
    assert seen <= {0, 1}
    assert not list(tmp_path.glob(".shared.json.tmp-*"))  # no temporary left behind
    assert json.loads(records.path("shared").read_text())["key"] == "shared"
