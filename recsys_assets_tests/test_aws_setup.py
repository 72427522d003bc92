"""The AWS set-up as code (aws/recsys-assets.yaml): it lints clean, its policies have the security properties
issue 12 asks for, and they allow every call the pipeline makes, and no other.

"Every call" is measured, not listed: the whole graph runs on the local backend with its Personalize client
and its S3 client (moto) recorded, the cleanup job after it, and the S3 object store and the AWS preflight are
driven through each of their paths; each recorded request is then evaluated against the rendered template's
policies (Action, Resource and Condition, IAM's wildcards). Nothing here touches the network.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
from importlib import resources as package_files
from pathlib import Path
from types import SimpleNamespace

import boto3
import dagster as dg
import pytest
from cfnlint import api as cfnlint_api
from cfnlint.decode import cfn_yaml
from moto import mock_aws

from recsys_assets.assets import ALL_ASSETS, ALL_CHECKS
from recsys_assets.automation import cleanup_job, cleanup_run_config
from recsys_assets.resources import LocalObjectStoreResource, LocalPersonalizeResource, ObjectStoreResource, \
    build_resources
from recsys_assets.storage import LocalObjectStore, S3ObjectStore, join_uri, split_uri
from recsys_assets.workflow import resource_types as rt
from recsys_assets.workflow.preflight import run_preflight
from recsys_assets_tests.conftest import with_fields

TEMPLATE_PATH = Path(__file__).resolve().parents[1] / "aws" / "recsys-assets.yaml"
TEMPLATE_TEXT = TEMPLATE_PATH.read_text()
TEMPLATE = cfn_yaml.loads(TEMPLATE_TEXT)

# Not the defaults, so a name hard-coded in the template instead of its parameter shows.
DEPLOYMENT, PREFIX, BUCKET, REGION = "shop", "recs/daily", "shop-recs", "us-east-1"
ENGINE_ACCOUNT = "000000000000"  # the local engine's ARNs (recsys_assets/engine/core.py)
MOTO_ACCOUNT = "123456789012"  # moto's
SERVICE = "personalize.amazonaws.com"
PARAMETERS = {"Deployment": DEPLOYMENT, "Prefix": PREFIX}
NO_REPURCHASE = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")'


# ---- the template, rendered as CloudFormation would for given parameters ------------------------------------

_NO_VALUE = object()


class Stack:
    """Parameters, conditions and intrinsic functions resolved; physical names made up where AWS picks them."""

    def __init__(self, parameters: dict[str, str] | None = None, *, account: str = ENGINE_ACCOUNT,
                 region: str = REGION, bucket_name: str = BUCKET, template: dict = TEMPLATE):
        self.template = template
        self.params = {name: str(spec.get("Default", "")) for name, spec in self.template["Parameters"].items()}
        self.params.update(PARAMETERS | (parameters or {}))
        unknown = set(self.params) - set(self.template["Parameters"])
        assert not unknown, f"no such parameters: {unknown}"
        for name, value in self.params.items():
            pattern = self.template["Parameters"][name].get("AllowedPattern")
            assert pattern is None or re.fullmatch(pattern, value), f"{name}={value!r} is refused by the template"
        self.pseudo = {"AWS::Partition": "aws", "AWS::Region": region, "AWS::AccountId": account,
                       "AWS::StackName": f"recsys-{self.params['Deployment']}", "AWS::URLSuffix": "amazonaws.com"}
        self.account, self.bucket_name = account, bucket_name

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    @property
    def resources(self) -> dict[str, dict]:
        return {name: {"Type": r["Type"], "Properties": self.resolve(r.get("Properties", {}))}
                for name, r in self.template["Resources"].items()
                if "Condition" not in r or self.condition(r["Condition"])}

    @property
    def outputs(self) -> dict[str, str]:
        return {name: self.resolve(o["Value"]) for name, o in self.template["Outputs"].items()
                if "Condition" not in o or self.condition(o["Condition"])}

    def properties(self, logical: str) -> dict:
        return self.resolve(self.template["Resources"][logical]["Properties"])

    def ref(self, name: str) -> str:
        if name in self.params:
            return self.params[name]
        if name in self.pseudo:
            return self.pseudo[name]
        if name == "AWS::NoValue":
            return _NO_VALUE
        kind = self.template["Resources"][name]["Type"]
        if kind == "AWS::S3::Bucket":
            return self.bucket_name
        if kind == "AWS::IAM::Role":
            return self.properties(name)["RoleName"]
        if kind == "AWS::IAM::ManagedPolicy":
            return f"arn:aws:iam::{self.account}:policy/{self.properties(name)['ManagedPolicyName']}"
        return f"{name}-physical-id"

    def getatt(self, name: str, attribute: str) -> str:
        if self.template["Resources"][name]["Type"] == "AWS::IAM::Role" and attribute == "Arn":
            return f"arn:aws:iam::{self.account}:role/{self.ref(name)}"
        raise NotImplementedError(f"GetAtt {name}.{attribute}")

    def resolve(self, node):
        if isinstance(node, list):
            return [v for v in (self.resolve(item) for item in node) if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (fn, arg), = node.items()
            if fn == "Ref":
                return self.ref(arg)
            if fn == "Condition":
                return self.condition(arg)
            if fn == "Fn::If":
                return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
            if fn == "Fn::Equals":
                return self.resolve(arg[0]) == self.resolve(arg[1])
            if fn == "Fn::Not":
                return not self.resolve(arg[0])
            if fn == "Fn::And":
                return all(self.resolve(a) for a in arg)
            if fn == "Fn::Or":
                return any(self.resolve(a) for a in arg)
            if fn == "Fn::Select":
                return self.resolve(arg[1])[int(self.resolve(arg[0]))]
            if fn == "Fn::Split":
                return self.resolve(arg[1]).split(arg[0])
            if fn == "Fn::Join":
                return arg[0].join(self.resolve(arg[1]))
            if fn == "Fn::GetAtt":
                name, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.getatt(name, attribute)
            if fn == "Fn::Sub":
                return self.sub(*(arg if isinstance(arg, list) else [arg, {}]))
            assert not fn.startswith("Fn::"), f"the test's renderer does not know {fn}"
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in node.items()) if v is not _NO_VALUE}

    def sub(self, text: str, variables: dict) -> str:
        values = {k: self.resolve(v) for k, v in variables.items()}

        def one(m: re.Match) -> str:
            if m.group(1):
                return "${" + m.group(2) + "}"
            name = m.group(2)
            if name in values:
                return str(values[name])
            if name in self.params or name in self.pseudo:
                return self.ref(name)
            if "." in name:
                return self.getatt(*name.split(".", 1))
            return self.ref(name)

        return re.sub(r"\$\{(!?)([^}]+)\}", one, text)

    # -- what the stack creates, by role
    def statements(self, logical: str) -> list[dict]:
        props = self.resources[logical]["Properties"]
        if "PolicyDocument" in props:
            return _statements(props["PolicyDocument"])
        return [st for policy in props.get("Policies", []) for st in _statements(policy["PolicyDocument"])]

    @property
    def role_arn(self) -> str:
        return self.getatt("ServiceRole", "Arn")


def _statements(document: dict) -> list[dict]:
    statements = document["Statement"]
    return [statements] if isinstance(statements, dict) else list(statements)


def _listed(value) -> list:
    return [value] if isinstance(value, (str, bool)) else list(value or [])


# ---- IAM's evaluation of one request against identity or resource policies ----------------------------------

def _matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcards: * any run of characters (':' and '/' included), ? one character."""
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, re.S | (re.I if ignore_case else 0)) is not None


def _condition_holds(condition: dict, context: dict[str, str]) -> bool:
    for operator, tests in condition.items():
        for key, wanted in tests.items():
            value = {k.lower(): v for k, v in context.items()}.get(key.lower())
            wanted = [str(w).lower() if isinstance(w, bool) else str(w) for w in _listed(wanted)]
            if value is None:
                return False  # a key the request lacks fails every operator used here (no ...IfExists)
            if operator in ("StringEquals", "ArnEquals"):
                ok = value in wanted
            elif operator in ("StringLike", "ArnLike"):
                ok = any(_matches(w, value) for w in wanted)
            elif operator == "Bool":
                ok = value.lower() in [w.lower() for w in wanted]
            else:
                raise AssertionError(f"the test's evaluator does not know the operator {operator}")
            if not ok:
                return False
    return True


def _statement_applies(st: dict, action: str, resource: str, context: dict, principal: str | None) -> bool:
    if principal is not None:
        who = st.get("Principal")
        if who != "*" and principal not in _listed((who or {}).get("Service")):
            return False
    if not any(_matches(a, action, ignore_case=True) for a in _listed(st["Action"])):
        return False
    # A trust policy's statements have no Resource: the role they sit on is the resource.
    if "Resource" in st and not any(_matches(r, resource) for r in _listed(st["Resource"])):
        return False
    return _condition_holds(st.get("Condition", {}), context)


def allowed(statements: list[dict], action: str, resource: str, context: dict | None = None, *,
            principal: str | None = None) -> bool:
    """An Allow applies and no Deny does (``principal``: a service, for resource policies)."""
    context = {"aws:SecureTransport": "true", **(context or {})}
    applies = [st for st in statements if _statement_applies(st, action, resource, context, principal)]
    return any(st["Effect"] == "Allow" for st in applies) and not any(st["Effect"] == "Deny" for st in applies)


# ---- 1. cfn-lint ---------------------------------------------------------------------------------------------

def test_template_passes_cfn_lint_offline(monkeypatch):
    """No error and no warning (W3037 flags IAM actions that do not exist), in two regions, with no network."""
    def no_network(*args, **kwargs):
        raise AssertionError("cfn-lint tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    matches = cfnlint_api.lint(TEMPLATE_TEXT, regions=["us-east-1", "eu-west-1"])
    assert [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches] == []


def test_cfn_lint_catches_a_broken_template():
    """The lint test can fail: a misspelt property and a non-existent IAM action are reported."""
    broken = TEMPLATE_TEXT.replace("ExpirationInDays:", "ExpirationDays:").replace(
        "personalize:DescribeSchema\n", "personalize:DescribeSchemata\n")
    assert {m.rule.id for m in cfnlint_api.lint(broken, regions=["us-east-1"])} >= {"E3002", "W3037"}


# ---- 2. security properties ----------------------------------------------------------------------------------

def test_service_role_trusts_only_personalize_for_this_account_and_region():
    stack = Stack()
    trust, = _statements(stack.resources["ServiceRole"]["Properties"]["AssumeRolePolicyDocument"])
    assert trust["Principal"] == {"Service": SERVICE} and trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ENGINE_ACCOUNT},
        "ArnLike": {"aws:SourceArn": f"arn:aws:personalize:{REGION}:{ENGINE_ACCOUNT}:*"}}
    personalize_here = {"aws:SourceAccount": ENGINE_ACCOUNT,
                        "aws:SourceArn": f"arn:aws:personalize:{REGION}:{ENGINE_ACCOUNT}:dataset-import-job/x"}
    assert allowed([trust], "sts:AssumeRole", stack.role_arn, personalize_here, principal=SERVICE)
    # the confused deputy: Personalize acting for another account, or from another region
    assert not allowed([trust], "sts:AssumeRole", stack.role_arn, {**personalize_here, "aws:SourceAccount": "999"},
                       principal=SERVICE)
    assert not allowed([trust], "sts:AssumeRole", stack.role_arn, {**personalize_here, "aws:SourceArn":
                       f"arn:aws:personalize:eu-west-1:{ENGINE_ACCOUNT}:dataset-import-job/x"}, principal=SERVICE)


@pytest.mark.parametrize("kms", [False, True])
def test_service_role_may_read_and_write_the_prefix_only(kms):
    key = f"arn:aws:kms:{REGION}:{ENGINE_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    stack = Stack({"KmsKeyArn": key} if kms else {})
    role = stack.statements("ServiceRole")
    bucket_arn, objects = f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/{PREFIX}"
    assert allowed(role, "s3:ListBucket", bucket_arn)
    assert allowed(role, "s3:GetObject", f"{objects}/run/users.csv")
    assert allowed(role, "s3:PutObject", f"{objects}/run/batch/input.json.out")
    assert not allowed(role, "s3:GetObject", f"arn:aws:s3:::{BUCKET}/elsewhere/users.csv")
    assert not allowed(role, "s3:DeleteObject", f"{objects}/run/users.csv")
    assert not allowed(role, "s3:GetObject", f"arn:aws:s3:::another-bucket/{PREFIX}/run/users.csv")
    kms_actions = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:ListGrants"]
    assert [allowed(role, a, key) for a in kms_actions] == [kms] * 4


def test_pipeline_policy_names_each_action_and_uses_resource_star_only_where_aws_requires_it():
    """No service wildcard, no action wildcard; Resource "*" only for actions that have no resource type in the
    Service Authorization Reference (cfn-lint ships it: its Policies.json), i.e. Personalize's List* actions."""
    reference = json.loads(package_files.files("cfnlint.data.AdditionalSpecs").joinpath("Policies.json").read_text())
    key = f"arn:aws:kms:{REGION}:{ENGINE_ACCOUNT}:key/abc"
    for kms in (False, True):
        stack = Stack({"KmsKeyArn": key} if kms else {})
        ours = (f"arn:aws:personalize:{REGION}:{ENGINE_ACCOUNT}:", "arn:aws:personalize:::recipe/",
                f"arn:aws:s3:::{BUCKET}", stack.role_arn, key)
        for st in stack.statements("PipelinePolicy"):
            assert st["Effect"] == "Allow" and "NotAction" not in st and "NotResource" not in st
            actions = _listed(st["Action"])
            assert not [a for a in actions if "*" in a or "?" in a], st["Sid"]
            if "*" in _listed(st["Resource"]):
                needs_star = [a for a in actions
                              if not reference[a.split(":")[0]]["Actions"][a.split(":")[1].lower()].get("Resources")]
                assert actions == needs_star, f"{st['Sid']}: Resource * for actions that take a resource"
                assert all(a.startswith("personalize:List") for a in actions)
            else:  # this account and region's Personalize, AWS's recipes, the bucket, the role, the key
                assert [r for r in _listed(st["Resource"]) if not r.startswith(ours)] == [], st["Sid"]


def test_pass_role_is_only_the_service_role_and_only_to_personalize():
    stack = Stack()
    pipeline = stack.statements("PipelinePolicy")
    passing = [st for st in pipeline if "iam:PassRole" in _listed(st["Action"])]
    assert len(passing) == 1 and _listed(passing[0]["Resource"]) == [stack.role_arn]
    assert passing[0]["Condition"] == {"StringEquals": {"iam:PassedToService": SERVICE}}
    assert allowed(pipeline, "iam:PassRole", stack.role_arn, {"iam:PassedToService": SERVICE})
    assert not allowed(pipeline, "iam:PassRole", stack.role_arn, {"iam:PassedToService": "ec2.amazonaws.com"})
    assert not allowed(pipeline, "iam:PassRole", f"arn:aws:iam::{ENGINE_ACCOUNT}:role/Admin",
                       {"iam:PassedToService": SERVICE})
    # the raw template: the role's own ARN, not a typed-in one
    raw = next(st for st in TEMPLATE["Resources"]["PipelinePolicy"]["Properties"]["PolicyDocument"]["Statement"]
               if isinstance(st, dict) and st.get("Action") == "iam:PassRole")
    assert raw["Resource"] == {"Fn::GetAtt": ["ServiceRole", "Arn"]}


def test_pipeline_may_create_and_delete_only_under_its_deployment_name():
    pipeline = Stack().statements("PipelinePolicy")
    here = f"arn:aws:personalize:{REGION}:{ENGINE_ACCOUNT}"
    assert allowed(pipeline, "personalize:CreateDatasetGroup", f"{here}:dataset-group/{DEPLOYMENT}-1a2b3c4d")
    assert allowed(pipeline, "personalize:DeleteSolution", f"{here}:solution/{DEPLOYMENT}-1a2b3c4d-0f0f0f0f")
    assert not allowed(pipeline, "personalize:DeleteDatasetGroup", f"{here}:dataset-group/someone-elses-group")
    assert not allowed(pipeline, "personalize:CreateDatasetGroup", f"arn:aws:personalize:eu-west-1:{ENGINE_ACCOUNT}"
                                                                    f":dataset-group/{DEPLOYMENT}-1a2b3c4d")
    assert not allowed(pipeline, "personalize:CreateCampaign", f"{here}:campaign/{DEPLOYMENT}-1a2b3c4d")
    # reading tags stays account-wide: the cleanup must see that a foreign group is foreign
    assert allowed(pipeline, "personalize:ListTagsForResource", f"{here}:dataset-group/someone-elses-group")


def test_bucket_is_private_encrypted_and_expires_run_files():
    for kms in (False, True):
        key = f"arn:aws:kms:{REGION}:{ENGINE_ACCOUNT}:key/abc"
        bucket = Stack({"KmsKeyArn": key} if kms else {}, bucket_name=BUCKET).resources["Bucket"]["Properties"]
        assert bucket["PublicAccessBlockConfiguration"] == {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                            "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
        default, = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert default["ServerSideEncryptionByDefault"] == (
            {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key} if kms else {"SSEAlgorithm": "AES256"})
        assert "VersioningConfiguration" not in bucket  # expired objects must not linger as noncurrent versions
        assert {"Key": "recsys:deployment", "Value": DEPLOYMENT} in bucket["Tags"]
    rules = Stack({"RunFilesRetentionDays": "3"}).resources["Bucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert all(r["Status"] == "Enabled" for r in rules)
    expiry = [r for r in rules if "ExpirationInDays" in r]
    assert [(r["Prefix"], str(r["ExpirationInDays"])) for r in expiry] == [(f"{PREFIX}/", "3")]
    assert [r["AbortIncompleteMultipartUpload"] for r in rules if "AbortIncompleteMultipartUpload" in r] == [
        {"DaysAfterInitiation": 1}]


def test_a_given_bucket_is_not_created_but_gets_the_policy():
    stack = Stack({"BucketName": "existing-bucket"})
    assert "Bucket" not in stack.resources
    assert stack.resources["BucketPolicy"]["Properties"]["Bucket"] == "existing-bucket"
    assert stack.outputs["BucketName"] == "existing-bucket"
    assert allowed(stack.statements("PipelinePolicy"), "s3:PutObject", f"arn:aws:s3:::existing-bucket/{PREFIX}/r/x")
    assert allowed(stack.statements("ServiceRole"), "s3:ListBucket", "arn:aws:s3:::existing-bucket")


def test_bucket_policy_grants_personalize_list_on_the_bucket_and_objects_under_the_prefix_over_tls():
    policy = Stack().statements("BucketPolicy")
    bucket_arn = f"arn:aws:s3:::{BUCKET}"
    service = {"aws:SourceAccount": ENGINE_ACCOUNT}
    listing = [st for st in policy if st["Effect"] == "Allow" and "s3:ListBucket" in _listed(st["Action"])]
    assert listing and all(_listed(st["Resource"]) == [bucket_arn] for st in listing)  # the bucket, not bucket/*
    assert allowed(policy, "s3:ListBucket", bucket_arn, service, principal=SERVICE)
    for action in ("s3:GetObject", "s3:PutObject"):
        assert allowed(policy, action, f"{bucket_arn}/{PREFIX}/run/x.csv", service, principal=SERVICE)
        assert not allowed(policy, action, f"{bucket_arn}/other/x.csv", service, principal=SERVICE)
        assert not allowed(policy, action, f"{bucket_arn}/{PREFIX}/run/x.csv", {"aws:SourceAccount": "999"},
                           principal=SERVICE)
    assert not allowed(policy, "s3:DeleteObject", f"{bucket_arn}/{PREFIX}/run/x.csv", service, principal=SERVICE)
    # plain HTTP is refused to everyone, whatever else allows it
    assert not allowed(policy, "s3:GetObject", f"{bucket_arn}/{PREFIX}/run/x.csv",
                       {**service, "aws:SecureTransport": "false"}, principal=SERVICE)


def test_budget_only_with_an_address_filtered_by_the_deployment_tag():
    assert "Budget" not in Stack().resources
    budget = Stack({"BudgetAlertEmail": "ops@example.com", "MonthlyBudgetUsd": "25"}).resources["Budget"]["Properties"]
    data = budget["Budget"]
    assert (data["BudgetType"], data["TimeUnit"], str(data["BudgetLimit"]["Amount"]), data["BudgetLimit"]["Unit"]) == (
        "COST", "MONTHLY", "25", "USD")
    assert data["CostFilters"] == {"TagKeyValue": [f"user:recsys:deployment${DEPLOYMENT}"]}
    assert sorted((n["Notification"]["NotificationType"], n["Notification"]["Threshold"],
                   n["Notification"]["ThresholdType"], n["Notification"]["ComparisonOperator"],
                   tuple((s["SubscriptionType"], s["Address"]) for s in n["Subscribers"]))
                  for n in budget["NotificationsWithSubscribers"]) == [
        ("ACTUAL", 80, "PERCENTAGE", "GREATER_THAN", (("EMAIL", "ops@example.com"),)),
        ("FORECASTED", 100, "PERCENTAGE", "GREATER_THAN", (("EMAIL", "ops@example.com"),))]


@pytest.mark.parametrize("principal, attached", [
    ("", {}),
    (f"arn:aws:iam::{ENGINE_ACCOUNT}:role/dagster-runner", {"Roles": ["dagster-runner"]}),
    (f"arn:aws:iam::{ENGINE_ACCOUNT}:user/recsys-ci", {"Users": ["recsys-ci"]}),
])
def test_pipeline_policy_is_attached_to_the_principal_if_given(principal, attached):
    props = Stack({"PipelinePrincipalArn": principal}).resources["PipelinePolicy"]["Properties"]
    assert {k: props[k] for k in ("Roles", "Users", "Groups") if k in props} == attached


def test_outputs_are_the_pipeline_settings():
    stack = Stack()
    outputs = stack.outputs
    assert outputs["ServiceRoleArn"] == stack.role_arn
    assert outputs["BucketName"] == BUCKET
    assert outputs["PipelinePolicyArn"].startswith(f"arn:aws:iam::{ENGINE_ACCOUNT}:policy/{DEPLOYMENT}-")
    settings = dict(kv.split("=", 1) for kv in outputs["Environment"].removeprefix("export ").split())
    assert settings == {"RECSYS_BACKEND": "aws", "RECSYS_AWS_REGION": REGION, "RECSYS_DEPLOYMENT": DEPLOYMENT,
                        "RECSYS_S3_BUCKET": BUCKET, "RECSYS_S3_PREFIX": PREFIX,
                        "RECSYS_PERSONALIZE_ROLE_ARN": stack.role_arn}


# ---- 3. the policies cover the code --------------------------------------------------------------------------
# Recorded requests: (service, operation, params, response). Each maps to the IAM actions and resources AWS
# authorizes it against; each must be allowed by the rendered pipeline policy.

def _recorder(service: str, calls: list):
    """Handlers recording each request a boto3 client makes (its parameters, then its response)."""
    def before(params, model, **_):
        calls.append([service, model.name, dict(params), None])

    def after(parsed, model, **_):
        for call in reversed(calls):
            if call[0] == service and call[1] == model.name and call[3] is None:
                call[3] = parsed
                return

    return before, after


def record(client, calls: list):
    service = client.meta.service_model.endpoint_prefix
    before, after = _recorder(service, calls)
    client.meta.events.register(f"before-parameter-build.{service}", before)
    client.meta.events.register(f"after-call.{service}", after)
    return client


_NOT_RESOURCES = {"roleArn", "kmsKeyArn"}  # passed on, not acted on: iam:PassRole covers the role


def personalize_requests(op: str, params: dict, response: dict | None) -> list[tuple[str, str, dict]]:
    """(action, resource, condition context) IAM checks for one Personalize call. List* actions have no
    resource type (Resource "*"); every other call is checked against every ARN it names and the ARN it
    creates, which is stricter than AWS (it checks the ones the action's resource types name)."""
    action = f"personalize:{op}"
    if op.startswith("List") and op != "ListTagsForResource":
        return [(action, "*", {})]
    arns = {v for k, v in params.items() if k.lower().endswith("arn") and k not in _NOT_RESOURCES
            and isinstance(v, str)}
    created = {v for k, v in (response or {}).items() if k.endswith("Arn") and isinstance(v, str)}
    needs = [(action, arn, {}) for arn in sorted(arns | (created if op.startswith("Create") else set()))]
    if op.startswith("Create") and params.get("tags"):  # tag on create is personalize:TagResource as well
        needs += [("personalize:TagResource", arn, {}) for arn in sorted(created)]
    if "roleArn" in params:
        needs.append(("iam:PassRole", params["roleArn"], {"iam:PassedToService": SERVICE}))
    return needs


# https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html
S3_ACTIONS = {
    "ListObjectsV2": "s3:ListBucket", "ListObjects": "s3:ListBucket", "HeadBucket": "s3:ListBucket",
    "HeadObject": "s3:GetObject", "GetObject": "s3:GetObject",
    "PutObject": "s3:PutObject", "CreateMultipartUpload": "s3:PutObject", "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject", "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "DeleteObject": "s3:DeleteObject", "DeleteObjects": "s3:DeleteObject",
    "GetBucketLocation": "s3:GetBucketLocation", "GetBucketPolicy": "s3:GetBucketPolicy",
    "GetBucketEncryption": "s3:GetEncryptionConfiguration",
}


def s3_requests(op: str, params: dict) -> list[tuple[str, str, dict]]:
    assert op in S3_ACTIONS, f"S3 {op}: add the IAM action it needs to S3_ACTIONS (and to the template)"
    bucket = f"arn:aws:s3:::{params['Bucket']}"
    if op == "DeleteObjects":
        return [(S3_ACTIONS[op], f"{bucket}/{o['Key']}", {}) for o in params["Delete"]["Objects"]]
    if "Key" in params:
        return [(S3_ACTIONS[op], f"{bucket}/{params['Key']}", {})]
    return [(S3_ACTIONS[op], bucket, {"s3:prefix": params["Prefix"]} if "Prefix" in params else {})]


def other_requests(service: str, op: str, params: dict) -> list[tuple[str, str, dict]]:
    if service == "iam" and op == "GetRole":
        return [("iam:GetRole", f"arn:aws:iam::{MOTO_ACCOUNT}:role/{params['RoleName']}", {})]
    if service == "iam" and op == "SimulatePrincipalPolicy":
        return [("iam:SimulatePrincipalPolicy", params["PolicySourceArn"], {})]
    if service == "kms" and op in ("DescribeKey", "GetKeyPolicy"):
        return [(f"kms:{op}", params["KeyId"], {})]
    raise AssertionError(f"{service} {op}: map it to the IAM action it needs (and grant that in the template)")


def refused(stack: Stack, calls: list) -> list[str]:
    """The recorded calls the stack's pipeline policy would refuse, one line each."""
    policy, out = stack.statements("PipelinePolicy"), []
    for service, op, params, response in calls:
        needs = (personalize_requests(op, params, response) if service == "personalize" else
                 s3_requests(op, params) if service == "s3" else other_requests(service, op, params))
        out += [f"{service}.{op} needs {action} on {resource}" + (f" with {context}" if context else "")
                for action, resource, context in needs if not allowed(policy, action, resource, context)]
    return sorted(set(out))


def test_coverage_check_can_fail():
    """Removing an action from the template, or a call outside the prefix, is caught."""
    stack = Stack()
    group = f"arn:aws:personalize:{REGION}:{ENGINE_ACCOUNT}:dataset-group/{DEPLOYMENT}-1a2b3c4d"
    calls = [["personalize", "DescribeDatasetGroup", {"datasetGroupArn": group}, {}],
             ["s3", "PutObject", {"Bucket": BUCKET, "Key": f"{PREFIX}/r/users.csv"}, {}]]
    assert refused(stack, calls) == []
    without = cfn_yaml.loads(TEMPLATE_TEXT.replace("              - personalize:DescribeDatasetGroup\n", ""))
    assert refused(Stack(template=without), calls) == [
        f"personalize.DescribeDatasetGroup needs personalize:DescribeDatasetGroup on {group}"]
    outside = [["s3", "PutObject", {"Bucket": BUCKET, "Key": "elsewhere/users.csv"}, {}]]
    assert refused(stack, outside) == [f"s3.PutObject needs s3:PutObject on arn:aws:s3:::{BUCKET}/elsewhere/users.csv"]


@pytest.fixture
def fake_aws(monkeypatch, tmp_path):
    """moto, with fake credentials and no shared config: nothing can reach a real account."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


# -- the whole graph and its cleanup, recorded

CALLS: list = []  # what the pipeline's clients sent during the graph run and its cleanup


class RecordedPersonalize(LocalPersonalizeResource):
    """The local engine's client, with every request recorded."""

    def get_client(self):
        return record(super().get_client(), CALLS)


_S3: dict = {}  # the moto clients of the bridged store: "pipeline" (recorded) and "sync" (not)


class _BridgedStore(S3ObjectStore):
    """The pipeline's S3, in moto. The local engine's worker processes (Personalize's side) cannot see moto, so
    each object the pipeline writes is copied into the directory they read, and what they write there is put
    into moto before the pipeline looks; those copies use an unrecorded client."""

    def __init__(self, mirror: LocalObjectStore):
        super().__init__(_S3["pipeline"], region_name=REGION)
        self.mirror, self.sync = mirror, _S3["sync"]

    def _pull(self, prefix_uri: str) -> None:
        for uri in self.mirror.list(prefix_uri):
            bucket, key = split_uri(uri)
            listed = self.sync.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", [])
            if key not in {o["Key"] for o in listed}:
                self.sync.put_object(Bucket=bucket, Key=key, Body=self.mirror.read_bytes(uri))

    def open_read(self, uri):
        self._pull(uri)
        return super().open_read(uri)

    def size(self, uri):
        self._pull(uri)
        return super().size(uri)

    def list(self, prefix_uri):
        self._pull(prefix_uri)
        return super().list(prefix_uri)

    @contextlib.contextmanager
    def open_write(self, uri):
        with super().open_write(uri) as f:
            yield f
        bucket, key = split_uri(uri)
        self.mirror.write_bytes(uri, self.sync.get_object(Bucket=bucket, Key=key)["Body"].read())

    def delete(self, uri):
        super().delete(uri)
        self.mirror.delete(uri)

    def delete_prefix(self, prefix_uri):
        found = super().delete_prefix(prefix_uri)
        for uri in found:
            self.mirror.delete(uri)
        return found


class BridgedObjectStoreResource(ObjectStoreResource):
    local_root: str

    def get_store(self):
        return _BridgedStore(LocalObjectStore(Path(self.local_root, "s3")))


@pytest.fixture
def recorded_run(fake_aws, tmp_path, small_shop_template):
    """Materialize the whole graph, then its cleanup and an orphan sweep, with every request recorded."""
    root = tmp_path / ".recsys"
    root.mkdir()
    shutil.copy(small_shop_template, root / "demo.db")
    stack = Stack()
    resources = build_resources({"RECSYS_LOCAL_ROOT": str(root)})  # the demo shop's database under it
    _S3.update(pipeline=record(fake_aws.client("s3"), CALLS), sync=fake_aws.client("s3"))
    _S3["sync"].create_bucket(Bucket=BUCKET)
    store = BridgedObjectStoreResource(bucket=BUCKET, prefix=PREFIX, local_root=str(root))
    engine = resources["personalize"]
    personalize = RecordedPersonalize(**{name: getattr(engine, name) for name in type(engine).model_fields
                                         if name != "object_store"}
                                      | {"deployment": DEPLOYMENT, "role_arn": stack.role_arn,
                                         "local_transition_seconds": 0.0, "poll_interval_seconds": 0.05,
                                         "poll_max_interval_seconds": 0.2,
                                         "object_store": LocalObjectStoreResource(bucket=BUCKET, prefix=PREFIX,
                                                                                  local_root=str(root))})
    resources |= {"personalize": personalize, "object_store": store}
    # Someone else's group in the same account: the sweep reads its tags to leave it alone.
    foreign = LocalPersonalizeResource(local_root=str(root), object_store=personalize.object_store).get_client()
    foreign.create_dataset_group(name="someone-elses-group", tags=[{"tagKey": "team", "tagValue": "search"}])
    CALLS.clear()
    with dg.instance_for_test() as instance:
        # With a filter, so CreateFilter and DeleteFilter are among the calls.
        result = dg.materialize(ALL_ASSETS + ALL_CHECKS, resources=resources, instance=instance, run_config={
            "ops": {"batch_output": {"config": {"num_results": 10, "filter_expression": NO_REPURCHASE}}}})
        assert result.success
        cleanup = cleanup_job.execute_in_process(run_config=cleanup_run_config(result.run_id), instance=instance,
                                                 resources=resources)
        assert cleanup.success
        resources["guardrails"] = with_fields(resources["guardrails"], orphan_max_age_hours=0.0)
        sweep = cleanup_job.execute_in_process(run_config=cleanup_run_config(sweep=True), instance=instance,
                                               resources=resources)
        assert sweep.success
    calls = list(CALLS)
    CALLS.clear()
    return stack, calls


def test_pipeline_policy_allows_every_call_of_a_whole_run_and_its_cleanup(recorded_run):
    stack, calls = recorded_run
    operations = {(service, op) for service, op, _, _ in calls}
    # the run really went through training, batch inference and the ordered teardown, and touched S3
    assert {("personalize", op) for op in ("CreateDatasetImportJob", "CreateSolutionVersion", "CreateFilter",
                                           "CreateBatchInferenceJob", "DeleteFilter", "DeleteDatasetGroup",
                                           "DeleteSchema", "ListTagsForResource")} <= operations
    assert {("s3", "PutObject"), ("s3", "GetObject"), ("s3", "HeadObject")} <= operations
    assert refused(stack, calls) == []


def test_every_personalize_action_of_the_policy_is_one_the_code_calls():
    """Least privilege the other way round: each Personalize action in the policy is an operation of the
    pipeline's code (a client.<operation>(...) call in workflow/, or a ResourceType's describe/list/delete),
    plus TagResource, which tagging on create needs."""
    client = boto3.session.Session().client("personalize", region_name=REGION, aws_access_key_id="x",
                                            aws_secret_access_key="x")
    api = client.meta.method_to_api_mapping
    package = Path(__file__).resolve().parents[1] / "recsys_assets"
    called = {m for path in (package / "workflow").glob("*.py")
              for m in re.findall(r"client\.([a-z_]+)\(", path.read_text()) if m in api}
    for rtype in (v for v in vars(rt).values() if isinstance(v, rt.ResourceType)):
        # teardown deletes only what carries our tags
        deletes = (f"delete_{rtype.noun}",) if rtype.taggable else ()
        called |= {m for m in (f"describe_{rtype.noun}", f"list_{rtype.noun}s", *deletes) if m in api}
    in_code = {f"personalize:{api[m]}" for m in called} | {"personalize:TagResource"}
    in_policy = {a for st in Stack().statements("PipelinePolicy") for a in _listed(st["Action"])
                 if a.startswith("personalize:")}
    assert sorted(in_policy - in_code) == [], "actions the code never calls"
    assert sorted(in_code - in_policy) == [], "operations the code calls that the policy does not allow"


# -- the S3 object store and the AWS preflight, every path

def _key_policy(stack: Stack) -> str:
    """The key policy the README asks for: the account administers it, Personalize and its role may use it."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Account", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MOTO_ACCOUNT}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "Personalize", "Effect": "Allow", "Principal": {"Service": SERVICE, "AWS": stack.role_arn},
         "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant", "kms:ListGrants"],
         "Resource": "*"}]})


def answer_simulations(iam, stack: Stack) -> None:
    """iam:SimulatePrincipalPolicy (moto has none), answered from the stack's own role policy."""
    request = {}

    def remember(params, **_):
        request.update(params)

    def simulate(**_):
        role = stack.statements("ServiceRole")
        context = {e["ContextKeyName"]: e["ContextKeyValues"][0] for e in request.get("ContextEntries", [])}
        results = [{"EvalActionName": a, "EvalResourceName": r,
                    "EvalDecision": "allowed" if allowed(role, a, r, context) else "implicitDeny"}
                   for a in request["ActionNames"] for r in request.get("ResourceArns", ["*"])]
        return SimpleNamespace(status_code=200, headers={}), {"EvaluationResults": results, "IsTruncated": False}

    iam.meta.events.register("before-parameter-build.iam.SimulatePrincipalPolicy", remember)
    iam.meta.events.register("before-call.iam.SimulatePrincipalPolicy", simulate)


@pytest.mark.parametrize("kms", [False, True])
def test_pipeline_policy_allows_what_the_object_store_and_preflight_do(fake_aws, kms):
    calls: list = []
    sync = fake_aws.client("s3")
    key_arn = fake_aws.client("kms").create_key()["KeyMetadata"]["Arn"] if kms else None
    stack = Stack({"KmsKeyArn": key_arn} if kms else {}, account=MOTO_ACCOUNT)
    if kms:
        fake_aws.client("kms").put_key_policy(KeyId=key_arn, PolicyName="default", Policy=_key_policy(stack))
    # the stack, as CloudFormation would create it in moto
    role = stack.resources["ServiceRole"]["Properties"]
    fake_aws.client("iam").create_role(RoleName=role["RoleName"],
                                       AssumeRolePolicyDocument=json.dumps(role["AssumeRolePolicyDocument"]))
    bucket = stack.resources["Bucket"]["Properties"]
    sync.create_bucket(Bucket=BUCKET)
    sync.put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"]}
        for r in bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]]})
    bucket_policy = stack.resources["BucketPolicy"]["Properties"]["PolicyDocument"]
    sync.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(bucket_policy))

    s3, iam, kms_client = (record(fake_aws.client(name), calls) for name in ("s3", "iam", "kms"))
    answer_simulations(iam, stack)
    preflight = run_preflight(s3, iam, kms_client, bucket=BUCKET, prefix=PREFIX, region=REGION,
                              role_arn=stack.role_arn)
    assert (preflight.problems, preflight.unverified) == ([], [])
    # moto would evaluate the policy's TLS Deny on its in-process requests, which carry no aws:SecureTransport
    sync.delete_bucket_policy(Bucket=BUCKET)

    store = S3ObjectStore(s3, region_name=REGION)
    run = join_uri(BUCKET, f"{PREFIX}/run-1/")
    store.write_bytes(run + "users.csv", b"USER_ID\n1\n")
    store.write_bytes(run + "interactions.csv", b"x" * (9 * 1024 * 1024))  # over 8 MB: a multipart upload
    assert store.read_bytes(run + "users.csv") == b"USER_ID\n1\n" and store.size(run + "interactions.csv") > 0
    assert store.exists(run + "users.csv") and store.list(run) == [run + "interactions.csv", run + "users.csv"]
    with pytest.raises(FileNotFoundError):
        store.open_read(run + "missing.csv")

    def broken_part(**_):
        raise ConnectionError("network gone mid-upload")
    s3.meta.events.register("before-call.s3.UploadPart", broken_part)
    with pytest.raises(Exception):
        store.write_bytes(run + "items.csv", b"y" * (9 * 1024 * 1024))  # the failed upload is aborted
    s3.meta.events.unregister("before-call.s3.UploadPart", broken_part)
    store.delete(run + "users.csv")
    if hasattr(store, "delete_prefix"):
        store.delete_prefix(run)
    assert store.list(run) == []

    operations = {(service, op) for service, op, _, _ in calls}
    assert {("s3", op) for op in ("CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload",
                                  "AbortMultipartUpload", "HeadObject", "GetObject", "ListObjectsV2",
                                  "DeleteObject", "GetBucketPolicy", "GetBucketEncryption")} <= operations
    assert {("iam", "GetRole"), ("iam", "SimulatePrincipalPolicy")} <= operations
    assert kms == ({("kms", "DescribeKey"), ("kms", "GetKeyPolicy")} <= operations)
    assert refused(stack, calls) == []


def test_preflight_rejects_a_bucket_policy_without_the_prefix_grant(fake_aws):
    """The preflight check above can fail: a bucket policy granting Personalize only ListBucket is reported."""
    stack = Stack(account=MOTO_ACCOUNT)
    role = stack.resources["ServiceRole"]["Properties"]
    fake_aws.client("iam").create_role(RoleName=role["RoleName"],
                                       AssumeRolePolicyDocument=json.dumps(role["AssumeRolePolicyDocument"]))
    s3, iam = fake_aws.client("s3"), fake_aws.client("iam")
    s3.create_bucket(Bucket=BUCKET)
    document = stack.resources["BucketPolicy"]["Properties"]["PolicyDocument"]
    document = {**document, "Statement": [st for st in document["Statement"]
                                          if "s3:GetObject" not in _listed(st["Action"])]}
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(document))
    answer_simulations(iam, stack)
    problems = run_preflight(s3, iam, None, bucket=BUCKET, prefix=PREFIX, region=REGION,
                             role_arn=stack.role_arn).problems
    assert len(problems) == 1 and "does not allow personalize.amazonaws.com s3:GetObject" in problems[0]
