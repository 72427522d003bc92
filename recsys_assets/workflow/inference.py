"""Filter, batch inference job, and reading what the job wrote."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, TextIO

from recsys_assets.personalize_rules.limits import MAX_NUM_RESULTS
from recsys_assets.workflow import resource_types as rt
from recsys_assets.workflow.ensure import ensure, find_reusable
from recsys_assets.workflow.naming import RunNames
from recsys_assets.workflow.polling import PollSettings, wait_for_status
from recsys_assets.workflow.refs import BatchOutputRef

def write_batch_input(user_ids: Iterable[str], out: TextIO) -> int:
    """Batch input for USER_PERSONALIZATION recipes: one ``{"userId": ...}`` per line."""
    count = 0
    for user_id in user_ids:
        out.write(json.dumps({"userId": str(user_id)}) + "\n")
        count += 1
    return count


def output_uri(input_uri: str, output_prefix: str) -> str:
    """Personalize names the output after the input file: ``<output folder>/<input name>.out``."""
    return f"{output_prefix.rstrip('/')}/{input_uri.rsplit('/', 1)[-1]}.out"


def run_batch_job(client, names: RunNames, *, dataset_group_arn: str, solution_version_arn: str,
                  input_uri: str, output_prefix: str, num_results: int, filter_expression: str | None,
                  role_arn: str, poll: PollSettings, log: Callable[[str], None],
                  kms_key_arn: str | None = None) -> BatchOutputRef:
    """Filter (if any) and batch inference job; a matching job of an earlier attempt is reused."""
    if not 1 <= num_results <= MAX_NUM_RESULTS:
        raise ValueError(f"num_results must be between 1 and {MAX_NUM_RESULTS}, not {num_results}")
    output_path = output_prefix.rstrip("/") + "/"
    filter_arn = None
    if filter_expression:
        name = names.filter(filter_expression)
        filter_arn = ensure(client, rt.FILTER, names, name,
                            lambda: client.create_filter(name=name, datasetGroupArn=dataset_group_arn,
                                                         filterExpression=filter_expression,
                                                         tags=names.tags)["filterArn"],
                            log, datasetGroupArn=dataset_group_arn)
        wait_for_status(client, rt.FILTER, filter_arn, poll, log)

    def same_job(job: dict) -> bool:
        return (job["jobInput"]["s3DataSource"]["path"], job["jobOutput"]["s3DataDestination"]["path"],
                job.get("numResults"), job.get("filterArn")) == (input_uri, output_path, num_results, filter_arn)

    earlier = find_reusable(client, rt.BATCH_INFERENCE_JOB, names, same_job, solutionVersionArn=solution_version_arn)
    if earlier is not None:
        job_arn = earlier["batchInferenceJobArn"]
        log(f"reusing batch inference job {job_arn} ({earlier['status']})")
    else:
        encryption = {"kmsKeyArn": kms_key_arn} if kms_key_arn else {}
        params = {
            "jobName": names.job("batch"), "solutionVersionArn": solution_version_arn, "numResults": num_results,
            "jobInput": {"s3DataSource": {"path": input_uri, **encryption}},
            "jobOutput": {"s3DataDestination": {"path": output_path, **encryption}},
            "roleArn": role_arn, "tags": names.tags,
        }
        if filter_arn:
            params["filterArn"] = filter_arn
        job_arn = ensure(client, rt.BATCH_INFERENCE_JOB, names, params["jobName"],
                         lambda: client.create_batch_inference_job(**params)["batchInferenceJobArn"],
                         log, fresh=True, quota_wait=poll, solutionVersionArn=solution_version_arn)
    job = wait_for_status(client, rt.BATCH_INFERENCE_JOB, job_arn, poll, log)
    return BatchOutputRef(output_uri=output_uri(input_uri, output_prefix), input_uri=input_uri,
                          batch_inference_job_arn=job_arn, solution_version_arn=solution_version_arn,
                          filter_arn=filter_arn, status=job["status"], reused=earlier is not None)


@dataclass
class BatchOutputStats:
    lines: int = 0
    error_lines: int = 0
    users_with_items: int = 0
    recommendations: int = 0
    first_errors: list[str] = field(default_factory=list)


def read_batch_output(lines: Iterable[str], stats: BatchOutputStats) -> Iterator[tuple[str, int, str, float | None]]:
    """(user_id, rank, item_id, score) per recommendation; error lines are counted in ``stats``, not yielded."""
    for line in lines:
        if not line.strip():
            continue
        stats.lines += 1
        record = json.loads(line)
        if record.get("error"):
            stats.error_lines += 1
            if len(stats.first_errors) < 5:
                stats.first_errors.append(f"{record.get('input')}: {record['error']}")
            continue
        user_id = record["input"]["userId"]
        items = record["output"]["recommendedItems"]
        scores = record["output"].get("scores") or [None] * len(items)
        if items:
            stats.users_with_items += 1
        for rank, (item_id, score) in enumerate(zip(items, scores), start=1):
            stats.recommendations += 1
            yield user_id, rank, item_id, score
