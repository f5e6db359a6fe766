"""Shared test settings: no test may reach a real AWS account."""

import os

# Dummy credentials and region: botocore must never look for real ones.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
os.environ.setdefault("AWS_REGION", "us-east-1")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "loyalty")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
