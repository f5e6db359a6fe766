"""The single DynamoDB table holding programs, members, lots and the ledger."""

from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from infra import constants
from infra.constants import StageSettings
from infra.nag import acknowledge


def _key(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


class LedgerTable(Construct):
    """Single-table design keyed by ``pk``/``sk``, with the two due-date indexes the jobs use."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: StageSettings) -> None:
        super().__init__(scope, construct_id)
        # "Resource" keeps the CloudFormation logical id readable: LedgerTable<hash>.
        self.table = dynamodb.Table(
            self,
            "Resource",
            partition_key=_key(constants.PARTITION_KEY),
            sort_key=_key(constants.SORT_KEY),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=settings.point_in_time_recovery
            ),
            deletion_protection=settings.retain_data,
            removal_policy=settings.removal_policy,
            # Only the rate-limit items carry it: they expire after their window.
            time_to_live_attribute=constants.TTL_ATTRIBUTE,
        )
        # Jobs only need the keys of due items; they read the items they act on.
        for index in (constants.TIER_DUE_INDEX, constants.EXPIRY_DUE_INDEX):
            self.table.add_global_secondary_index(
                index_name=index,
                partition_key=_key(f"{index}_pk"),
                sort_key=_key(f"{index}_sk"),
                projection_type=dynamodb.ProjectionType.KEYS_ONLY,
            )
        if not settings.point_in_time_recovery:
            acknowledge(
                self.table,
                "AwsSolutions-DDB3",
                "dev tables hold disposable test data and are destroyed with the stack; "
                "staging and prod enable point-in-time recovery",
            )
