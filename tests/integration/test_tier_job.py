"""The tier job on DynamoDB Local, invoked as EventBridge Scheduler invokes it.

Scenario members of the default program (Silver 2000/-1000, Gold 10000/-3000, Diamond
30000/-6000, valid 12 months; orders are the qualifying activity; inactive -> Bronze):
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from shared import logic
from shared.api import EventIn
from tests.integration.conftest import Api, direct, ledger_sum, order
from tests.integration.dynamo_hooks import before_send as before_send_hook
from tests.integration.dynamo_hooks import operation_of
from tests.integration.jobs import FakeContext, Killed, before_send, events_to, new_program, published, run

EVENT: TypeAdapter[Any] = TypeAdapter(EventIn)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def earn(api: Api, program: str, member: str, key: str, amount: str, when: str) -> dict[str, Any]:
    reply = api.event(member, order(key, amount, at=when), program=program, at=at(when) + timedelta(minutes=1))
    assert reply.status == 201, reply.body
    return reply.body


def snapshot(api: Api, program: str, member: str, when: str = "2029-01-01T00:00:00Z") -> dict[str, Any]:
    reply = api.member(member, program=program, at=at(when))
    assert reply.status == 200, reply.body
    return reply.body


def tier_of(api: Api, program: str, member: str) -> tuple[str, int]:
    body = snapshot(api, program, member)
    return body["tier"]["code"], body["growth"]


def seed_scenario(api: Api, program: str) -> None:
    """Four members whose tiers come up for evaluation in 2027 (and 2028 for the inactive one)."""
    earn(api, program, "silver", "s1", "2500", "2026-01-15T02:00:00Z")  # Silver, 2500
    earn(api, program, "gold", "g1", "12000", "2026-02-10T02:00:00Z")  # Gold, 12000
    earn(api, program, "gold", "g2", "500", "2026-08-01T02:00:00Z")  # activity: 12500
    earn(api, program, "diamond", "d1", "41000", "2026-03-01T02:00:00Z")  # Diamond, 41000
    earn(api, program, "diamond", "d2", "100", "2026-09-01T02:00:00Z")  # activity: 41100
    earn(api, program, "idle", "i1", "16000", "2026-02-10T03:00:00Z")  # Gold, no order after that


def test_scripted_anniversaries_deduct_renew_and_downgrade(api: Api, tmp_path: Path) -> None:
    program = new_program(api)
    seed_scenario(api, program)
    with events_to(tmp_path / "events.jsonl") as events_file:
        # Before any anniversary nothing is due
        (report,) = run(api, "tier", program, "2027-01-15T00:10:00+08:00")
        assert (report["status"], report["changed"]) == ("done", 0)
        assert report["months"][-1] == "2027-01"

        # Silver's anniversary (2027-01-15 10:00 Shanghai): 2500 - 1000 = 1500 -> Bronze
        (report,) = run(api, "tier", program, "2027-01-16T00:10:00+08:00")
        assert (report["due_seen"], report["changed"], report["published"]) == (1, 1, 1)
        assert tier_of(api, program, "silver") == ("bronze", 1500)

        # Gold (12500 - 3000 = 9500 -> Silver) and the idle Gold (16000 - 3000 = 13000, but the
        # order that attained Gold opened its year and nothing came after: inactive -> Bronze)
        (report,) = run(api, "tier", program, "2027-02-11T00:10:00+08:00")
        assert report["changed"] == 2
        assert tier_of(api, program, "gold") == ("silver", 9500)
        assert tier_of(api, program, "idle") == ("bronze", 13000)

        # Diamond: 41100 - 6000 = 35100 -> keeps Diamond, valid to 2028-03-01
        (report,) = run(api, "tier", program, "2027-03-02T00:10:00+08:00")
        assert report["changed"] == 1
        diamond = snapshot(api, program, "diamond")
        assert (diamond["tier"]["code"], diamond["growth"]) == ("diamond", 35100)
        assert diamond["tier"]["since"] == "2026-03-01T02:00:00Z"
        assert diamond["tier"]["valid_until"] == "2028-03-01T02:00:00Z"
        assert diamond["tier"]["next_evaluation_at"] == "2028-03-01T02:00:00Z"
        assert diamond["tier"]["to_keep"] == {
            "growth_needed": 900,  # 30000 + 6000 - 35100
            "qualifying_activity_needed": True,
            "anniversary_deduction": 6000,
        }
        assert [b["code"] for b in diamond["tier"]["benefits"]] == [
            "free_shipping_coupons",
            "priority_support",
            "free_returns",
        ]

        # A year without an order: Silver drops to Bronze; Bronze is not evaluated yearly
        (report,) = run(api, "tier", program, "2028-02-11T00:10:00+08:00")
        assert tier_of(api, program, "idle") == ("bronze", 13000)
        assert tier_of(api, program, "gold") == ("bronze", 9500 - 1000)  # Silver, no order in 2027

        events = [
            (e["detail"]["member_id"], e["detail"]["old_tier"], e["detail"]["new_tier"], e["detail"]["reason"])
            for e in published(events_file, program)
        ]
        assert sorted(events) == sorted(
            [
                ("silver", "silver", "bronze", "inactive"),
                ("gold", "gold", "silver", "downgrade"),
                ("idle", "gold", "bronze", "inactive"),
                ("gold", "silver", "bronze", "inactive"),
            ]
        )
        envelope = published(events_file, program)[0]
        assert envelope["source"] == "loyalty" and envelope["detail-type"] == "tier.changed"
        assert envelope["id"] == envelope["detail"]["event_id"]

    # Every growth change is in the ledger: growth = sum of ledger growth
    for member in ("silver", "gold", "diamond", "idle"):
        body = snapshot(api, program, member)
        assert ledger_sum(api, member, program)[1] == body["growth"]
    entries = api.ledger("idle", program).body["entries"]
    assert [e["kind"] for e in entries] == ["tier_evaluation", "earn"]
    assert entries[0]["growth"] == -3000 and entries[0]["tier_after"] == "bronze"
    assert entries[0]["evaluation_id"] == "tier@2027-02-10T03:00:00Z"


def _state(api: Api, program: str, members: list[str]) -> dict[str, Any]:
    state = {}
    for member in members:
        body = snapshot(api, program, member)
        ledger = api.ledger(member, program, "?limit=100").body["entries"]
        state[member] = (
            body["tier"],
            body["growth"],
            body["points"],
            [(e["kind"], e["growth"], e["tier_after"], e.get("evaluation_id")) for e in ledger],
        )
    return state


def _events(events_file: Path, program: str) -> list[tuple[str, ...]]:
    return sorted(
        (
            e["detail"]["member_id"],
            e["detail"]["old_tier"],
            e["detail"]["new_tier"],
            str(e["detail"]["ledger_entry_id"]),
        )
        for e in published(events_file, program)
    )


MANY = [f"m{n:02d}" for n in range(12)]


def seed_many(api: Api, program: str) -> None:
    """12 Silver members due on 2027-01-15 (8 keep Silver, 4 drop to Bronze)."""
    for n, member in enumerate(MANY):
        earn(api, program, member, "a", "2100", f"2026-01-15T0{n % 4}:00:00Z")
        if n % 3:
            earn(api, program, member, "b", "1000", "2026-06-01T02:00:00Z")


JOB_TIME = "2027-01-16T00:10:00+08:00"


def test_running_the_same_day_twice_changes_nothing_the_second_time(api: Api, tmp_path: Path) -> None:
    program = new_program(api)
    seed_many(api, program)
    with events_to(tmp_path / "events.jsonl") as events_file:
        (first,) = run(api, "tier", program, JOB_TIME)
        after_first = _state(api, program, MANY)
        events_first = _events(events_file, program)
        (second,) = run(api, "tier", program, JOB_TIME)
        assert (first["changed"], first["published"]) == (12, 4)
        assert (second["changed"], second["published"], second["due_seen"]) == (0, 0, 0)
        assert _state(api, program, MANY) == after_first
        assert _events(events_file, program) == events_first


def test_a_run_killed_half_way_and_rerun_ends_as_one_clean_run(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean, killed = new_program(api), new_program(api)
    seed_many(api, clean)
    seed_many(api, killed)
    monkeypatch.setenv("JOB_PAGE_SIZE", "3")
    with events_to(tmp_path / "clean.jsonl") as clean_events:
        run(api, "tier", clean, JOB_TIME)

    with events_to(tmp_path / "killed.jsonl") as killed_events:
        # Killed at the 6th member write (5 committed) ...
        def die(n: int, _body: bytes) -> None:
            if n == 6:
                raise Killed()

        with before_send("TransactWriteItems", die), pytest.raises(Killed):
            run(api, "tier", killed, JOB_TIME)
        # ... then killed again right after committing writes, before publishing their events
        from shared import bus

        original = bus.FilePublisher.publish
        calls = [0]

        def publish_then_die(self: bus.FilePublisher, events: Any, when: datetime) -> Any:
            calls[0] += 1
            if calls[0] == 2:
                raise Killed()
            return original(self, events, when)

        monkeypatch.setattr(bus.FilePublisher, "publish", publish_then_die)
        with pytest.raises(Killed):
            run(api, "tier", killed, JOB_TIME)
        monkeypatch.setattr(bus.FilePublisher, "publish", original)
        # ... and run once more to the end
        (last,) = run(api, "tier", killed, JOB_TIME)
        assert last["status"] == "done"

    assert _state(api, killed, MANY) == _state(api, clean, MANY)
    assert _events(killed_events, killed) == _events(clean_events, clean)
    assert len(_events(killed_events, killed)) == 4  # each event once


def test_a_run_near_its_time_limit_continues_itself_to_the_same_end(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean, stepped = new_program(api), new_program(api)
    seed_many(api, clean)
    seed_many(api, stepped)
    with events_to(tmp_path / "clean.jsonl") as clean_events:
        run(api, "tier", clean, JOB_TIME)
    monkeypatch.setenv("JOB_PAGE_SIZE", "2")
    with events_to(tmp_path / "stepped.jsonl") as stepped_events:
        # Each invocation may start 20 index queries before its time is "nearly up"
        reports = run(api, "tier", stepped, JOB_TIME, context=lambda: FakeContext(pages=20))
    assert len(reports) > 3
    assert all(r["status"] == "stopped" for r in reports[:-1]) and reports[-1]["status"] == "done"
    assert [r["continuation"] for r in reports] == list(range(len(reports)))
    assert sum(r["changed"] for r in reports) == 12
    assert _state(api, stepped, MANY) == _state(api, clean, MANY)
    assert _events(stepped_events, stepped) == _events(clean_events, clean)


def test_a_concurrent_earn_during_evaluation_is_not_lost(api: Api, tmp_path: Path) -> None:
    program = new_program(api)
    seed_many(api, program)
    earn_time = at("2027-01-15T12:00:00Z")
    raced: dict[str, tuple[int, dict[str, Any]]] = {}
    member_reads: list[bytes] = []
    lock = threading.Lock()

    def earn_first(_n: int, body: bytes) -> None:
        # Just before the job sends a member's evaluation, another writer earns for that member:
        # the job's transaction then fails its version condition and must re-plan from the
        # member as that writer left it (the cancelled transaction returns it).
        text = body.decode()
        if "tier_evaluation" not in text:
            return
        member = next(m for m in MANY if f'#MEMBER#{m}"' in text)
        with lock:
            if member in raced or len(raced) >= 6:
                return
            raced[member] = (0, {})
        # dated before the anniversary: it counts toward the year being evaluated
        event = EVENT.validate_python(order(f"{member}.race", "700", at="2027-01-14T23:00:00Z"))
        with ThreadPoolExecutor(1) as other:  # another "Lambda container"
            raced[member] = other.submit(direct, logic.report_event, program, member, event, earn_time).result()

    with (
        events_to(tmp_path / "events.jsonl"),
        before_send("TransactWriteItems", earn_first),
        before_send("GetItem", lambda _n, body: member_reads.append(body) if b"PROFILE" in body else None),
    ):
        (report,) = run(api, "tier", program, JOB_TIME)
    assert len(raced) == 6 and all(status == 201 for status, _ in raced.values())
    assert report["changed"] == 12 and report["retries"] >= 6
    assert member_reads == []  # no retry read the member again
    for member in MANY:
        body = snapshot(api, program, member)
        points, growth = ledger_sum(api, member, program)
        assert (points, growth) == (body["points"]["balance"], body["growth"])
        ledger = api.ledger(member, program).body["entries"]
        assert [e["kind"] for e in ledger].count("tier_evaluation") == 1  # deducted exactly once
        expected = (2100 if MANY.index(member) % 3 == 0 else 3100) + (700 if member in raced else 0) - 1000
        assert body["growth"] == expected


def test_bad_scheduled_events_are_refused_with_the_field_named(api: Api) -> None:
    from shared.job_handler import BadScheduledEvent

    function_id = next(s["function"] for s in api.manifest["schedules"] if s["input"]["detail"]["job"] == "tier")
    handler = api.handlers[function_id]
    for event, field in [
        ({"detail": {"program_id": "default"}}, "time"),
        ({"time": "yesterday", "detail": {"program_id": "default"}}, "time"),
        ({"time": "2027-01-01T00:00:00Z", "detail": {}}, "detail.program_id"),
        ({"time": "2027-01-01T00:00:00Z", "detail": {"program_id": "a#b"}}, "detail.program_id"),
        (
            {"time": "2027-01-01T00:00:00Z", "detail": {"program_id": "default", "resume": {"month": 1}}},
            "detail.resume",
        ),
    ]:
        with pytest.raises(BadScheduledEvent, match=field.replace(".", r"\.")):
            handler(event, FakeContext())


def test_the_schedule_input_is_the_one_the_template_deploys(api: Api) -> None:
    # hourly, naming no program: each firing runs every program whose local time is then 00:xx
    (schedule,) = [s for s in api.manifest["schedules"] if s["input"]["detail"]["job"] == "tier"]
    assert schedule["expression"] == "cron(10 * * * ? *)"
    assert schedule["time_zone"] == "Etc/UTC"
    assert schedule["input"] == {
        "source": "loyalty.scheduler",
        "detail-type": "Scheduled Event",
        "time": "<aws.scheduler.scheduled-time>",
        "detail": {"job": "tier", "local_hour": 0},
    }
    assert json.dumps(schedule["input"])


def test_an_earn_after_an_anniversary_applies_it_first_whoever_comes_first(api: Api, tmp_path: Path) -> None:
    # Given a Silver member (9500 growth, active in its year) whose anniversary (2027-01-10 02:00Z)
    # the job has not run yet
    program = new_program(api)
    earn(api, program, "late", "a", "9499", "2026-01-10T02:00:00Z")
    earn(api, program, "late", "a2", "1", "2026-06-01T02:00:00Z")
    # When an order of 600 comes in after the anniversary, before the job
    body = earn(api, program, "late", "b", "600", "2027-01-10T04:00:00Z")
    # Then the anniversary is applied first (9500 - 1000 = 8500, Silver), then the order: 9100, no Gold
    assert (body["member"]["tier"]["code"], body["member"]["growth"]) == ("silver", 9100)
    assert body["anniversary_growth_deducted"] == 1000
    assert body["member"]["tier"]["valid_until"] == "2028-01-10T02:00:00Z"
    # And the job that runs afterwards finds nothing left to do for that anniversary
    with events_to(tmp_path / "events.jsonl"):
        (report,) = run(api, "tier", program, "2027-01-11T00:10:00+08:00")
    assert (report["changed"], report["due_seen"]) == (0, 0)
    entries = api.ledger("late", program).body["entries"]
    assert entries[0]["growth"] == 600 - 1000
    assert next(a["rule"] for a in entries[0]["awards"]) == "anniversary"
    assert ledger_sum(api, "late", program)[1] == 9100


def test_a_tier_change_an_earn_applied_is_published_in_the_jobs_shape(api: Api, tmp_path: Path) -> None:
    # Given two Silver members (2500 growth) attained on the same day
    program = new_program(api)
    earn(api, program, "by-earn", "a", "2500", "2026-01-15T02:00:00Z")
    earn(api, program, "by-job", "a", "2500", "2026-01-15T02:00:00Z")
    # When one earns after its anniversary before the job ran (2500 - 1000 -> Bronze, then +10)
    body = earn(api, program, "by-earn", "b", "10", "2027-01-20T02:00:00Z")
    assert (body["member"]["tier"]["code"], body["member"]["growth"]) == ("bronze", 1510)
    # And the job then evaluates the other one and drains the outbox
    with events_to(tmp_path / "events.jsonl") as events_file:
        (report,) = run(api, "tier", program, "2027-01-21T00:10:00+08:00")
        details = {e["detail"]["member_id"]: e["detail"] for e in published(events_file, program)}
    assert report["changed"] == 1
    # Then both changes go out with the same fields; the earn's growth_after is its entry's
    assert details["by-earn"].keys() == details["by-job"].keys()
    assert details["by-earn"] == {
        "event_id": f"tier.changed:{program}:by-earn:2",
        "program_id": program,
        "member_id": "by-earn",
        "old_tier": "silver",
        "new_tier": "bronze",
        "reason": "inactive",  # the attaining order opened the year; nothing came after it
        "anniversary": "2027-01-15T02:00:00Z",
        "growth_deducted": 1000,
        "growth_after": 1510,
        "valid_until": None,  # Bronze is not evaluated yearly
        "ledger_entry_id": 2,
    }
    assert details["by-job"]["growth_after"] == 1500


def test_a_backdated_upgrade_never_starts_before_the_evaluated_anniversary(api: Api, tmp_path: Path) -> None:
    # Given a Silver member whose 2027-01-10 anniversary was evaluated (9500 - 1000 = 8500)
    program = new_program(api)
    earn(api, program, "back", "a", "9500", "2026-01-10T02:00:00Z")
    earn(api, program, "back", "b", "10", "2026-06-01T02:00:00Z")
    with events_to(tmp_path / "events.jsonl"):
        run(api, "tier", program, "2027-01-11T00:10:00+08:00")
        # When an order dated before that anniversary arrives late and reaches Gold
        body = api.event(
            "back", order("c", "2000", at="2026-12-01T00:00:00Z"), program=program, at=at("2027-01-12T00:00:00Z")
        ).body
        assert body["member"]["tier"]["code"] == "gold"
        # Then Gold starts at the anniversary already evaluated, not a year in the past
        assert body["member"]["tier"]["since"] == "2027-01-10T02:00:00Z"
        assert body["member"]["tier"]["valid_until"] == "2028-01-10T02:00:00Z"
        (report,) = run(api, "tier", program, "2027-01-13T00:10:00+08:00")
    assert report["changed"] == 0  # no second deduction in the same year
    assert tier_of(api, program, "back") == ("gold", 10510)


def test_a_member_that_failed_is_retried_by_the_next_run_even_if_later_months_succeed(api: Api, tmp_path: Path) -> None:
    from shared import bus, jobs, store
    from shared.tier_job import plan_tier_evaluation

    # Given x due in 2027-01 and y due in 2027-02
    program = new_program(api)
    earn(api, program, "x", "a", "2500", "2026-01-10T02:00:00Z")
    earn(api, program, "y", "a", "2500", "2026-02-10T02:00:00Z")
    failures = ["x"]

    def flaky(program_version: Any, state: Any, now: datetime) -> Any:
        if state.member_id in failures:
            failures.remove(state.member_id)
            raise RuntimeError("a transient failure on x")
        return plan_tier_evaluation(program_version, state, now)

    publisher = bus.FilePublisher(tmp_path / "events.jsonl")
    # When a run fails on x (January) but succeeds on y (February)
    first = jobs.run_due_job("tier", program, at("2027-03-05T00:00:00Z"), flaky, publisher)
    assert (first.failed, first.changed) == (1, 1)
    # Then no month from the failed one on was marked complete, and the next run picks x up
    assert store.job_completed_through(program, "tier") == "2026-12"
    second = jobs.run_due_job("tier", program, at("2027-03-06T00:00:00Z"), flaky, publisher)
    assert (second.failed, second.changed) == (0, 1)
    assert tier_of(api, program, "x") == ("bronze", 1500)
    assert store.job_completed_through(program, "tier") == "2027-02"


def test_the_jobs_use_only_the_requests_their_roles_allow(api: Api, tmp_path: Path) -> None:
    # infra grants jobs GetItem, BatchGetItem, PutItem (transactions: puts only), Query, and
    # BatchWriteItem on outbox keys: a request outside that list would fail in AWS
    program = new_program(api)
    seed_many(api, program)
    sent: set[str] = set()
    with events_to(tmp_path / "events.jsonl"):

        def record(request: Any, **_kwargs: Any) -> None:
            sent.add(operation_of(request))
            if b"TransactItems" in (request.body or b""):
                assert b'"Update"' not in request.body and b'"Delete"' not in request.body

        with before_send_hook(record, "job-iam-record"):
            run(api, "tier", program, JOB_TIME)
            run(api, "expiry", program, "2028-01-01T00:05:00+08:00")
    assert sent <= {"GetItem", "BatchGetItem", "Query", "TransactWriteItems", "PutItem", "BatchWriteItem"}, sent
    assert {"Query", "BatchGetItem", "TransactWriteItems", "BatchWriteItem"} <= sent
