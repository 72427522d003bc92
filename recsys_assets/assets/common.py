"""Small pieces every Personalize-side asset needs: the run's names, upstream metadata, failures."""


import contextlib
from typing import Iterator

import dagster as dg
from botocore.exceptions import ClientError

from recsys_assets.workflow.ensure import CannotAdopt
from recsys_assets.workflow.naming import RunNames
from recsys_assets.workflow.polling import ResourceFailed, WaitTimeout


def root_run_id(context: dg.AssetExecutionContext | dg.OpExecutionContext) -> str:
    # A re-executed run keeps its root's id, so it finds (and owns) what the first attempt created.
    return context.run.tags.get("dagster/root_run_id") or context.run.run_id


def run_names(context, deployment: str) -> RunNames:
    return RunNames(deployment=deployment, run_id=root_run_id(context))


def upstream_metadata(context: dg.AssetExecutionContext, asset: str) -> dict:
    """The metadata of ``asset``'s latest materialization, values unwrapped."""
    event = context.instance.get_latest_materialization_event(dg.AssetKey(asset))
    if event is None or event.asset_materialization is None:
        raise dg.Failure(f"{asset} has never been materialized; materialize it first.", allow_retries=False)
    return {k: getattr(v, "value", v) for k, v in event.asset_materialization.metadata.items()}


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
