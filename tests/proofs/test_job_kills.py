"""Jobs killed at random points and rerun end where one clean run ends.

For the tier job and the expiry sweep: twin programs get the same members; one runs clean, the
other is killed before a random DynamoDB request (any operation, any position: a read, a page
query, a member write, an outbox delete) and is then rerun to the end. Member snapshots, ledgers
and published events must match the clean twin's, each event once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.integration.conftest import Api, order
from tests.integration.jobs import Killed, events_to, new_program, published, run
from tests.proofs.conftest import proof_settings

MEMBERS = [f"k{n:02d}" for n in range(8)]
JOBS = {
    # job -> (its firing time, the earns that make members due then)
    "tier": ("2027-01-16T00:10:00+08:00", [("2100", "2026-01-15T0{h}:00:00Z"), ("1000", "2026-06-01T02:00:00Z")]),
    "expiry": ("2027-01-01T00:05:00+08:00", [("150", "2025-06-01T0{h}:00:00Z"), ("60", "2026-03-01T02:00:00Z")]),
}
OPERATIONS = ["Query", "BatchGetItem", "GetItem", "TransactWriteItems", "BatchWriteItem", "PutItem"]


def seed_due_members(api: Api, job: str) -> str:
    program = new_program(api)
    for n, member in enumerate(MEMBERS):
        for k, (amount, when) in enumerate(JOBS[job][1]):
            if k and n % 3 == 0:
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


@pytest.mark.parametrize("job", sorted(JOBS))
def test_a_job_killed_at_a_random_request_and_rerun_ends_as_a_clean_run(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, job: str
) -> None:
    from shared.models import MemberItem

    monkeypatch.setenv("JOB_PAGE_SIZE", "3")  # several pages: kills land between pages too
    client = MemberItem._get_connection().connection.client
    clean = seed_due_members(api, job)
    with events_to(tmp_path / "clean.jsonl") as clean_file:
        run(api, job, clean, JOBS[job][0])
    expected_state, expected_events = job_state(api, clean), _events(clean_file, clean)
    assert expected_events, "the scenario must publish events"
    runs, kills = [0], [0]

    @proof_settings(8)
    @given(operation=st.sampled_from(OPERATIONS), nth=st.integers(min_value=1, max_value=12))
    def killed_then_rerun(operation: str, nth: int) -> None:
        runs[0] += 1
        program = seed_due_members(api, job)
        sent = [0]

        def hook(request: Any, **_kwargs: Any) -> None:
            target = request.headers.get("X-Amz-Target", b"")
            if (target.decode() if isinstance(target, bytes) else target).endswith(f".{operation}"):
                sent[0] += 1
                if sent[0] == nth:
                    raise Killed()

        events_file = tmp_path / f"killed-{runs[0]}.jsonl"
        with events_to(events_file):
            client.meta.events.register_first("before-send.dynamodb", hook, unique_id="proof-job-kill")
            try:
                run(api, job, program, JOBS[job][0])
            except Killed:
                kills[0] += 1  # the process died there; some requests were sent, some not
            finally:
                client.meta.events.unregister("before-send.dynamodb", unique_id="proof-job-kill")
            (last,) = run(api, job, program, JOBS[job][0])
        assert last["status"] == "done"
        assert job_state(api, program) == expected_state
        events = _events(events_file, program)
        if operation == "BatchWriteItem":
            # Killed between publishing and deleting from the outbox: the documented at-least-once
            # window. The rerun publishes those events again, with the same ids.
            assert sorted(set(events)) == expected_events
        else:
            assert events == expected_events  # each event exactly once

    killed_then_rerun()
    assert kills[0] >= 3, f"only {kills[0]} of {runs[0]} runs were killed: the proof proved little"
