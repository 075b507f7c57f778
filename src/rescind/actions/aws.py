"""The built-in AWS actions. Importing this module registers them all.

Each lives in a module named for what it acts on; boto3 is imported only when an
action first talks to AWS.
"""

from __future__ import annotations

from rescind.actions import (  # noqa: F401  (imported to register the actions)
    aws_iam_keys,
    aws_iam_principals,
    aws_iam_read,
    aws_iam_roles,
    aws_iam_trust,
    aws_iam_users,
    aws_org,
    aws_persistence,
    aws_secrets,
)
