"""Name and ARN patterns of the Personalize API, as the service model declares them [BC].

botocore checks required members and types client-side; these patterns (and maximum lengths) are the
server's. ``recsys_assets_tests/personalize_rules`` pins each one to botocore's model.
"""

from __future__ import annotations

import re

# Name: every resource name (dataset group, schema, dataset, solution, filter, campaign, job names).
NAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9\-_]*"
MAX_NAME_CHARS = 63
# Arn: any Personalize ARN a request names.
ARN_PATTERN = r"arn:([a-z\d-]+):personalize:.*:.*:.+"
MAX_ARN_CHARS = 256
# RoleArn: the IAM role Personalize assumes to read and write S3.
ROLE_ARN_PATTERN = r"arn:([a-z\d-]+):iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+"


def is_valid_name(name: str) -> bool:
    return len(name) <= MAX_NAME_CHARS and re.fullmatch(NAME_PATTERN.removeprefix("^"), name) is not None


def is_valid_role_arn(arn: str) -> bool:
    return len(arn) <= MAX_ARN_CHARS and re.fullmatch(ROLE_ARN_PATTERN, arn) is not None
