"""Jobs killed at random points and rerun end where one clean run ends.

For the tier job and the expiry sweep: twin programs get the same members; one runs clean, the
other is killed before a random DynamoDB request of its run (any operation, any occurrence of
it the clean run makes: a read, a page query, a member write, an outbox drain or delete, the
progress record) and is then rerun to the end. Member snapshots, ledgers and published events
must match the clean twin's, each event once (or, killed between publish and outbox delete,
again with the same id), and the job's outbox must end empty.

Two kill points are pinned, where a rerun has nothing left due and only its opening outbox
drain can publish what the killed run left behind: right before the outbox delete of the last
published page (the rerun publishes those events again, same ids), and right after the last
member write, before its page's drain (the rerun publishes them for the first time).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from tests.integration.conftest import Api, order
from tests.integration.jobs import Killed, events_to, new_program, published, run
from tests.proofs.conftest import before_send, operation_of, proof_settings

MEMBERS = [f"k{n:02d}" for n in range(8)]
JOBS = {
    # job -> (its firing time, the earns that make members due then)
    "tier": ("2027-01-16T00:10:00+08:00", [("2100", "2026-01-15T0{h}:00:00Z"), ("1000", "2026-06-01T02:00:00Z")]),
    "expiry": ("2027-01-01T00:05:00+08:00", [("150", "2025-06-01T0{h}:00:00Z"), ("60", "2026-03-01T02:00:00Z")]),
}


def seed_due_members(api: Api, job: str, second_earns: bool = True) -> str:
    """A new program whose members are due for ``job`` at its firing time. Without the second
    earns every due member's change publishes an event (the tier job: all fall from Silver)."""
    program = new_program(api)
    for n, member in enumerate(MEMBERS):
        for k, (amount, when) in enumerate(JOBS[job][1]):
            if k and (n % 3 == 0 or not second_earns):
                continue  # some members have no activity / no second lot
            at = when.format(h=n % 4)
            moment = datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(UTC) + timedelta(minutes=1)
            reply = api.event(member, order(f"{k}", amount, at=at), program=program, at=moment)
            assert reply.status == 201, reply.body
    return program


def job_state(api: Api, program: str) -> dict[str, Any]:
    state = {}
    for member in MEMBERS:
        body = api.member(member, program=program, at=datetime(2029, 1, 1, tzinfo=UTC)).body
        ledger = api.ledger(member, program, "?limit=100").body["entries"]
        state[member] = (
            body["tier"]["code"],
            body["growth"],
            body["points"]["balance"],
            [(e["kind"], e["points"], e["growth"]) for e in ledger],
        )
    return state


def _events(path: Path, program: str) -> list[tuple[Any, ...]]:
    return sorted(
        (e["detail-type"], e["detail"]["member_id"], e["detail"].get("ledger_entry_id"))
        for e in published(path, program)
    )


def _outbox(program: str, job: str) -> list[str]:
    """Ids of the events still waiting in the job's outbox, every shard."""
    from shared import store

    return [e.event_id for shard in range(store.DUE_SHARDS) for e in store.pending_events(program, job, shard, 100)]


@contextmanager
def _recorded() -> Iterator[list[str]]:
    """The operations of every DynamoDB request sent meanwhile, in order."""
    operations: list[str] = []
    lock = threading.Lock()

    def hook(request: Any, **_kwargs: Any) -> None:
        with lock:
            operations.append(operation_of(request))

    with before_send(hook, "job-kills-record"):
        yield operations


@contextmanager
def _killed_before(operation: str, nth: int) -> Iterator[list[int]]:
    """Raise :class:`Killed` (the process dies) before the ``nth`` send of ``operation``."""
    sent, lock = [0], threading.Lock()

    def hook(request: Any, **_kwargs: Any) -> None:
        if operation_of(request) == operation:
            with lock:
                sent[0] += 1
                due = sent[0] == nth
            if due:
                raise Killed()

    with before_send(hook, "job-kills-kill"):
        yield sent


def _clean_run(api: Api, job: str, events_file: Path, second_earns: bool = True) -> tuple[Any, ...]:
    """A clean twin run: (its state, its events, the operations of its requests in order)."""
    program = seed_due_members(api, job, second_earns)
    with events_to(events_file), _recorded() as operations:
        run(api, job, program, JOBS[job][0])
    events = _events(events_file, program)
    assert events, "the scenario must publish events"
    return job_state(api, program), events, operations


@pytest.mark.parametrize("job", sorted(JOBS))
def test_a_job_killed_at_a_random_request_and_rerun_ends_as_a_clean_run(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, job: str
) -> None:
    monkeypatch.setenv("JOB_PAGE_SIZE", "3")  # several pages: kills land between pages too
    expected_state, expected_events, operations = _clean_run(api, job, tmp_path / "clean.jsonl")
    counts = Counter(operations)
    runs, kills = [0], [0]
    # every occurrence of every operation a run sends is a kill point
    kill_points = st.sampled_from(sorted(counts)).flatmap(lambda op: st.tuples(st.just(op), st.integers(1, counts[op])))

    @proof_settings(6)
    @given(kill=kill_points)
    def killed_then_rerun(kill: tuple[str, int]) -> None:
        runs[0] += 1
        program = seed_due_members(api, job)
        events_file = tmp_path / f"killed-{runs[0]}.jsonl"
        with events_to(events_file):
            try:
                with _killed_before(*kill):
                    run(api, job, program, JOBS[job][0])
            except Killed:
                kills[0] += 1  # the process died there; some requests were sent, some not
            (last,) = run(api, job, program, JOBS[job][0])
        note(f"killed before {kill} of {dict(counts)}; rerun {last}")
        assert last["status"] == "done"
        assert job_state(api, program) == expected_state
        events = _events(events_file, program)
        if kill[0] == "BatchWriteItem":
            # Killed between publishing and deleting from the outbox: the documented at-least-once
            # window. The rerun publishes those events again, with the same ids.
            assert sorted(set(events)) == expected_events
        else:
            assert events == expected_events  # each event exactly once
        assert _outbox(program, job) == []  # nothing left behind to publish

    killed_then_rerun()
    assert kills[0] >= 5, f"only {kills[0]} of {runs[0]} runs were killed: the proof proved little"


@pytest.fixture(scope="module")
def clean_runs(api: Api, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, ...]]:
    """Each job's clean run where every due member's change publishes an event (pages of 3)."""
    import os

    runs, previous = {}, os.environ.get("JOB_PAGE_SIZE")
    os.environ["JOB_PAGE_SIZE"] = "3"
    try:
        for job in JOBS:
            runs[job] = _clean_run(api, job, tmp_path_factory.mktemp(job) / "clean.jsonl", second_earns=False)
    finally:
        if previous is None:
            del os.environ["JOB_PAGE_SIZE"]
        else:
            os.environ["JOB_PAGE_SIZE"] = previous
    return runs


@pytest.mark.parametrize("point", ["before the last outbox delete", "after the last member write"])
@pytest.mark.parametrize("job", sorted(JOBS))
def test_a_rerun_with_nothing_due_publishes_what_the_killed_run_left_in_the_outbox(
    api: Api,
    clean_runs: dict[str, tuple[Any, ...]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    job: str,
    point: str,
) -> None:
    monkeypatch.setenv("JOB_PAGE_SIZE", "3")
    expected_state, expected_events, operations = clean_runs[job]
    assert len(expected_events) == len(MEMBERS)  # every member's change is published
    if point == "before the last outbox delete":
        kill = ("BatchWriteItem", operations.count("BatchWriteItem"))
    else:  # the page drain's first outbox query after the last member write
        last_write = len(operations) - 1 - operations[::-1].index("TransactWriteItems")
        kill = ("Query", operations[: last_write + operations[last_write:].index("Query") + 1].count("Query"))
    program = seed_due_members(api, job, second_earns=False)
    events_file = tmp_path / "killed.jsonl"
    with events_to(events_file):
        with _killed_before(*kill), pytest.raises(Killed):
            run(api, job, program, JOBS[job][0])
        before_rerun = _events(events_file, program)
        left = _outbox(program, job)
        assert left, "the kill must leave events in the outbox"
        (rerun,) = run(api, job, program, JOBS[job][0])
    # every member was done before the kill: only the outbox had work left
    assert (rerun["status"], rerun["due_seen"], rerun["changed"]) == ("done", 0, 0), rerun
    assert rerun["published"] == len(left), rerun
    assert _outbox(program, job) == []
    assert job_state(api, program) == expected_state
    events = _events(events_file, program)
    assert sorted(set(events)) == expected_events
    if point == "before the last outbox delete":  # published before the kill and again, same ids
        assert len(events) == len(expected_events) + len(left)
        assert sorted(set(before_rerun)) == expected_events
    else:  # never published before the kill: now, once
        assert events == expected_events
        assert len(before_rerun) == len(expected_events) - len(left)
