"""What this container last read or wrote of a member, so its next write can skip the read.

A member write needs the program config and the member's snapshot. When this container holds
both from its own last read or write of that member, the write is planned from them and
committed in one request (``TransactWriteItems``) that checks every assumption: the member's
version, the config's version (a ``ConditionCheck``), the client key unused, the order id
unused. If any no longer holds, the transaction changes nothing. When only the member's
version failed, the transaction returned the member as it is now: it replaces the entry and
the retry is planned from it. Otherwise the entry is dropped and the write is done the usual
way (read, plan, commit). A write the cached state would refuse (a
domain error) is also redone the usual way: the read may find the key already applied, and a
replay must answer its first response, whatever the state says now.

Bounded (least recently used first out); one per container, shared by its threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from shared.rules import MemberState
from shared.store import ProgramVersion

MAX_MEMBERS = 2_000
"""A few KB each: at most a few MB of a function's memory."""

_entries: OrderedDict[tuple[str, str], tuple[ProgramVersion, MemberState]] = OrderedDict()
_lock = threading.Lock()


def get(program_id: str, member_id: str) -> tuple[ProgramVersion, MemberState] | None:
    with _lock:
        found = _entries.get((program_id, member_id))
        if found is not None:
            _entries.move_to_end((program_id, member_id))
        return found


def put(program: ProgramVersion, member: MemberState) -> None:
    """Keep what was just read or committed (a member that does not exist yet is not kept)."""
    if not member.exists:
        return
    key = (program.program_id, member.member_id)
    with _lock:
        _entries[key] = (program, member)
        _entries.move_to_end(key)
        while len(_entries) > MAX_MEMBERS:
            _entries.popitem(last=False)


def forget(program_id: str, member_id: str) -> None:
    with _lock:
        _entries.pop((program_id, member_id), None)


def clear() -> None:
    with _lock:
        _entries.clear()
