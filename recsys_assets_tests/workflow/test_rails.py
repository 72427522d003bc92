"""Cost, budget, quality gate and AWS preflight: pure functions (preflight against moto's S3)."""

import json

import boto3
import pytest
from moto import mock_aws

from recsys_assets.personalize_rules.limits import GB
from recsys_assets.workflow.cost import LIST_PRICES, BudgetExceeded, PriceTable, check_training_budget, training_multiplier
from recsys_assets.workflow.preflight import preflight_problems
from recsys_assets.workflow.quality import quality_problems

ROLE = "arn:aws:iam::123456789012:role/PersonalizeS3"


def test_prices():
    prices = PriceTable(per_gb_ingested=0.05, per_training_hour=0.24, per_1000_batch_recommendations=0.086)
    assert prices.ingestion(2 * GB) == pytest.approx(0.10)
    assert prices.training(1.5) == pytest.approx(0.36)
    assert prices.batch(125_000) == pytest.approx(10.75)


def test_hpo_multiplies_the_trainings_paid_for():
    assert training_multiplier(False, {"hpoConfig": {"hpoResourceConfig": {"maxNumberOfTrainingJobs": "8"}}}) == 1
    assert training_multiplier(True, {"hpoConfig": {"hpoResourceConfig": {"maxNumberOfTrainingJobs": "8"}}}) == 8
    assert training_multiplier(True, None) == 40  # unset: assume the service's maximum


def test_budget_guard_refuses_before_anything_is_created():
    prices = LIST_PRICES
    assert check_training_budget(prices, expected_hours=2, multiplier=1, budget_usd=1.0) == pytest.approx(0.48)
    assert check_training_budget(prices, expected_hours=100, multiplier=40, budget_usd=None) == pytest.approx(960)
    with pytest.raises(BudgetExceeded, match=r"about \$3.84 .* over the run budget of \$1.00"):
        check_training_budget(prices, expected_hours=2, multiplier=8, budget_usd=1.0)


def test_quality_gate():
    good = {"normalized_discounted_cumulative_gain_at_10": 0.20, "precision_at_10": 0.05}
    assert quality_problems(good, None, minimums={}, max_relative_drop=0.2) == []
    below = quality_problems(good, None, minimums={"precision_at_10": 0.1}, max_relative_drop=0.2)
    assert below == ["precision_at_10 = 0.0500 is below the minimum 0.1000"]
    drop = quality_problems({**good, "precision_at_10": 0.03}, good, minimums={}, max_relative_drop=0.2)
    assert drop == ["precision_at_10 fell from 0.0500 to 0.0300 (40% drop; at most 20% allowed)"]
    assert quality_problems({**good, "precision_at_10": 0.045}, good, minimums={}, max_relative_drop=0.2) == []
    unknown = quality_problems(good, None, minimums={"recall_at_10": 0.1}, max_relative_drop=0.2)
    assert "recall_at_10 is not among" in unknown[0]


def _policy(bucket, actions, service="personalize.amazonaws.com"):
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": service}, "Action": actions,
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]})


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-1")
        client.create_bucket(Bucket="recs", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield client


def test_preflight_passes_a_correct_setup(s3):
    s3.put_bucket_policy(Bucket="recs", Policy=_policy("recs", ["s3:GetObject", "s3:ListBucket", "s3:PutObject"]))
    assert preflight_problems(s3, bucket="recs", region="eu-west-1", role_arn=ROLE) == []


def test_preflight_names_each_problem(s3):
    assert preflight_problems(s3, bucket="recs", region="eu-west-1", role_arn=None) == [
        "RECSYS_PERSONALIZE_ROLE_ARN is not set: Personalize needs a role to read the bucket",
        "bucket 'recs' has no bucket policy; it must allow personalize.amazonaws.com s3:GetObject, s3:ListBucket, "
        "s3:PutObject"]
    s3.put_bucket_policy(Bucket="recs", Policy=_policy("recs", ["s3:GetObject", "s3:ListBucket"]))
    problems = preflight_problems(s3, bucket="recs", region="us-east-1", role_arn="arn:aws:iam::12:role/x")
    assert problems[0].startswith("role ARN 'arn:aws:iam::12:role/x' is malformed")
    assert "is in eu-west-1, but Personalize runs in us-east-1" in problems[1]
    assert "does not allow personalize.amazonaws.com s3:PutObject" in problems[2]
    s3.put_bucket_policy(Bucket="recs", Policy=_policy("recs", ["s3:*"], service="lambda.amazonaws.com"))
    assert "s3:GetObject, s3:ListBucket, s3:PutObject" in preflight_problems(
        s3, bucket="recs", region="eu-west-1", role_arn=ROLE)[0]
    assert "bucket 'missing' cannot be used" in preflight_problems(s3, bucket="missing", region="eu-west-1",
                                                                   role_arn=ROLE)[0]
