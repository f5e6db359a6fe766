"""Names and per-stage settings of the CDK app, in one place."""

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs

REPO_ROOT = Path(__file__).resolve().parent.parent
LAYER_DIR = REPO_ROOT / ".build" / "layer"

SERVICE_NAME = "loyalty"
METRICS_NAMESPACE = "Loyalty"
STACK_NAME_PREFIX = "Loyalty"
DEFAULT_STAGE = "dev"

# Construct ids. The ledger table's id is part of the contract with local tooling.
LEDGER_TABLE_ID = "LedgerTable"
LAYER_ID = "DependenciesLayer"
API_ID = "HttpApi"
AUTH_ID = "Auth"
MONITORING_ID = "Monitoring"

PARTITION_KEY = "pk"
SORT_KEY = "sk"
# Scheduled jobs find due members through these indexes instead of scanning the table.
TIER_DUE_INDEX = "tier_due"
EXPIRY_DUE_INDEX = "expiry_due"
# Rate-limit items carry their expiry here (epoch seconds); see shared.store.take_rate_token.
TTL_ATTRIBUTE = "ttl"

LAMBDA_MEMORY_MB = 512
API_TIMEOUT_SECONDS = 10
JOB_TIMEOUT_SECONDS = 900  # Lambda's limit; a run stops JOB_STOP_MARGIN_MS before it and continues itself
JOB_STOP_MARGIN_MS = 60_000
EVENT_BUS_ID = "EventBus"
JOBS_ID = "Jobs"


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function: its folder under functions/ and the table actions its role allows."""

    name: str
    table_actions: tuple[str, ...]
    index_actions: tuple[tuple[str, str], ...] = ()
    """(index name, action) pairs granted on that index's ARN only."""
    timeout_seconds: int = API_TIMEOUT_SECONDS
    public: bool = False
    """Serves only routes without an authorizer: gets no table, no auth settings."""
    member_writes: bool = False
    """Serves member-initiated writes: gets the per-member rate limit."""

    @property
    def construct_id(self) -> str:
        """``member_reads`` -> ``MemberReads``: the prefix of its resources' logical ids."""
        return "".join(part.title() for part in self.name.split("_"))

    @property
    def handler(self) -> str:
        """Handler string, relative to the asset root (which holds functions/ and shared/)."""
        return f"functions.{self.name}.handler.handler"


# TransactWriteItems/TransactGetItems have no IAM action of their own: a transaction is
# authorized by the underlying Put/Update/ConditionCheck/Get actions, listed here.
_WRITE_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:ConditionCheckItem",
)

API_FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec("earn", _WRITE_ACTIONS),
    FunctionSpec("redeem", _WRITE_ACTIONS, member_writes=True),
    FunctionSpec("member_reads", ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query")),
    FunctionSpec(
        "program_admin",
        ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"),
    ),
    FunctionSpec("health", (), public=True),
)


# A due-date job reads the program, its state and members (Get/BatchGet) and writes ledger +
# member + outbox in transactions (Put). Queries (its outbox, the program registry) and deleting
# published outbox events (BatchWriteItem) are granted separately, on those partition keys only
# (infra/jobs.py).
_JOB_TABLE_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:PutItem",
)
OUTBOX_KEYS = "PROGRAM#*#OUTBOX#*"
PROGRAM_REGISTRY_KEY = "PROGRAMS"
"""The program registry's partition (``shared.models.program_registry_pk``): every program and
its time zone, written with each config version; the jobs' hourly dispatch queries it."""
JOB_QUERY_KEYS = (OUTBOX_KEYS, PROGRAM_REGISTRY_KEY)


@dataclass(frozen=True)
class JobSpec:
    """A scheduled job: its function and when it runs.

    One schedule per job fires every hour at ``minute`` past the UTC hour; each firing runs the
    job of every program whose local time is then in ``hour`` (of its own time zone). For zones
    a whole number of hours from UTC that is ``hour:minute`` local time.
    """

    function: FunctionSpec
    job: str
    hour: int
    minute: int
    description: str


JOBS: tuple[JobSpec, ...] = (
    JobSpec(
        FunctionSpec(
            "tier_job",
            _JOB_TABLE_ACTIONS,
            index_actions=((TIER_DUE_INDEX, "dynamodb:Query"),),
            timeout_seconds=JOB_TIMEOUT_SECONDS,
        ),
        job="tier",
        hour=0,
        minute=10,
        description="Tier anniversaries: deductions, renewals, downgrades; publishes tier.changed",
    ),
    JobSpec(
        FunctionSpec(
            "expiry_job",
            _JOB_TABLE_ACTIONS,
            index_actions=((EXPIRY_DUE_INDEX, "dynamodb:Query"),),
            timeout_seconds=JOB_TIMEOUT_SECONDS,
        ),
        job="expiry",
        hour=0,
        minute=5,
        description="Points expiry: expires due lots, publishes points.expired and points.expiring",
    ),
)


@dataclass(frozen=True)
class StageSettings:
    """What differs between dev, staging and prod."""

    log_level: str
    log_retention: logs.RetentionDays
    throttle_rate_limit: int  # steady-state requests per second for the whole API
    throttle_burst_limit: int
    member_writes_per_minute: int  # per member, member-initiated writes (redemptions with a member token)
    cognito_plus: bool  # Cognito Plus plan with threat protection enforced (billed per monthly active user)
    point_in_time_recovery: bool
    # prod keeps its data when the stack or a resource goes away; other stages clean up.
    retain_data: bool

    @property
    def removal_policy(self) -> RemovalPolicy:
        """What CloudFormation does with the table and log groups when they leave the stack."""
        return RemovalPolicy.RETAIN if self.retain_data else RemovalPolicy.DESTROY


STAGES: dict[str, StageSettings] = {
    "dev": StageSettings(
        log_level="DEBUG",
        log_retention=logs.RetentionDays.ONE_WEEK,
        throttle_rate_limit=20,
        throttle_burst_limit=40,
        member_writes_per_minute=10,
        cognito_plus=False,
        point_in_time_recovery=False,
        retain_data=False,
    ),
    "staging": StageSettings(
        log_level="INFO",
        log_retention=logs.RetentionDays.ONE_MONTH,
        throttle_rate_limit=100,
        throttle_burst_limit=200,
        member_writes_per_minute=10,
        cognito_plus=False,
        point_in_time_recovery=True,
        retain_data=False,
    ),
    "prod": StageSettings(
        log_level="INFO",
        log_retention=logs.RetentionDays.THREE_MONTHS,
        throttle_rate_limit=1000,
        throttle_burst_limit=2000,
        member_writes_per_minute=10,
        cognito_plus=True,
        point_in_time_recovery=True,
        retain_data=True,
    ),
}


def stack_name(stage: str) -> str:
    """CloudFormation stack name of a stage, e.g. ``Loyalty-dev``."""
    return f"{STACK_NAME_PREFIX}-{stage}"
