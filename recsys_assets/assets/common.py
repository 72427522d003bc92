"""Small pieces every Personalize-side asset needs: the run's names, failures, previews."""

import contextlib
from typing import Iterator

import dagster as dg
from botocore.exceptions import ClientError

from recsys_assets.workflow.ensure import CannotAdopt
from recsys_assets.workflow.naming import RunNames
from recsys_assets.workflow.polling import ResourceFailed, WaitTimeout

# One Personalize step at a time on an instance (limit 1 in dagster.yaml): runs never race for quotas.
PERSONALIZE_POOL = "personalize"
# Who answers for every asset (the catalog filters by owner); each also carries the tag ``layer``
# (export | personalize | serving) and a ``code_version``.
OWNERS = ["team:recsys"]
# code_version: a number next to each @asset, bumped by hand in the change that alters what the asset
# produces (its record, files, table, or what they mean), not for refactors, comments or log lines; the UI
# then shows "code version changed" on it. Not a hash of the source: that would flag every comment edit and
# miss the logic in workflow/, export/ and the engine, where most of each asset's work is done.


def root_run_id(run: dg.DagsterRun) -> str:
    """The run whose names and resources a run shares: a re-execution (from the UI, a retry or the Python
    API) keeps its root's, so it finds (and owns) what the first attempt created."""
    return run.root_run_id or run.tags.get("dagster/root_run_id") or run.run_id


def run_names(context: dg.AssetExecutionContext | dg.OpExecutionContext, deployment: str) -> RunNames:
    return RunNames(deployment=deployment, run_id=root_run_id(context.run))


@contextlib.contextmanager
def personalize_failures() -> Iterator[None]:
    """Turn a failed Personalize resource or a refused request into a Dagster Failure, not retried."""
    try:
        yield
    except ResourceFailed as e:
        raise dg.Failure(description=str(e), metadata={"arn": e.arn, "status": e.status,
                                                       "failureReason": e.reason or ""},
                         allow_retries=False) from e
    except (WaitTimeout, CannotAdopt) as e:
        raise dg.Failure(description=str(e), allow_retries=False) from e
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        raise dg.Failure(description=f"Personalize refused the request: {e}", metadata={"error_code": code},
                         allow_retries=False) from e


def preview_md(header: list[str], rows: list[list]) -> dg.MetadataValue:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return dg.MetadataValue.md("\n".join(lines))
