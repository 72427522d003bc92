"""Small pieces every Personalize-side asset needs: the run's names, failures, previews."""

import contextlib
from dataclasses import dataclass
from typing import Iterator

import dagster as dg
from botocore.exceptions import ClientError

from recsys_assets.resources import ObjectStoreResource, PersonalizeResource
from recsys_assets.workflow.ensure import CannotAdopt
from recsys_assets.workflow.naming import RunNames
from recsys_assets.workflow.polling import ResourceFailed, WaitTimeout
from recsys_assets.workflow.teardown import delete_run_files, run_scope, teardown

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


Context = dg.AssetExecutionContext | dg.AssetCheckExecutionContext


@dataclass
class RunCleanup:
    """What a failure here leaves to delete; ``personalize`` is False while nothing can exist there yet (the
    run-start checks, the AWS preflight: those call no Personalize API, and the cleanup must not either)."""

    personalize: bool = True


@contextlib.contextmanager
def cleaned_up_on_failure(context: Context, personalize: PersonalizeResource,
                          object_store: ObjectStoreResource) -> Iterator[RunCleanup]:
    """A step that fails the run first deletes what the run created on Personalize, and its files.

    The cleanup sensors do so too, but only where a daemon runs them: a run launched by ``dg launch``,
    ``materialize()`` or ``execute_job`` would otherwise leave them for the sweep, or for ever. Not when Dagster
    retries the step or the run: the retry adopts what was already paid for.
    """
    cleanup = RunCleanup()
    try:
        yield cleanup
    except Exception as e:
        if not isinstance(e, dg.RetryRequested) and not _run_will_be_retried(context.instance, context.run):
            clean_up_run(context, personalize, object_store, personalize_resources=cleanup.personalize)
        raise


def clean_up_run(context: Context, personalize: PersonalizeResource, object_store: ObjectStoreResource, *,
                 personalize_resources: bool = True) -> None:
    """Tear down this run's Personalize resources and delete its files, logging what is left; never raises (the
    failure it follows is the one to report), so what it can't delete waits for the sensors or the sweep."""
    names = run_names(context, personalize.deployment)
    context.log.info(f"the run stops here: deleting what it created (run {names.run_id})")
    try:
        left = []
        if personalize_resources:
            client = personalize.get_client()
            left += teardown(client, run_scope(client, names), personalize.poll, context.log.info).failed
        if not object_store.keep_run_files:
            # A re-execution's own records (run outputs) lie under its run id, the rest under its root's.
            folders = sorted({object_store.run_folder(r) for r in (names.run_id, context.run.run_id)})
            left += delete_run_files(object_store.get_store(), folders, context.log.info)[1]
    except Exception as e:  # noqa: BLE001 - the sensors and the sweep take up what this could not do
        context.log.warning(f"could not clean up after the failure ({type(e).__name__}: {e}); the cleanup sensor "
                            "or the orphan sweep will")
        return
    if left:
        context.log.warning(f"left after the failure, for the cleanup sensor or the orphan sweep: {', '.join(left)}")


def _run_will_be_retried(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    """Whether the instance's run retries will re-execute this run once it fails (a step failure)."""
    if not instance.run_retries_enabled:
        return False
    if run.tags.get("dagster/retry_on_asset_or_op_failure",
                    str(instance.run_retries_retry_on_asset_or_op_failure)).lower() == "false":
        return False
    try:
        max_retries = int(run.tags.get("dagster/max_retries", instance.run_retries_max_retries))
    except ValueError:
        return False
    return int(run.tags.get("dagster/retry_number", 0)) < max_retries


def preview_md(header: list[str], rows: list[list]) -> dg.MetadataValue:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return dg.MetadataValue.md("\n".join(lines))
