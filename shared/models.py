"""PynamoDB models of the one table. Keys always start with the program id.

| item             | pk                                   | sk                 |
|------------------|--------------------------------------|--------------------|
| program config   | PROGRAM#{program}                    | CONFIG (current)   |
| config version   | PROGRAM#{program}                    | CONFIG#{version:08}|
| member snapshot  | PROGRAM#{program}#MEMBER#{member}    | PROFILE            |
| ledger entry     | PROGRAM#{program}#MEMBER#{member}    | LEDGER#{seq:012}   |
| request record   | PROGRAM#{program}#MEMBER#{member}#REQUEST#{kind}#{k} | REQUEST |
| outbox event     | PROGRAM#{program}#OUTBOX#{job}#{sh}  | {event id}         |
| job state        | PROGRAM#{program}                    | JOB#{job}          |
| completed order  | PROGRAM#{program}#ORDER#{order}      | ORDER              |
| redemption left  | PROGRAM#{program}#MEMBER#{member}    | REDEMPTION#{id}    |
| program registry | PROGRAMS                             | {program}          |

Ids never contain ``#`` (the API refuses them), so keys cannot collide; the registry's
``PROGRAMS`` partition (every program, for the hourly job dispatch) is the one key that does not
start with a program id. Request records sit
in their own partitions, one per member and key: a client key is scoped to the member it acts
on (two members may use the same ``redemption_id``; neither learns of the other's). An order
id is unique in its program: its record has the program-wide key and names its member.
"""

from __future__ import annotations

import os
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.connection.table import TableConnection
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

PROFILE = "PROFILE"
CONFIG = "CONFIG"
REQUEST = "REQUEST"
LEDGER_PREFIX = "LEDGER#"


def program_pk(program_id: str) -> str:
    return f"PROGRAM#{program_id}"


def member_pk(program_id: str, member_id: str) -> str:
    return f"PROGRAM#{program_id}#MEMBER#{member_id}"


def request_pk(program_id: str, member_id: str, kind: str, key: str) -> str:
    """A client key's record: scoped to the member the request acts on."""
    return f"PROGRAM#{program_id}#MEMBER#{member_id}#REQUEST#{kind}#{key}"


def outbox_pk(program_id: str, job: str, shard: int) -> str:
    """Each job drains only its own outbox: two jobs never publish the same event."""
    return f"PROGRAM#{program_id}#OUTBOX#{job}#{shard:02d}"


ORDER = "ORDER"


def order_pk(program_id: str, order_id: str) -> str:
    """A completed order's record: one per order id in the program, whichever member reported it."""
    return f"PROGRAM#{program_id}#ORDER#{order_id}"


def redemption_sk(redemption_id: str) -> str:
    """What is left to reverse of one redemption (written by its first reversal)."""
    return f"REDEMPTION#{redemption_id}"


def job_sk(job: str) -> str:
    return f"JOB#{job}"


def ledger_sk(seq: int) -> str:
    return f"{LEDGER_PREFIX}{seq:012d}"


def config_version_sk(version: int) -> str:
    return f"{CONFIG}#{version:08d}"


class _Meta:
    """Settings every model shares; read from the environment the function runs in."""

    table_name = os.environ.get("TABLE_NAME", "loyalty-local")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    # DynamoDB Local (or any endpoint override); None in AWS.
    host = os.environ.get("DYNAMODB_ENDPOINT") or None
    # A Lambda has 10 s: fail a stuck call fast and let botocore's standard retries back off.
    connect_timeout_seconds = 2
    read_timeout_seconds = 5
    max_retry_attempts = 3
    max_pool_connections = 32


def configure(table_name: str, host: str | None = None, region: str | None = None) -> None:
    """Point every model at ``table_name`` (tests and the local runner; Lambda uses the environment)."""
    for model in (
        ProgramItem,
        MemberItem,
        LedgerItem,
        RequestItem,
        OutboxItem,
        JobStateItem,
        OrderItem,
        RedemptionLeftItem,
    ):
        model.Meta.table_name = table_name
        model.Meta.host = host
        if region:
            model.Meta.region = region
        model._connection = None


class _Base(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)

    @classmethod
    def _get_connection(cls) -> TableConnection:
        # Every model lives in the one table: share one connection (one botocore client)
        # instead of PynamoDB's one per model, which would cost a client per model at cold start.
        if cls is MemberItem:
            return super()._get_connection()
        cls._connection = MemberItem._get_connection()
        return cls._connection


class ProgramItem(_Base):
    """A program's config: the current one (sk ``CONFIG``) and every version (``CONFIG#n``)."""

    class Meta(_Meta):
        pass

    version = NumberAttribute()
    document = UnicodeAttribute()  # the validated config as JSON text: Decimal strings survive exactly
    updated_at = UnicodeAttribute()


class LotAttribute(MapAttribute[str, Any]):
    expires_at = UnicodeAttribute(null=True)
    points = NumberAttribute()
    available_at = UnicodeAttribute(null=True)  # pending until then (an order's return window)
    remind_at = ListAttribute(of=UnicodeAttribute, null=True)  # expiry reminders still to send


class TierDueIndex(GlobalSecondaryIndex["MemberItem"]):
    """Members by the day their tier is next evaluated (sparse: only tiers with a validity)."""

    class Meta:
        index_name = "tier_due"
        projection = KeysOnlyProjection()

    tier_due_pk = UnicodeAttribute(hash_key=True)
    tier_due_sk = UnicodeAttribute(range_key=True)


class ExpiryDueIndex(GlobalSecondaryIndex["MemberItem"]):
    """Members by the day their soonest points lot expires (sparse: only members with lots)."""

    class Meta:
        index_name = "expiry_due"
        projection = KeysOnlyProjection()

    expiry_due_pk = UnicodeAttribute(hash_key=True)
    expiry_due_sk = UnicodeAttribute(range_key=True)


class MemberItem(_Base):
    """The member snapshot: everything a read or a write needs, in one item."""

    class Meta(_Meta):
        pass

    member_id = UnicodeAttribute()
    version = NumberAttribute()
    growth = NumberAttribute()
    points_balance = NumberAttribute()
    lots = ListAttribute(of=LotAttribute, default=list)
    points_debt = NumberAttribute(null=True)  # a refund's negative balance (policy "allow")
    tier = UnicodeAttribute()
    tier_since = UnicodeAttribute(null=True)
    tier_valid_until = UnicodeAttribute(null=True)
    tier_period_start = UnicodeAttribute(null=True)
    tier_period_active = BooleanAttribute(null=True)
    last_qualifying_at = UnicodeAttribute(null=True)
    login_days = MapAttribute[str, Any](default=dict)  # program-local day -> logins counted
    months = MapAttribute[str, Any](default=dict)  # program-local month -> {orders, bonus}
    attributes = MapAttribute[str, Any](default=dict)
    forgiven = MapAttribute[str, Any](null=True)  # refund's ledger seq -> points it forgave (clamp)
    ledger_seq = NumberAttribute()
    config_version = NumberAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    tier_due_pk = UnicodeAttribute(null=True)
    tier_due_sk = UnicodeAttribute(null=True)
    expiry_due_pk = UnicodeAttribute(null=True)
    expiry_due_sk = UnicodeAttribute(null=True)
    tier_due = TierDueIndex()
    expiry_due = ExpiryDueIndex()


class AwardAttribute(MapAttribute[str, Any]):
    rule = UnicodeAttribute()
    points = NumberAttribute()
    growth = NumberAttribute()
    reason = UnicodeAttribute(null=True)


class LedgerItem(_Base):
    """One append-only ledger entry: one per write, carrying the client's key."""

    class Meta(_Meta):
        pass

    seq = NumberAttribute()
    kind = UnicodeAttribute()  # earn | redeem
    key_name = UnicodeAttribute()  # event_id | redemption_id
    key = UnicodeAttribute()
    event_type = UnicodeAttribute(null=True)
    occurred_at = UnicodeAttribute()
    recorded_at = UnicodeAttribute()
    points = NumberAttribute()
    growth = NumberAttribute()
    balance_after = NumberAttribute()
    growth_after = NumberAttribute()
    tier_after = UnicodeAttribute()
    lots = ListAttribute(of=LotAttribute, default=list)
    awards = ListAttribute(of=AwardAttribute, default=list)
    config_version = NumberAttribute()
    description = UnicodeAttribute(null=True)
    redemption_id = UnicodeAttribute(null=True)  # the redemption a reversal keyed by reversal_id gives back


class RequestItem(_Base):
    """The first response to a client key, replayed verbatim; ``request_hash`` detects reuse."""

    class Meta(_Meta):
        pass

    member_id = UnicodeAttribute()
    request_hash = UnicodeAttribute()
    status = NumberAttribute()
    response = UnicodeAttribute()  # JSON text of the first response body
    created_at = UnicodeAttribute()
    attempt_id = UnicodeAttribute(null=True)  # which invocation wrote it (see store.commit_write)


class OutboxItem(_Base):
    """An event to publish on the bus, written in the same transaction as the change it reports.

    Jobs drain the outbox after each page (and first thing on every run), so a run killed
    between its write and its publish publishes on the next run instead of never.
    """

    class Meta(_Meta):
        pass

    detail_type = UnicodeAttribute()
    detail = UnicodeAttribute()  # JSON text
    created_at = UnicodeAttribute()


class JobStateItem(_Base):
    """How far a scheduled job got: every due month up to ``completed_through`` is done."""

    class Meta(_Meta):
        pass

    completed_through = UnicodeAttribute()  # YYYY-MM (UTC month of the due-date index)
    updated_at = UnicodeAttribute()


class OrderItem(_Base):
    """What a completed order earned (written with its earn), and what refunds reversed since."""

    class Meta(_Meta):
        pass

    member_id = UnicodeAttribute(null=True)  # who reported it (the key is program-wide)
    event_id = UnicodeAttribute()
    occurred_at = UnicodeAttribute(null=True)  # the order's business time: no refund predates it
    amount = UnicodeAttribute()  # decimal text
    points = NumberAttribute()
    growth = NumberAttribute()
    points_rate = UnicodeAttribute(null=True)  # decimal text: points per unit x tier multiplier
    growth_rate = UnicodeAttribute(null=True)  # decimal text: growth per unit x coefficient
    lot_expires_at = UnicodeAttribute(null=True)
    lot_available_at = UnicodeAttribute(null=True)
    refunded_amount = UnicodeAttribute()
    refunded_points = NumberAttribute()
    refunded_growth = NumberAttribute()
    refund_ids = ListAttribute(of=UnicodeAttribute, null=True)  # the refunds applied, by event_id
    version = NumberAttribute()


class RedemptionLeftItem(_Base):
    """What reversals have not yet given back of one redemption: the drawn lots, reduced by each
    reversal (the points drawn last come back first)."""

    class Meta(_Meta):
        pass

    lots = ListAttribute(of=LotAttribute, default=list)
    keys = ListAttribute(of=UnicodeAttribute, default=list)  # the reversals applied, by client key
    version = NumberAttribute()


PROGRAM_REGISTRY = "PROGRAMS"
"""The partition of the program registry: one item per program (sk its id), with its time zone."""


def program_registry_pk() -> str:
    """The scheduled jobs list every program here (one Query) to run each in its own time zone.

    | item              | pk       | sk          |
    |-------------------|----------|-------------|
    | program registry  | PROGRAMS | {program}   |

    ``PROGRAMS`` cannot collide with a program's own keys (``PROGRAM#...``).
    """
    return PROGRAM_REGISTRY


def program_registry_sk(program_id: str) -> str:
    return program_id


class ProgramRegistryItem(_Base):
    """One program in the registry, written with each version of its config (``store.save_program``).

    The schema of the item only: the store writes and reads it as plain items (``ItemCodec``),
    never through this model's own connection (``configure`` does not point it at a table).
    """

    class Meta(_Meta):
        pass

    time_zone = UnicodeAttribute()  # IANA name, the config's ``time_zone``
    updated_at = UnicodeAttribute()
