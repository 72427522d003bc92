"""Checks before the first paid Personalize call on AWS: the role, the bucket, its policy, its KMS key.

Each problem is a precise sentence; an import that would fail with "Insufficient privileges for
accessing data in Amazon S3" after minutes (and after creating resources) fails here at once instead.
What AWS can evaluate (the role's own policies) is asked of IAM's policy simulator; resource policies
granting a service principal cannot be simulated, so they are evaluated here with IAM's rules
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).
What can be neither, because the caller may not read it or a Condition needs the real request, is
not guessed: it is an ``unverified`` line, a warning rather than a failure.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import unquote

from botocore.exceptions import BotoCoreError, ClientError

from recsys_assets.personalize_rules.names import is_valid_role_arn

SERVICE = "personalize.amazonaws.com"
# https://docs.aws.amazon.com/personalize/latest/dg/granting-personalize-s3-access.html: imports read
# (GetObject, ListBucket), batch jobs write their output (PutObject); ListBucket applies to the bucket
# ARN, the object actions to object ARNs.
OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject")
BUCKET_ACTIONS = ("s3:ListBucket",)
# https://docs.aws.amazon.com/personalize/latest/dg/granting-personalize-key-access.html: the key policy
# must allow these to the service and the role, the role's IAM policy all but CreateGrant.
KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant", "kms:ListGrants")
KEY_IAM_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:ListGrants")
# https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketLocation.html: us-east-1 has no
# LocationConstraint, and old eu-west-1 buckets answer the legacy "EU".
LEGACY_LOCATIONS = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}


@dataclass
class Preflight:
    """What would make a paid call fail (``problems``) and what could not be checked (``unverified``)."""

    problems: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)


def run_preflight(s3, iam=None, kms=None, *, bucket: str, region: str, role_arn: str | None,
                  prefix: str = "") -> Preflight:
    """Check the bucket ``bucket`` (files under ``prefix``) and the role, with the pipeline's own clients.

    Without ``iam`` (or ``kms``) what only they can tell is reported unverified."""
    out = Preflight()
    account, partition = None, "aws"
    if not role_arn:
        out.problems.append("RECSYS_PERSONALIZE_ROLE_ARN is not set: Personalize needs a role to read the bucket")
    elif not is_valid_role_arn(role_arn):
        out.problems.append(f"role ARN {role_arn!r} is malformed: expected arn:aws:iam::<12-digit account>:role/<name>")
    else:
        partition, account = role_arn.split(":")[1], role_arn.split(":")[4]
    if not _bucket_usable(s3, bucket, region, out):
        return out
    bucket_arn = f"arn:{partition}:s3:::{bucket}"
    objects = f"{bucket_arn}/{prefix.strip('/')}/*" if prefix.strip("/") else f"{bucket_arn}/*"
    # s3:prefix is the one request key a policy commonly tests on ListBucket; Personalize lists under ours.
    s3_keys = {"s3:prefix": f"{prefix.strip('/')}/"} if prefix.strip("/") else {}
    needs = [(a, objects, {}) for a in OBJECT_ACTIONS] + [(a, bucket_arn, s3_keys) for a in BUCKET_ACTIONS]
    service, role = _contexts(partition, role_arn, account, region)
    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError as e:
        policy = None
        if _code(e) == "NoSuchBucketPolicy":
            out.problems.append(f"bucket {bucket!r} has no bucket policy; it must allow {SERVICE} s3:GetObject and "
                                f"s3:PutObject on {objects} and s3:ListBucket on {bucket_arn}")
        else:
            out.unverified.append(f"the policy of bucket {bucket!r} could not be read ({_code(e)}): that it lets "
                                  f"{SERVICE} read and write the pipeline's files is not verified")
    if policy:  # the role is allowed by its own policies (simulated below): here it must only not be denied
        _check_resource_policy(out, policy, f"the policy of bucket {bucket!r}", needs,
                               [(service, True)] + ([(role, False)] if role else []))
    simulate = [(OBJECT_ACTIONS, objects, {}), (BUCKET_ACTIONS, bucket_arn, s3_keys)]
    key_arn = _check_kms(s3, kms, bucket, out, service, role)
    if key_arn:
        simulate.append((KEY_IAM_ACTIONS, key_arn, {"kms:ViaService": f"s3.{region}.amazonaws.com"}))
    if account and iam is None:
        out.unverified.append(f"role {role_arn} was not checked: no IAM client (its existence, trust policy and "
                              f"permissions are unknown)")
    elif account:
        _check_role(iam, role_arn, service, simulate, out)
    return out


def _code(e: Exception) -> str:
    return e.response.get("Error", {}).get("Code", "") if isinstance(e, ClientError) else type(e).__name__


def _bucket_usable(s3, bucket: str, region: str, out: Preflight) -> bool:
    try:
        head = s3.head_bucket(Bucket=bucket)
    except (ClientError, BotoCoreError) as e:
        code = _code(e)  # HEAD has no body: the code is the HTTP status
        out.problems.append(f"bucket {bucket!r} does not exist" if code in ("404", "NoSuchBucket", "NotFound") else
                            f"bucket {bucket!r} exists but the pipeline's credentials may not access it (HeadBucket: "
                            f"403; it needs s3:ListBucket)" if code in ("403", "AccessDenied") else
                            f"bucket {bucket!r} cannot be used: {code or e}")
        return False
    try:
        location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
        location = LEGACY_LOCATIONS.get(location, location)
    except ClientError as e:  # HeadBucket also names the region, and needs only s3:ListBucket
        location = head.get("BucketRegion")
        if not location:
            out.unverified.append(f"the region of bucket {bucket!r} could not be read ({_code(e)}); Personalize "
                                  f"reads only buckets of its own region, {region}")
    if location and location != region:
        out.problems.append(f"bucket {bucket!r} is in {location}, but Personalize runs in {region}; "
                            "Personalize reads only buckets of its own region")
    return True


def _contexts(partition: str, role_arn: str | None, account: str | None, region: str) -> tuple[dict, dict | None]:
    """Who asks and the condition keys its request is known to carry, for Personalize and for the role."""
    via_s3 = {"aws:securetransport": "true", "kms:viaservice": f"s3.{region}.amazonaws.com"}
    service = {"name": SERVICE, "who": {"service": {SERVICE}}, "keys": {**via_s3, "aws:principalservicename": SERVICE}}
    if not account:
        return service, None
    # The confused-deputy keys name our account and some Personalize resource of it, whose ARN is a glob here
    # (https://docs.aws.amazon.com/personalize/latest/dg/cross-service-confused-deputy-prevention.html).
    service["keys"] |= {"aws:sourceaccount": account,
                        "aws:sourcearn": f"arn:{partition}:personalize:{region}:{account}:*"}
    # A key policy naming the account root delegates to IAM policies, which the simulator then checks.
    role = {"name": f"role {role_arn}", "who": {"aws": {role_arn.lower(), f"arn:{partition}:iam::{account}:root",
                                                        account}},
            "keys": {**via_s3, "aws:principalarn": role_arn, "aws:principalaccount": account,
                     "kms:calleraccount": account}}
    return service, role


def _check_resource_policy(out: Preflight, policy: dict, label: str, needs: list, principals: list) -> None:
    """Each (context, required) principal must be allowed each need if required, else only not denied."""
    for ctx, required in principals:
        missing = []
        for action, resource, keys in needs:
            verdict, why = _evaluate(policy, action, resource, ctx["who"], ctx["keys"] | keys)
            if verdict == "denied":
                out.problems.append(f"{label} denies {ctx['name']} {action} on {resource} ({why})")
            elif verdict == "implicit" and required:
                missing.append(f"{action} on {resource}")
            elif verdict == "maybe-denied" or (verdict == "maybe-allowed" and required):
                out.unverified.append(f"that {label} lets {ctx['name']} {action} on {resource} could not be "
                                      f"verified: {why}")
        if missing:
            out.problems.append(f"{label} does not allow {ctx['name']} {', '.join(missing)}")


def _check_kms(s3, kms, bucket: str, out: Preflight, service: dict, role: dict | None) -> str | None:
    """The ARN of the bucket's default KMS key when it is usable so far (the role's IAM side is simulated later)."""
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except ClientError as e:
        if _code(e) != "ServerSideEncryptionConfigurationNotFoundError":
            out.unverified.append(f"the default encryption of bucket {bucket!r} could not be read ({_code(e)}): "
                                  "KMS key grants are not verified")
        return None
    defaults = [r.get("ApplyServerSideEncryptionByDefault") or {} for r in rules]
    kms_default = next((d for d in defaults if d.get("SSEAlgorithm") in ("aws:kms", "aws:kms:dsse")), None)
    if kms_default is None:
        return None
    aws_managed = (f"bucket {bucket!r} encrypts with the AWS managed key aws/s3, whose key policy cannot grant "
                   f"{SERVICE}: use a customer managed key")
    if not (key_id := kms_default.get("KMSMasterKeyID")):
        out.problems.append(aws_managed)
        return None
    if kms is None:
        out.unverified.append(f"KMS key {key_id} of bucket {bucket!r} was not checked: no KMS client")
        return None
    try:
        meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
        if meta.get("KeyManager") == "AWS":
            out.problems.append(aws_managed)
            return None
        if meta.get("KeyState") != "Enabled":
            out.problems.append(f"KMS key {meta['Arn']} of bucket {bucket!r} is {meta.get('KeyState')}, not Enabled")
            return None
        policy = json.loads(kms.get_key_policy(KeyId=meta["Arn"], PolicyName="default")["Policy"])
    except (ClientError, BotoCoreError) as e:
        if _code(e) == "NotFoundException":
            out.problems.append(f"KMS key {key_id} of bucket {bucket!r} does not exist")
        else:
            out.unverified.append(f"KMS key {key_id} of bucket {bucket!r} could not be read ({_code(e)}): that "
                                  f"{SERVICE} and the role may use it is not verified")
        return None
    _check_resource_policy(out, policy, f"the policy of KMS key {meta['Arn']} (default encryption of bucket "
                           f"{bucket!r})", [(a, meta["Arn"], {}) for a in KEY_ACTIONS],
                           [(service, True)] + ([(role, True)] if role else []))
    return meta["Arn"]


def _check_role(iam, role_arn: str, service: dict, simulate: list, out: Preflight) -> None:
    try:
        trust = iam.get_role(RoleName=role_arn.rsplit("/", 1)[-1])["Role"]["AssumeRolePolicyDocument"]
    except (ClientError, BotoCoreError) as e:
        if _code(e) == "NoSuchEntity":
            out.problems.append(f"role {role_arn} does not exist")
            return
        out.unverified.append(f"role {role_arn} could not be read ({_code(e)}): its existence and trust policy "
                              f"are not verified")
    else:  # boto3 URL-decodes the document into a dict; a str is an undecoded one
        trust = json.loads(unquote(trust)) if isinstance(trust, str) else trust
        verdict, why = _evaluate(trust, "sts:AssumeRole", role_arn, service["who"], service["keys"])
        if verdict in ("denied", "implicit"):
            out.problems.append(f"the trust policy of role {role_arn} does not let {SERVICE} assume it"
                                + (f" ({why})" if why else ""))
        elif verdict.startswith("maybe"):
            out.unverified.append(f"that {SERVICE} may assume role {role_arn} could not be verified: {why}")
    for actions, resource, keys in simulate:
        try:  # evaluates the role's identity policies, boundary and SCPs, Deny and Conditions included
            pages = iam.get_paginator("simulate_principal_policy").paginate(
                PolicySourceArn=role_arn, ActionNames=list(actions), ResourceArns=[resource], ContextEntries=[
                    {"ContextKeyName": k, "ContextKeyValues": [v],
                     "ContextKeyType": "boolean" if v in ("true", "false") else "string"}
                    for k, v in {"aws:SecureTransport": "true", **keys}.items()])
            results = [r for page in pages for r in page["EvaluationResults"]]
        except (ClientError, BotoCoreError) as e:
            if _code(e) == "NoSuchEntity":
                out.problems.append(f"role {role_arn} does not exist")
                return
            asked = ", ".join(a for group in simulate for a in group[0])
            out.unverified.append(f"role {role_arn}'s own policies could not be simulated (iam:SimulatePrincipal"
                                  f"Policy: {_code(e)}): that they allow {asked} is not verified; only the resource "
                                  "policies were checked")
            return
        for r in results:
            action, decision = r["EvalActionName"], r["EvalDecision"]
            if r.get("MissingContextValues"):
                out.unverified.append(f"that role {role_arn} may {action} on {resource} could not be verified: its "
                                      f"policies test {', '.join(r['MissingContextValues'])}, known only at request "
                                      f"time (simulated: {decision})")
            elif decision != "allowed":
                out.problems.append(f"role {role_arn} may not {action} on {resource}: {_why(r)}")


def _why(result: dict) -> str:
    if result["EvalDecision"] == "explicitDeny":
        ids = sorted({s.get("SourcePolicyId") or "?" for s in result.get("MatchedStatements") or []})
        return f"explicitly denied by {', '.join(ids) or 'a statement'}"
    if (result.get("OrganizationsDecisionDetail") or {}).get("AllowedByOrganizations") is False:
        return "an organization's service control policy does not allow it"
    if (result.get("PermissionsBoundaryDecisionDetail") or {}).get("AllowedByPermissionsBoundary") is False:
        return "its permissions boundary does not allow it"
    return "none of its policies allows it (implicitDeny)"


def _evaluate(policy: dict, action: str, resource: str, who: dict, keys: dict) -> tuple[str, str]:
    """IAM's order on one request: a matching Deny wins, then an Allow, else the implicit deny.

    "denied" | "maybe-denied" | "allowed" | "maybe-allowed" | "implicit", and which statement decided."""
    allowed, maybe = None, {}  # maybe[is a Deny]: the first statement that may apply
    statements = policy.get("Statement", [])
    for i, st in enumerate([statements] if isinstance(statements, dict) else statements):
        deny = st.get("Effect") == "Deny"
        hit, why = _applies(st, action, resource, who, keys, deny)
        name = f"statement {st.get('Sid') or i + 1}"
        if hit and deny:
            return "denied", name
        if hit is None:
            maybe.setdefault(deny, f"{name} {why}")
        elif hit:
            allowed = allowed or name
    if True in maybe:
        return "maybe-denied", maybe[True]
    if allowed:
        return "allowed", allowed
    return ("maybe-allowed", maybe[False]) if False in maybe else ("implicit", "")


def _applies(st: dict, action: str, resource: str, who: dict, keys: dict, deny: bool) -> tuple[bool | None, str]:
    """Whether the statement covers the request: an Allow all of ``resource`` (a glob), a Deny any of it.

    None, and why, when that depends on a Condition we cannot decide or a Deny covers only part of it."""
    if "Principal" in st or "NotPrincipal" in st:
        if _principal(st.get("Principal", st.get("NotPrincipal")), who) == ("NotPrincipal" in st):
            return False, ""
    if any(_covers(a.lower(), action.lower()) for a in _list(st.get("Action", st.get("NotAction")))) == (
            "NotAction" in st):
        return False, ""
    some, every = (_overlap, _covers) if deny else (_covers, _overlap)
    partial = False
    if "Resource" in st:
        if not any(some(p, resource) for p in _list(st["Resource"])):
            return False, ""
        partial = deny and not any(_covers(p, resource) for p in _list(st["Resource"]))
    if "NotResource" in st:
        if any(every(p, resource) for p in _list(st["NotResource"])):
            return False, ""
        partial = partial or (deny and any(_overlap(p, resource) for p in _list(st["NotResource"])))
    verdicts = [(_test(op, k, _list(v), keys), k) for op, tests in (st.get("Condition") or {}).items()
                for k, v in tests.items()]
    if any(v is False for v, _ in verdicts):
        return False, ""
    if unknown := [k for v, k in verdicts if v is None]:
        return None, f"has a Condition on {', '.join(unknown)}, not known before the request"
    return (None, f"covers only part of {resource}") if partial else (True, "")


def _principal(p, who: dict) -> bool:
    if p == "*":
        return True
    return isinstance(p, dict) and any((kind.lower() == "aws" and v == "*") or v.lower() in who.get(kind.lower(), ())
                                       for kind, values in p.items() for v in _list(values))


def _test(op: str, key: str, wanted: list, keys: dict) -> bool | None:
    """One condition test: True, False, or None when the key or the operator is not one we can decide."""
    value, base, wanted = keys.get(key.lower()), op.lower().removesuffix("ifexists"), [str(w) for w in wanted]
    negate, base = "not" in base, base.replace("not", "")
    if value is None or base not in ("stringequals", "stringlike", "stringequalsignorecase", "arnequals",
                                     "arnlike", "bool"):
        return None
    if base == "bool" or base.endswith("ignorecase"):
        value, wanted = value.lower(), [w.lower() for w in wanted]
    if base.startswith("stringequals") and any(c in w for w in wanted for c in "*?"):
        return None  # StringEquals has no wildcards (ArnEquals has): a literal * we cannot compare with our globs
    hits = [True if _covers(w, value) else None if _overlap(w, value) else False for w in wanted]
    hit = True if True in hits else None if None in hits else False
    return hit if hit is None or not negate else not hit


def _list(v) -> list:
    return [v] if isinstance(v, (str, bool)) else list(v or [])


def _covers(pattern: str, glob: str) -> bool:
    """Whether IAM wildcard ``pattern`` matches every string the glob matches (``*`` matches ``*`` too)."""
    rx = "".join(".*" if c == "*" else "[^*]" if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, glob, re.S) is not None


@lru_cache(maxsize=4096)
def _overlap(a: str, b: str) -> bool:
    """Whether IAM wildcard patterns a and b match some common string."""
    if not a or not b:
        return not (a + b).strip("*")
    if a[0] == "*":
        return _overlap(a[1:], b) or _overlap(a, b[1:])
    if b[0] == "*":
        return _overlap(a, b[1:]) or _overlap(a[1:], b)
    return (a[0] == b[0] or "?" in (a[0], b[0])) and _overlap(a[1:], b[1:])
