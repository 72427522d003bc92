"""What each stage of a run hands to the next: typed, JSON-serialisable records of what it made.

Each asset receives its upstream's record *of this run* (the run-scoped IO manager stores one per run), so
nothing downstream looks an ARN up by name or by "the latest materialization".
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class ExportedCsv:
    """One dataset's CSV on the object store, and whether it passed every check."""

    dataset: str  # users | items | interactions
    uri: str
    schema_json: str  # the schema the file follows, compact, as CreateSchema takes it
    rows: int
    valid: bool
    source: str  # the app database it came from (password masked)
    error: str | None = None
    event_types: dict[str, int] | None = None  # interactions: rows per EVENT_TYPE (None: the schema has none)


@dataclass(frozen=True)
class DatasetGroupRef:
    dataset_group_arn: str
    schema_arns: dict[str, str]
    dataset_arns: dict[str, str]
    import_job_arns: dict[str, str]
    imports_reused: list[str]
    bytes_ingested: int = 0
    source: str = ""  # the app database the data came from
    ingestion_usd: float = 0.0
    estimated_run_usd: float = 0.0  # before the first paid call
    usage: dict | None = None  # workflow.cost.RunUsage, as estimated


@dataclass(frozen=True)
class SolutionVersionRef:
    solution_arn: str
    solution_version_arn: str
    dataset_group_arn: str
    recipe_arn: str | None
    status: str
    training_hours: float
    metrics: dict[str, float]
    reused: bool
    tuned_hpo_params: dict | None = None
    source: str = ""
    cost_so_far_usd: float = 0.0  # ingestion and training
    estimated_run_usd: float = 0.0
    usage: dict | None = None  # workflow.cost.RunUsage, with the training as billed


@dataclass(frozen=True)
class BatchOutputRef:
    output_uri: str
    input_uri: str
    batch_inference_job_arn: str
    solution_version_arn: str
    filter_arn: str | None
    status: str
    reused: bool
    users_requested: int = 0
    run_cost_usd: float = 0.0


REFS = {cls.__name__: cls for cls in (ExportedCsv, DatasetGroupRef, SolutionVersionRef, BatchOutputRef)}


def dumps(ref) -> str:
    if type(ref).__name__ not in REFS:
        raise TypeError(f"{type(ref).__name__} is not a hand-off record ({', '.join(REFS)})")
    return json.dumps({"type": type(ref).__name__, "fields": dataclasses.asdict(ref)}, sort_keys=True)


def loads(text: str):
    doc = json.loads(text)
    return REFS[doc["type"]](**doc["fields"])
