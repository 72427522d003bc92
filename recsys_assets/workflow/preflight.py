"""Checks before the first paid Personalize call on AWS: the role, the bucket, the bucket policy.

Each problem is a precise sentence; an import that would fail with "Insufficient privileges for
accessing data in Amazon S3" after minutes (and after creating resources) fails here at once instead.
"""

from __future__ import annotations

import json

from botocore.exceptions import ClientError

from recsys_assets.personalize_rules.names import is_valid_role_arn
SERVICE = "personalize.amazonaws.com"
# Imports read (GetObject, ListBucket); batch jobs also write their output (PutObject).
NEEDED_ACTIONS = ("s3:GetObject", "s3:ListBucket", "s3:PutObject")


def preflight_problems(s3_client, *, bucket: str, region: str, role_arn: str | None) -> list[str]:
    problems = []
    if not role_arn:
        problems.append("RECSYS_PERSONALIZE_ROLE_ARN is not set: Personalize needs a role to read the bucket")
    elif not is_valid_role_arn(role_arn):
        problems.append(f"role ARN {role_arn!r} is malformed: expected arn:aws:iam::<12-digit account>:role/<name>")
    try:
        location = s3_client.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        problems.append(f"bucket {bucket!r} cannot be used: {code or e}")
        return problems
    if location != region:
        problems.append(f"bucket {bucket!r} is in {location}, but Personalize runs in {region}; "
                        "Personalize reads only buckets of its own region")
    try:
        policy = json.loads(s3_client.get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") == "NoSuchBucketPolicy":
            return problems + [f"bucket {bucket!r} has no bucket policy; it must allow {SERVICE} "
                               f"{', '.join(NEEDED_ACTIONS)}"]
        raise
    granted = _granted_actions(policy, bucket)
    missing = [a for a in NEEDED_ACTIONS if a not in granted and "s3:*" not in granted]
    if missing:
        problems.append(f"the policy of bucket {bucket!r} does not allow {SERVICE} {', '.join(missing)} "
                        f"(imports need s3:GetObject and s3:ListBucket, batch jobs s3:PutObject)")
    return problems


def _granted_actions(policy: dict, bucket: str) -> set[str]:
    """Actions the policy allows the Personalize service on this bucket or its objects."""
    granted: set[str] = set()
    statements = policy.get("Statement", [])
    for st in statements if isinstance(statements, list) else [statements]:
        if st.get("Effect") != "Allow":
            continue
        principal = st.get("Principal", {})
        services = principal.get("Service", []) if isinstance(principal, dict) else []
        if SERVICE not in ([services] if isinstance(services, str) else services):
            continue
        resources = st.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if not any(r in (f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*", "*") for r in resources):
            continue
        actions = st.get("Action", [])
        granted.update([actions] if isinstance(actions, str) else actions)
    return granted
