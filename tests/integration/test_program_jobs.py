"""Every program gets its jobs in its own time zone, shipped or created with PUT (issue #16),
and the local job tools use the database they are given (issue #14).

One hourly schedule per job names no program: the job function lists the program registry
(written with each program's config) and starts the run of each program whose local time is
then in the job's hour (00:xx). These tests fire that schedule's event as the template deploys
it (``local.job.scheduled_event`` with no program), with the runs it starts run in-process.

The programs here are in zones no other test uses (Honolulu, UTC-10; Tokyo, UTC+9; the Marquesas,
UTC-9:30), at hours when the Shanghai, UTC, New York, London, Chatham and Kathmandu programs of
other tests are not in theirs; assertions look only at this file's programs all the same.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from local import dynamodb
from local.job import run_job, scheduled_event
from shared import job_handler, store
from tests.integration.conftest import NOW, Api, order
from tests.integration.jobs import FakeContext, new_program

HONOLULU = "Pacific/Honolulu"
TOKYO = "Asia/Tokyo"
MARQUESAS = "Pacific/Marquesas"
HONOLULU_MIDNIGHT = datetime(2026, 11, 22, 10, 5, tzinfo=UTC)
"""The expiry schedule's first firing in Honolulu's 00:xx after NOW: 2026-11-22 00:05 there."""
TOKYO_MIDNIGHT = datetime(2026, 11, 22, 15, 5, tzinfo=UTC)
"""2026-11-23 00:05 in Tokyo; 05:05 in Honolulu."""
EVENTS = Path(__file__).resolve().parents[2] / "events"


def rolling_90_days(zone: str) -> Callable[[dict[str, Any]], None]:
    def edit(config: dict[str, Any]) -> None:
        config["time_zone"] = zone
        config["expiry"] = {"policy": "rolling_days", "days": 90}

    return edit


def earn_100_days_ago(api: Api, program: str, member: str) -> None:
    when = (NOW - timedelta(days=100)).isoformat().replace("+00:00", "Z")
    reply = api.event(member, order("o1", "100", at=when), program=program, at=NOW)
    assert reply.status == 201, reply.body


def points(api: Api, program: str, member: str) -> dict[str, Any]:
    reply = api.member(member, program=program, at=NOW)
    assert reply.status == 200, reply.body
    return dict(reply.body["points"])


def kinds(api: Api, program: str, member: str) -> list[str]:
    return [entry["kind"] for entry in api.ledger(member, program).body["entries"]]


def fire(api: Api, job: str, at: datetime, context: Callable[[], Any] = FakeContext) -> list[dict[str, Any]]:
    """The job's hourly schedule fired at ``at``: the dispatch's report, then each run it started."""
    function_id, event = scheduled_event(api.manifest, job, None, at)
    assert "program_id" not in event["detail"]
    return run_job(api.handlers[function_id], event, context)


def runs_of(reports: list[dict[str, Any]], program: str) -> list[dict[str, Any]]:
    return [r for r in reports if not r.get("dispatch") and r["program_id"] == program]


def registered(program: str) -> str | None:
    after = None
    while True:
        page = store.list_programs(after=after)
        for entry in page.programs:
            if entry.program_id == program:
                return entry.time_zone
        if not page.more:
            return None
        after = page.programs[-1].program_id


def test_a_program_created_with_put_gets_its_expiry_sweep(api: Api) -> None:
    # Given a program created at run time (PUT), points expiring 90 days after they are earned,
    program = new_program(api, rolling_90_days(HONOLULU))
    assert registered(program) == HONOLULU  # registered with its config, in the same transaction
    # and an order earned 100 days ago: its points have expired, the sweep has not run yet
    earn_100_days_ago(api, program, "alice")
    assert (points(api, program, "alice")["balance"], points(api, program, "alice")["available"]) == (100, 0)

    # When the expiry schedule fires in the program's local 00:xx
    dispatch, *runs = fire(api, "expiry", HONOLULU_MIDNIGHT)

    # Then the dispatch started the program's sweep, which expired the points
    assert (dispatch["dispatch"], dispatch["status"], dispatch["local_hour"]) == (True, "done", 0)
    assert program in dispatch["program_ids"]
    (run,) = runs_of(runs, program)
    assert (run["status"], run["now"], run["changed"]) == ("done", "2026-11-22T10:05:00Z", 1)
    assert kinds(api, program, "alice")[0] == "expire"
    assert (points(api, program, "alice")["balance"], points(api, program, "alice")["available"]) == (0, 0)
    (entry,) = [e for e in api.ledger("alice", program).body["entries"] if e["kind"] == "expire"]
    assert entry["points"] == -100

    # And the schedule firing again in the same hour (a retry) changes nothing more
    _dispatch, *again = fire(api, "expiry", HONOLULU_MIDNIGHT)
    assert [r["changed"] for r in runs_of(again, program)] == [0]
    assert kinds(api, program, "alice").count("expire") == 1


def test_a_program_runs_only_in_its_own_local_hour(api: Api) -> None:
    # Given two programs with the same due member, one in Honolulu and one in Tokyo
    honolulu = new_program(api, rolling_90_days(HONOLULU))
    tokyo = new_program(api, rolling_90_days(TOKYO))
    for program in (honolulu, tokyo):
        earn_100_days_ago(api, program, "bob")

    # When the schedule fires at Honolulu's 00:05 (Tokyo's 19:05)
    dispatch, *runs = fire(api, "expiry", HONOLULU_MIDNIGHT)
    # Then only Honolulu's program runs; Tokyo's members keep their points for now
    assert honolulu in dispatch["program_ids"] and tokyo not in dispatch["program_ids"]
    assert runs_of(runs, tokyo) == []
    assert points(api, honolulu, "bob")["balance"] == 0
    assert points(api, tokyo, "bob")["balance"] == 100
    assert "expire" not in kinds(api, tokyo, "bob")

    # Nor in any other hour before Tokyo's midnight
    for hour in range(11, 15):
        dispatch, *_runs = fire(api, "expiry", HONOLULU_MIDNIGHT.replace(hour=hour))
        assert tokyo not in dispatch["program_ids"] and honolulu not in dispatch["program_ids"]
    assert points(api, tokyo, "bob")["balance"] == 100

    # When it fires at Tokyo's 00:05 (Honolulu's 05:05), Tokyo's program runs, Honolulu's does not
    dispatch, *runs = fire(api, "expiry", TOKYO_MIDNIGHT)
    assert tokyo in dispatch["program_ids"] and honolulu not in dispatch["program_ids"]
    (run,) = runs_of(runs, tokyo)
    assert run["changed"] == 1
    assert points(api, tokyo, "bob")["balance"] == 0


def test_a_put_program_gets_its_tier_anniversaries(api: Api) -> None:
    # Given a Silver member (2500 growth, 2026-01-15) of a program created with PUT in Honolulu
    program = new_program(api, lambda config: config.update(time_zone=HONOLULU))
    reply = api.event("carol", order("s1", "2500", at="2026-01-15T02:00:00Z"), program=program, at=NOW)
    assert reply.status == 201, reply.body
    # When the tier schedule fires at 00:10 in Honolulu after the anniversary (2027-01-15)
    dispatch, *runs = fire(api, "tier", datetime(2027, 1, 16, 10, 10, tzinfo=UTC))
    # Then the anniversary deducted 1000: Bronze
    assert program in dispatch["program_ids"]
    (run,) = runs_of(runs, program)
    assert run["changed"] == 1
    snapshot = api.member("carol", program=program, at=datetime(2027, 1, 17, tzinfo=UTC)).body
    assert (snapshot["tier"]["code"], snapshot["growth"]) == ("bronze", 1500)


def test_a_new_time_zone_moves_the_program_to_its_new_hour(api: Api) -> None:
    program = new_program(api, rolling_90_days(TOKYO))
    assert registered(program) == TOKYO
    config = api.call("GET", f"/v1/programs/{program}").body["config"]
    assert api.call("PUT", f"/v1/programs/{program}", {**config, "time_zone": HONOLULU}).status == 200
    assert registered(program) == HONOLULU
    dispatch, *_runs = fire(api, "expiry", HONOLULU_MIDNIGHT)
    assert program in dispatch["program_ids"]
    dispatch, *_runs = fire(api, "expiry", TOKYO_MIDNIGHT)
    assert program not in dispatch["program_ids"]


def test_a_zone_off_the_whole_hour_runs_once_in_its_hour_and_a_long_dispatch_continues(api: Api) -> None:
    # Given three programs in the Marquesas (UTC-9:30): its 00:xx meets the :05 firing at 00:35
    programs = sorted(new_program(api, rolling_90_days(MARQUESAS)) for _ in range(3))
    for program in programs:
        earn_100_days_ago(api, program, "dan")
    assert all(
        program not in fire(api, "expiry", HONOLULU_MIDNIGHT - timedelta(hours=1))[0]["program_ids"]
        for program in programs
    )

    # When the dispatch runs out of time after each program it looks at
    function_id, event = scheduled_event(api.manifest, "expiry", None, HONOLULU_MIDNIGHT)
    queue, reports = [event], []
    previous = job_handler.continuer
    job_handler.continuer = lambda next_event, _context: queue.append(next_event)
    try:
        while queue:
            next_event = queue.pop(0)
            # the dispatch may look at one program per invocation; program runs are not cut short
            context = FakeContext(1 if "program_id" not in next_event["detail"] else None)
            reports.append(api.handlers[function_id](next_event, context))
    finally:
        job_handler.continuer = previous

    # Then it continued itself after the last program it looked at, and started each program once
    dispatches = [r for r in reports if r.get("dispatch")]
    assert len(dispatches) > 1
    assert {d["status"] for d in dispatches[:-1]} == {"stopped"} and dispatches[-1]["status"] == "done"
    assert all(d["continuation"] == n for n, d in enumerate(dispatches))
    started = [p for d in dispatches for p in d["program_ids"]]
    assert sorted(p for p in started if p in programs) == programs
    for program in programs:
        (run,) = runs_of(reports, program)
        assert (run["now"], run["changed"]) == ("2026-11-22T10:05:00Z", 1)
        assert points(api, program, "dan")["balance"] == 0


def test_bad_dispatch_events_are_refused_with_the_field_named(api: Api) -> None:
    function_id, _event = scheduled_event(api.manifest, "expiry", None, HONOLULU_MIDNIGHT)
    for detail, field in [
        ({"job": "expiry"}, r"detail\.program_id: .* detail\.local_hour"),
        ({"job": "expiry", "local_hour": 24}, r"detail\.local_hour"),
        ({"job": "expiry", "local_hour": "0"}, r"detail\.local_hour"),
        ({"job": "expiry", "local_hour": 0, "dispatch_after": "a#b"}, r"detail\.dispatch_after"),
    ]:
        event = {"time": "2027-01-01T00:00:00Z", "detail": detail}
        with pytest.raises(job_handler.BadScheduledEvent, match=field):
            api.handlers[function_id](event, FakeContext())


# --- the local tools: `make job` / `make invoke` with the engine's DYNAMODB_PORT (issue #14) ---


@pytest.fixture
def local_tools(api: Api, monkeypatch: pytest.MonkeyPatch) -> int:
    """The port of the test's DynamoDB Local; the tools reuse the session's synthesized manifest."""
    import infra.local_manifest

    monkeypatch.setattr(infra.local_manifest, "synth_manifest", lambda _stage="dev": api.manifest)
    monkeypatch.setenv("LOCAL_EVENTS_ECHO", os.environ.get("LOCAL_EVENTS_ECHO", ""))  # the tools set it
    return int(api.endpoint.rsplit(":", 1)[1])


def test_make_job_runs_a_put_program_in_the_engines_database(
    api: Api, local_tools: int, capsys: pytest.CaptureFixture[str]
) -> None:
    from local import job

    program = new_program(api, rolling_90_days(HONOLULU))
    earn_100_days_ago(api, program, "erin")
    # `make job JOB=expiry TIME=... PROGRAM=<id> DYNAMODB_PORT=<the engine's>`: that program, whatever the hour
    argv = ["expiry", "--time", "2026-11-22T12:00:00Z", "--program", program, "--dynamodb-port", str(local_tools)]
    assert job.main(argv) == 0
    out, err = capsys.readouterr()
    (report,) = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert (report["program_id"], report["status"], report["changed"]) == (program, "done", 1)
    assert f"127.0.0.1:{local_tools}" in err
    assert points(api, program, "erin")["balance"] == 0

    # Without PROGRAM: the dispatch, which says why nothing ran when no program is in its hour
    assert job.main(["expiry", "--time", "2026-11-22T12:00:00Z", "--dynamodb-port", str(local_tools)]) == 0
    out, err = capsys.readouterr()
    dispatch = json.loads(out.splitlines()[0])
    assert dispatch["dispatch"] and program not in dispatch["program_ids"]

    # A program the database does not hold is named, not run against another database
    with pytest.raises(SystemExit, match="'nowhere' is not stored in the DynamoDB at"):
        job.main(
            ["expiry", "--time", "2026-11-22T12:00:00Z", "--program", "nowhere", "--dynamodb-port", str(local_tools)]
        )


@pytest.mark.parametrize("tool", ["job", "invoke"])
def test_a_port_where_nothing_listens_is_refused_not_replaced(tool: str) -> None:
    from local import invoke, job

    free = dynamodb.free_port()
    argv = {
        "job": ["tier", "--time", "2027-03-05T00:10:00+08:00", "--dynamodb-port", str(free)],
        "invoke": ["tier_job", str(EVENTS / "tier_job_scheduled.json"), "--dynamodb-port", str(free)],
    }[tool]
    main = job.main if tool == "job" else invoke.main
    with pytest.raises(SystemExit, match=rf"nothing listens on 127\.0\.0\.1:{free}: .*`make run DYNAMODB_PORT={free}`"):
        main(argv)
    assert not dynamodb.port_in_use(free)  # and no throwaway database was started in its place
