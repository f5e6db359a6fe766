"""Run the engine on this machine: DynamoDB Local, tables and routes derived from the CDK app."""
