"""The AWS preflight against moto's S3, IAM and KMS, never the network.

moto does not implement iam:SimulatePrincipalPolicy, nor can it make S3 answer the legacy "EU" location
or a 403: ``answer`` serves one operation of a moto client from a function, with botocore still
validating our request against the service model and the canned response against its output shape
(what a Stubber does, for one operation only, so that every other call still reaches moto).
"""

import json

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber
from botocore.validate import validate_parameters
from moto import mock_aws

from recsys_assets.workflow.preflight import Preflight, run_preflight

ACCOUNT = "123456789012"  # moto's
ROLE = f"arn:aws:iam::{ACCOUNT}:role/PersonalizeS3"
BUCKET_ARN = "arn:aws:s3:::recs"
OBJECTS = "arn:aws:s3:::recs/recsys/*"
TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "personalize.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def answer(client, operation: str, respond) -> list[dict]:
    """Serve ``operation`` of ``client`` from ``respond(params) -> response`` (an ``{"Error": ...}`` fails);
    returns the params of each call."""
    model = client.meta.service_model.operation_model(operation)
    service, calls = client.meta.service_model.service_id.hyphenize(), []

    def reply(**_):
        response = respond(calls[-1])
        if "Error" in response:
            return AWSResponse("https://stub", int(response.pop("status", 400)), {}, None), response
        validate_parameters(response, model.output_shape)  # raises on a shape botocore would not return
        return AWSResponse("https://stub", 200, {}, None), response

    client.meta.events.register(f"before-parameter-build.{service}.{operation}", lambda params, **_: calls.append(
        dict(params)))
    client.meta.events.register(f"before-call.{service}.{operation}", reply)
    return calls


def simulator(iam, decisions: dict | None = None, **extra) -> list[dict]:
    """SimulatePrincipalPolicy answering ``decisions[action]`` (default allowed) for each action asked."""
    def respond(params):
        return {"IsTruncated": False, "EvaluationResults": [
            {"EvalActionName": a, "EvalResourceName": r, "EvalDecision": (decisions or {}).get(a, "allowed"),
             **({"MatchedStatements": [{"SourcePolicyId": "deny-writes"}]}
                if (decisions or {}).get(a) == "explicitDeny" else {}), **extra.get(a, {})}
            for a in params["ActionNames"] for r in params["ResourceArns"]]}
    return answer(iam, "SimulatePrincipalPolicy", respond)


def statement(actions, resources, effect="Allow", principal=None, **more):
    return {"Effect": effect, "Principal": principal or {"Service": "personalize.amazonaws.com"}, "Action": actions,
            "Resource": resources, **more}


def policy(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


GOOD = policy(statement(["s3:GetObject", "s3:PutObject"], "arn:aws:s3:::recs/*"),
              statement("s3:ListBucket", BUCKET_ARN))


@pytest.fixture
def aws(monkeypatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        s3, iam, kms = (boto3.client(name, region_name="eu-west-1") for name in ("s3", "iam", "kms"))
        s3.create_bucket(Bucket="recs", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        iam.create_role(RoleName="PersonalizeS3", AssumeRolePolicyDocument=json.dumps(TRUST))
        yield s3, iam, kms


def check(aws, region="eu-west-1", role_arn=ROLE, bucket="recs") -> Preflight:
    s3, iam, kms = aws
    return run_preflight(s3, iam, kms, bucket=bucket, prefix="recsys", region=region, role_arn=role_arn)


def test_a_correct_setup_passes_and_simulates_the_role_on_the_pipelines_prefix(aws):
    s3, iam, _ = aws
    s3.put_bucket_policy(Bucket="recs", Policy=GOOD)
    calls = simulator(iam)
    assert check(aws) == Preflight([], [])
    assert [(c["ActionNames"], c["ResourceArns"]) for c in calls] == [
        (["s3:GetObject", "s3:PutObject"], [OBJECTS]), (["s3:ListBucket"], [BUCKET_ARN])]
    assert {"ContextKeyName": "s3:prefix", "ContextKeyValues": ["recsys/"], "ContextKeyType": "string"} in calls[1][
        "ContextEntries"]


def test_the_role_arn_the_bucket_and_its_region_are_named(aws):
    s3, iam, kms = aws
    assert run_preflight(s3, iam, kms, bucket="recs", region="eu-west-1", role_arn=None).problems == [
        "RECSYS_PERSONALIZE_ROLE_ARN is not set: Personalize needs a role to read the bucket",
        "bucket 'recs' has no bucket policy; it must allow personalize.amazonaws.com s3:GetObject and s3:PutObject "
        "on arn:aws:s3:::recs/* and s3:ListBucket on arn:aws:s3:::recs"]
    s3.put_bucket_policy(Bucket="recs", Policy=GOOD)
    simulator(iam)
    problems = check(aws, region="us-east-1", role_arn="arn:aws:iam::12:role/x").problems
    assert problems[0].startswith("role ARN 'arn:aws:iam::12:role/x' is malformed")
    assert "is in eu-west-1, but Personalize runs in us-east-1" in problems[1]
    assert check(aws, bucket="missing").problems == ["bucket 'missing' does not exist"]
    answer(s3, "HeadBucket", lambda _: {"Error": {"Code": "403", "Message": "Forbidden"}, "status": 403})
    assert check(aws).problems == ["bucket 'recs' exists but the pipeline's credentials may not access it "
                                   "(HeadBucket: 403; it needs s3:ListBucket)"]


def test_list_bucket_granted_on_the_objects_only_is_refused(aws):
    s3, iam, _ = aws
    s3.put_bucket_policy(Bucket="recs", Policy=policy(statement(["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
                                                                "arn:aws:s3:::recs/*")))
    simulator(iam)
    assert check(aws).problems == ["the policy of bucket 'recs' does not allow personalize.amazonaws.com "
                                   "s3:ListBucket on arn:aws:s3:::recs"]


def test_a_deny_in_the_bucket_policy_wins(aws):
    s3, iam, _ = aws
    insecure = statement("s3:*", ["arn:aws:s3:::recs", "arn:aws:s3:::recs/*"], "Deny", "*", Sid="TlsOnly",
                         Condition={"Bool": {"aws:SecureTransport": "false"}})  # Personalize uses TLS: no effect
    s3.put_bucket_policy(Bucket="recs", Policy=policy(
        *json.loads(GOOD)["Statement"], insecure, statement("s3:PutObject", "arn:aws:s3:::recs/*", "Deny",
                                                            Sid="NoWrites")))
    simulator(iam)
    assert check(aws).problems == ["the policy of bucket 'recs' denies personalize.amazonaws.com s3:PutObject on "
                                   f"{OBJECTS} (statement NoWrites)"]
    # A Deny aimed at the role counts too, though only the service needs the bucket policy's Allow; one on
    # part of the pipeline's prefix may never meet its files.
    s3.put_bucket_policy(Bucket="recs", Policy=policy(*json.loads(GOOD)["Statement"], statement(
        "s3:Get*", "arn:aws:s3:::recs/*", "Deny", {"AWS": ROLE}, Sid="NoReads")))
    assert check(aws).problems == [f"the policy of bucket 'recs' denies role {ROLE} s3:GetObject on {OBJECTS} "
                                   "(statement NoReads)"]
    s3.put_bucket_policy(Bucket="recs", Policy=policy(*json.loads(GOOD)["Statement"], statement(
        "s3:Get*", "arn:aws:s3:::recs/recsys/secret/*", "Deny", {"AWS": ROLE}, Sid="Secrets")))
    assert check(aws) == Preflight([], [f"that the policy of bucket 'recs' lets role {ROLE} s3:GetObject on {OBJECTS} "
                                        f"could not be verified: statement Secrets covers only part of {OBJECTS}"])


def test_a_role_that_does_not_exist_or_does_not_trust_personalize_is_refused(aws):
    s3, iam, _ = aws
    s3.put_bucket_policy(Bucket="recs", Policy=GOOD)
    calls = simulator(iam)
    assert check(aws, role_arn=f"arn:aws:iam::{ACCOUNT}:role/Nobody").problems == [
        f"role arn:aws:iam::{ACCOUNT}:role/Nobody does not exist"]
    assert calls == []  # nothing simulated for a role that is not there
    iam.update_assume_role_policy(RoleName="PersonalizeS3", PolicyDocument=json.dumps(
        {**TRUST, "Statement": [{**TRUST["Statement"][0], "Principal": {"Service": "lambda.amazonaws.com"}}]}))
    assert check(aws).problems == [f"the trust policy of role {ROLE} does not let personalize.amazonaws.com "
                                   "assume it"]


def test_the_roles_own_explicit_deny_is_refused_with_the_action(aws):
    s3, iam, _ = aws
    s3.put_bucket_policy(Bucket="recs", Policy=GOOD)
    simulator(iam, {"s3:PutObject": "explicitDeny", "s3:ListBucket": "implicitDeny"})
    assert check(aws).problems == [
        f"role {ROLE} may not s3:PutObject on {OBJECTS}: explicitly denied by deny-writes",
        f"role {ROLE} may not s3:ListBucket on {BUCKET_ARN}: none of its policies allows it (implicitDeny)"]


def test_request_time_condition_keys_in_the_roles_policies_are_unverified(aws):
    s3, iam, _ = aws
    s3.put_bucket_policy(Bucket="recs", Policy=GOOD)
    simulator(iam, **{"s3:GetObject": {"MissingContextValues": ["aws:SourceVpce"]}})
    result = check(aws)
    assert result.problems == []
    assert result.unverified == [f"that role {ROLE} may s3:GetObject on {OBJECTS} could not be verified: its "
                                 "policies test aws:SourceVpce, known only at request time (simulated: allowed)"]


@pytest.mark.parametrize("grant", [
    [statement(["s3:Get*", "s3:Put*"], OBJECTS), statement("s3:List*", BUCKET_ARN)],
    [statement(["S3:*object"], "arn:aws:s3:::recs/rec?ys/*"), statement("s3:*", "arn:aws:s3:::rec*")],
    [{"Effect": "Allow", "Principal": "*", "NotAction": "s3:Delete*", "NotResource": "arn:aws:s3:::recs/private/*"}],
])
def test_wildcards_and_a_grant_on_the_pipelines_prefix_pass(aws, grant):
    s3, iam, _ = aws
    s3.put_bucket_policy(Bucket="recs", Policy=policy(*grant))
    simulator(iam)
    assert check(aws) == Preflight([], [])


def test_a_grant_on_another_prefix_is_refused(aws):
    s3, iam, _ = aws
    s3.put_bucket_policy(Bucket="recs", Policy=policy(statement("s3:*Object", "arn:aws:s3:::recs/other/*"),
                                                      statement("s3:ListBucket", BUCKET_ARN)))
    simulator(iam)
    assert check(aws).problems == ["the policy of bucket 'recs' does not allow personalize.amazonaws.com "
                                   f"s3:GetObject on {OBJECTS}, s3:PutObject on {OBJECTS}"]


@pytest.mark.parametrize("legacy, region", [("EU", "eu-west-1"), (None, "us-east-1"), ("", "us-east-1")])
def test_legacy_bucket_locations_are_their_regions(aws, legacy, region):
    s3, iam, _ = aws
    s3.put_bucket_policy(Bucket="recs", Policy=GOOD)
    simulator(iam)
    answer(s3, "GetBucketLocation", lambda _: {"LocationConstraint": legacy} if legacy is not None else {})
    assert check(aws, region=region).problems == []
    assert f"is in {region}, but Personalize runs in ap-south-1" in check(aws, region="ap-south-1").problems[0]


def test_conditions_are_evaluated_when_known_and_otherwise_unverified(aws):
    s3, iam, _ = aws
    simulator(iam)
    confused_deputy = {"StringEquals": {"aws:SourceAccount": ACCOUNT},
                       "ArnLike": {"aws:SourceArn": f"arn:aws:personalize:eu-west-1:{ACCOUNT}:*"}}
    s3.put_bucket_policy(Bucket="recs", Policy=policy(statement(["s3:GetObject", "s3:PutObject"], OBJECTS,
                                                                Condition=confused_deputy),
                                                      statement("s3:ListBucket", BUCKET_ARN)))
    assert check(aws) == Preflight([], [])
    other_account = {"StringEquals": {"aws:SourceAccount": "999999999999"}}
    s3.put_bucket_policy(Bucket="recs", Policy=policy(statement(["s3:GetObject", "s3:PutObject"], OBJECTS,
                                                                Condition=other_account),
                                                      statement("s3:ListBucket", BUCKET_ARN)))
    assert "does not allow personalize.amazonaws.com s3:GetObject" in check(aws).problems[0]
    org_only = {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}
    s3.put_bucket_policy(Bucket="recs", Policy=policy(statement(["s3:GetObject", "s3:PutObject"], OBJECTS),
                                                      statement("s3:ListBucket", BUCKET_ARN, Sid="Org",
                                                                Condition=org_only)))
    result = check(aws)
    assert result.problems == []
    assert result.unverified == [
        f"that the policy of bucket 'recs' lets personalize.amazonaws.com s3:ListBucket on {BUCKET_ARN} could not "
        "be verified: statement Org has a Condition on aws:PrincipalOrgID, not known before the request"]


def test_access_denied_on_the_simulation_falls_back_to_the_bucket_policy_and_says_so(aws):
    s3, iam, _ = aws
    s3.put_bucket_policy(Bucket="recs", Policy=GOOD)
    calls = answer(iam, "SimulatePrincipalPolicy", lambda _: {
        "Error": {"Code": "AccessDenied", "Message": "not authorized to perform iam:SimulatePrincipalPolicy"},
        "status": 403})
    result = check(aws)
    assert result.problems == [] and len(calls) == 1
    assert result.unverified == [
        f"role {ROLE}'s own policies could not be simulated (iam:SimulatePrincipalPolicy: AccessDenied): that they "
        "allow s3:GetObject, s3:PutObject, s3:ListBucket is not verified; only the resource policies were checked"]
    answer(iam, "GetRole", lambda _: {"Error": {"Code": "AccessDenied", "Message": "no"}, "status": 403})
    assert check(aws).unverified[0] == (f"role {ROLE} could not be read (AccessDenied): its existence and trust "
                                        "policy are not verified")
    s3.put_bucket_policy(Bucket="recs", Policy=policy(statement("s3:GetObject", OBJECTS)))
    assert "does not allow personalize.amazonaws.com s3:PutObject" in check(aws).problems[0]


def _kms_bucket(aws, key_policy):
    s3, iam, kms = aws
    s3.put_bucket_policy(Bucket="recs", Policy=GOOD)
    key = kms.create_key(Policy=json.dumps(key_policy))["KeyMetadata"]["Arn"]
    s3.put_bucket_encryption(Bucket="recs", ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}]})
    return key


KEY_USE = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant", "kms:ListGrants"]


def test_a_kms_key_must_let_personalize_and_the_role_use_it(aws):
    calls = simulator(aws[1])
    key = _kms_bucket(aws, {"Version": "2012-10-17", "Statement": [statement(KEY_USE, "*")]})
    assert check(aws).problems == [
        f"the policy of KMS key {key} (default encryption of bucket 'recs') does not allow role {ROLE} "
        + ", ".join(f"{a} on {key}" for a in KEY_USE)]
    # The account root delegates to the role's IAM policies, which are simulated on the key.
    key = _kms_bucket(aws, {"Version": "2012-10-17", "Statement": [
        statement(KEY_USE, "*"), statement("kms:*", "*", principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"})]})
    assert check(aws) == Preflight([], [])
    assert calls[-1]["ActionNames"] == ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:ListGrants"]
    assert calls[-1]["ResourceArns"] == [key]


def test_a_disabled_or_aws_managed_key_is_refused(aws):
    s3, iam, kms = aws
    simulator(iam)
    key = _kms_bucket(aws, {"Version": "2012-10-17", "Statement": [statement("kms:*", "*", principal="*")]})
    kms.disable_key(KeyId=key.split("/")[-1])  # moto takes the id only
    assert f"KMS key {key} of bucket 'recs' is Disabled, not Enabled" in check(aws).problems
    s3.put_bucket_encryption(Bucket="recs", ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]})
    aws_managed = ("bucket 'recs' encrypts with the AWS managed key aws/s3, whose key policy cannot grant "
                   "personalize.amazonaws.com: use a customer managed key")
    assert check(aws).problems == [aws_managed]
    s3.put_bucket_encryption(Bucket="recs", ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/aws/s3"}}]})
    stubbed = boto3.client("kms", region_name="eu-west-1")
    with Stubber(stubbed) as stub:
        stub.add_response("describe_key", {"KeyMetadata": {
            "KeyId": "k", "Arn": f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/k", "KeyManager": "AWS",
            "KeyState": "Enabled"}}, {"KeyId": "alias/aws/s3"})
        assert run_preflight(s3, iam, stubbed, bucket="recs", prefix="recsys", region="eu-west-1",
                             role_arn=ROLE).problems == [aws_managed]


def test_without_iam_or_kms_clients_the_rest_is_said_unverified(aws):
    s3, _, _ = aws
    s3.put_bucket_policy(Bucket="recs", Policy=GOOD)
    assert run_preflight(s3, bucket="recs", prefix="recsys", region="eu-west-1", role_arn=ROLE).problems == []
    assert run_preflight(s3, bucket="recs", region="eu-west-1", role_arn=ROLE).unverified == [
        f"role {ROLE} was not checked: no IAM client (its existence, trust policy and permissions are unknown)"]



def test_the_aws_resource_asks_iam_and_kms_with_the_s3_resources_identity(aws):
    from dagster_aws.s3 import S3Resource

    from recsys_assets.resources.object_store import S3ObjectStoreResource
    from recsys_assets.resources.personalize import AwsPersonalizeResource

    store = S3ObjectStoreResource(bucket="recs", s3=S3Resource(region_name="eu-west-1"))
    result = AwsPersonalizeResource(region_name="eu-west-1", role_arn=f"arn:aws:iam::{ACCOUNT}:role/Nobody",
                                    object_store=store).preflight()
    assert result.problems == [
        "bucket 'recs' has no bucket policy; it must allow personalize.amazonaws.com s3:GetObject and s3:PutObject "
        f"on {OBJECTS} and s3:ListBucket on {BUCKET_ARN}",
        f"role arn:aws:iam::{ACCOUNT}:role/Nobody does not exist"]
