"""The Personalize control plane as the local engine serves it.

``LocalPersonalize.handle(operation, params)`` takes an operation name and its JSON parameters, which
botocore has serialized and partly validated (required members, types, minimums), and returns the JSON
response, or raises ``ServiceError`` with the code and message the service would send. It adds what
botocore leaves to the server: the service model's maximums, patterns and enums, cross-resource rules,
status preconditions, deletion order, quotas and name uniqueness. Cheap resources move along their
lifecycle with time; import, training and batch jobs run in worker processes (``engine.worker``) so they
outlive the caller, as on AWS. Every resource type is a row of ``KINDS``: describe, list and delete are
generic over it, and only creates and updates are written per type.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import os
import re
import secrets
import subprocess
import sys
import time
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import botocore.session

from recsys_assets.engine import filters, recipes, validation
from recsys_assets.engine.catalog import Catalog, Resource, Txn
from recsys_assets.engine.data import DataStore

ACCOUNT_ID = "000000000000"

CREATING = ("CREATE PENDING", "CREATE IN_PROGRESS")
DELETING = ("DELETE PENDING", "DELETE IN_PROGRESS")
# The only states from which the service accepts a delete [DG:deleting-resources].
DELETABLE = ("ACTIVE", "CREATE FAILED", "CREATE STOPPED")
# Where a time-driven transition ends; None: the resource is gone.
_TRANSITION_END = {"CREATE PENDING": "ACTIVE", "CREATE IN_PROGRESS": "ACTIVE", "CREATE STOPPING": "CREATE STOPPED",
                   "DELETE PENDING": None, "DELETE IN_PROGRESS": None}

# Quotas [DG:limits].
MAX_DATASET_GROUPS = 5
MAX_SCHEMAS = 500
MAX_SOLUTIONS_PER_GROUP = 10
MAX_FILTERS_PER_GROUP = 30
MAX_CAMPAIGNS_PER_GROUP = 5
MAX_JOBS_IN_FLIGHT = {"dataset-import-job": 5, "batch-inference-job": 5, "solution-version": 20}
MAX_TAGS = 50
MAX_NUM_RESULTS = 500
# CreateSolution/UpdateSolution: rate(N day|days) with N from 1 to 30 (the model checks the shape).
MAX_TRAINING_INTERVAL_DAYS = 30
# The one recipe that supports performIncrementalUpdate; the engine does not train it.
SEMANTIC_SIMILARITY = "arn:aws:personalize:::recipe/aws-semantic-similarity"

# Domain use cases [§4.1]: ListRecipes lists them, but only recommenders (not implemented) use them.
DOMAIN_RECIPES = {
    "ECOMMERCE": ("aws-ecomm-customers-who-viewed-x-also-viewed", "aws-ecomm-frequently-bought-together",
                  "aws-ecomm-popular-items-by-purchases", "aws-ecomm-popular-items-by-views",
                  "aws-ecomm-recommended-for-you"),
    "VIDEO_ON_DEMAND": ("aws-vod-because-you-watched-x", "aws-vod-more-like-x", "aws-vod-most-popular",
                        "aws-vod-top-picks", "aws-vod-trending-now"),
}
_DOMAIN_OF = {f"arn:aws:personalize:::recipe/{name}": domain
              for domain, names in DOMAIN_RECIPES.items() for name in names}
# Recipes are built in: their timestamps are the service's launch, a fixed point in time.
_RECIPE_EPOCH = 1543622400.0


class ServiceError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def invalid(message: str) -> ServiceError:
    return ServiceError("InvalidInputException", message)


def not_found(arn: str) -> ServiceError:
    return ServiceError("ResourceNotFoundException", f"Resource Arn {arn} does not exist.")


def in_use(message: str) -> ServiceError:
    return ServiceError("ResourceInUseException", message)


def already_exists(message: str) -> ServiceError:
    return ServiceError("ResourceAlreadyExistsException", message)


def limit_exceeded(message: str) -> ServiceError:
    return ServiceError("LimitExceededException", message)


# ---- the service model's constraints ------------------------------------------------------------
# botocore checks required members, types and minimums client-side; maximums, patterns and enums are
# the server's, answered in AWS's validation wording as InvalidInputException (the service has no
# ValidationException).


@functools.cache
def _service_model():
    return botocore.session.get_session().get_service_model("personalize")


# Java regex classes Python's re lacks. \p{L}/\p{Z}/\p{N} appear only inside the tag pattern's character
# class: each stands for a noncharacter, and a value's letters, separators and numbers are mapped onto
# those before matching (anything else that is a stand-in is mapped to one that matches nothing).
_STAND_INS = {"L": "\ufdd0", "Z": "\ufdd1", "N": "\ufdd2"}


@functools.cache
def _matcher(pattern: str) -> Callable[[str], bool]:
    # Java's \d, \w and \s are ASCII-only.
    translated = pattern.replace(r"\p{ASCII}", r"[\x00-\x7F]")
    if not re.search(r"\\p\{[LZN]\}", translated):
        regex = re.compile(translated, re.ASCII)
        return lambda value: regex.fullmatch(value) is not None
    regex = re.compile(re.sub(r"\\p\{([LZN])\}", lambda m: _STAND_INS[m[1]], translated), re.ASCII)

    def matches(value: str) -> bool:
        mapped = "".join(_STAND_INS.get(unicodedata.category(c)[0], "\ufdd3" if c in _STAND_INS.values() else c)
                         for c in value)
        return regex.fullmatch(mapped) is not None

    return matches


def constraint_errors(shape, value, path: str = "") -> Iterator[str]:
    """AWS-worded violations of the model's max/min, pattern and enum constraints in ``value``."""
    meta, kind = shape.metadata, shape.type_name
    shown = "Value" if meta.get("sensitive") or kind in ("list", "map") else f"Value '{value}'"
    where = f"{shown} at '{path}' failed to satisfy constraint: Member must"
    if kind == "structure":
        for name, member in shape.members.items():
            if value.get(name) is not None:
                yield from constraint_errors(member, value[name], f"{path}.{name}" if path else name)
    elif kind == "list":
        for i, item in enumerate(value, 1):
            yield from constraint_errors(shape.member, item, f"{path}.{i}.member")
    elif kind == "map":
        for key, item in value.items():
            yield from constraint_errors(shape.key, key, f"{path}.{key}.key")
            yield from constraint_errors(shape.value, item, f"{path}.{key}.value")
    if kind in ("string", "list", "map"):
        measure, size = "length", len(value)
    elif kind in ("integer", "long", "float", "double"):
        measure, size = "value", value
    else:
        return
    if "min" in meta and size < meta["min"]:
        yield f"{where} have {measure} greater than or equal to {meta['min']}"
    if "max" in meta and size > meta["max"]:
        yield f"{where} have {measure} less than or equal to {meta['max']}"
    if "enum" in meta and value not in meta["enum"]:
        yield f"{where} satisfy enum value set: [{', '.join(meta['enum'])}]"
    if "pattern" in meta and not _matcher(meta["pattern"])(value):
        yield f"{where} satisfy regular expression pattern: {meta['pattern']}"


# ---- resource types ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    name: str  # catalog kind, also the resource type in its ARN
    op: str  # the operation noun: Describe<op>, List<op>s, Delete<op>
    arn_key: str
    wrapper: str  # describe_* wraps the resource in this key
    list_key: str
    list_parent: str | None  # the List* parameter that restricts to a parent
    summary: tuple[str, ...]  # body fields the List* summaries carry
    name_key: str = "name"
    has_status: bool = True
    taggable: bool = True
    worker: bool = False  # created by a worker process rather than by time
    update_key: str | None = None  # the latest<X>Update summary an Update<op> call starts
    creatable: bool = True  # False: the engine cannot create these; List answers truthfully, empty


KINDS = {
    k.name: k
    for k in (
        Kind("dataset-group", "DatasetGroup", "datasetGroupArn", "datasetGroup", "datasetGroups", None,
             ("failureReason", "domain")),
        Kind("schema", "Schema", "schemaArn", "schema", "schemas", None, ("domain",),
             has_status=False, taggable=False),
        Kind("dataset", "Dataset", "datasetArn", "dataset", "datasets", "datasetGroupArn", ("datasetType",),
             update_key="latestDatasetUpdate"),
        Kind("dataset-import-job", "DatasetImportJob", "datasetImportJobArn", "datasetImportJob",
             "datasetImportJobs", "datasetArn", ("failureReason", "importMode"), name_key="jobName", worker=True),
        Kind("solution", "Solution", "solutionArn", "solution", "solutions", "datasetGroupArn", ("recipeArn",),
             update_key="latestSolutionUpdate"),
        Kind("solution-version", "SolutionVersion", "solutionVersionArn", "solutionVersion", "solutionVersions",
             "solutionArn", ("trainingMode", "trainingType", "failureReason"), worker=True),
        Kind("filter", "Filter", "filterArn", "filter", "Filters", "datasetGroupArn",
             ("datasetGroupArn", "failureReason")),
        Kind("batch-inference-job", "BatchInferenceJob", "batchInferenceJobArn", "batchInferenceJob",
             "batchInferenceJobs", "solutionVersionArn", ("failureReason", "solutionVersionArn",
                                                          "batchInferenceJobMode"),
             name_key="jobName", worker=True),
        Kind("campaign", "Campaign", "campaignArn", "campaign", "campaigns", "solutionArn", ("failureReason",),
             update_key="latestCampaignUpdate"),
        Kind("event-tracker", "EventTracker", "eventTrackerArn", "eventTracker", "eventTrackers", "datasetGroupArn",
             ()),
        Kind("recommender", "Recommender", "recommenderArn", "recommender", "recommenders", "datasetGroupArn", (),
             creatable=False),
        Kind("metric-attribution", "MetricAttribution", "metricAttributionArn", "metricAttribution",
             "metricAttributions", "datasetGroupArn", (), creatable=False),
        Kind("batch-segment-job", "BatchSegmentJob", "batchSegmentJobArn", "batchSegmentJob", "batchSegmentJobs",
             "solutionVersionArn", (), name_key="jobName", creatable=False),
        Kind("dataset-export-job", "DatasetExportJob", "datasetExportJobArn", "datasetExportJob",
             "datasetExportJobs", "datasetArn", (), name_key="jobName", creatable=False),
        Kind("data-deletion-job", "DataDeletionJob", "dataDeletionJobArn", "dataDeletionJob", "dataDeletionJobs",
             "datasetGroupArn", (), name_key="jobName", creatable=False),
    )
}
_BY_OP = {k.op: k for k in KINDS.values()}
_BY_LIST_OP = {f"{k.op}s": k for k in KINDS.values()}
# The kind each List* parent parameter names.
_PARENT_KINDS = {"datasetGroupArn": "dataset-group", "datasetArn": "dataset", "solutionArn": "solution",
                 "solutionVersionArn": "solution-version"}


class LocalPersonalize:
    def __init__(self, root: str | Path, store_config: dict, *, region: str = "us-east-1",
                 transition_seconds: float = 0.0, service_model=None):
        self.root = Path(root)
        self.region = region
        self.store_config = store_config
        self.transition_seconds = transition_seconds
        self.service_model = service_model or _service_model()
        self.catalog = Catalog(self.root / "catalog.db")
        self.data = DataStore(self.root)

    # ---- plumbing -------------------------------------------------------------------------
    def arn(self, resource: str) -> str:
        return f"arn:aws:personalize:{self.region}:{ACCOUNT_ID}:{resource}"

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Txn]:
        """A catalog transaction that sees this region's resources only, after pending transitions."""
        with self.catalog.transaction(scope=self.arn("")) as txn:
            self._refresh(txn)
            yield txn

    def handle(self, operation: str, params: dict) -> dict:
        action = self._route(operation)
        errors = list(constraint_errors(self.service_model.operation_model(operation).input_shape, params))
        if errors:
            count = f"{len(errors)} validation error{'s' if len(errors) > 1 else ''}"
            raise invalid(f"{count} detected: {'; '.join(errors)}")
        return action(params)

    def _route(self, operation: str) -> Callable[[dict], dict]:
        generic = re.fullmatch(r"(Describe|List|Delete)(\w+)", operation)
        if generic:
            verb, noun = generic.groups()
            kind = _BY_LIST_OP.get(noun) if verb == "List" else _BY_OP.get(noun)
            if kind is not None and (verb == "List" or kind.creatable):
                return functools.partial(getattr(self, f"_{verb.lower()}"), kind)
        method = getattr(self, "op_" + re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower(), None)
        if method is None:
            raise NotImplementedError(f"The local Personalize engine does not implement {operation}.")
        return method

    def _refresh(self, txn: Txn) -> None:
        """Apply the transitions that time and dead workers have brought about."""
        now = time.time()
        for res in txn.timed():
            self._advance(txn, res, now)
        for kind in (k for k in KINDS.values() if k.worker):
            for res in txn.find(kind.name, statuses=(*CREATING, "CREATE STOPPING")):
                pid = res.internal.get("pid")
                if pid and not _pid_alive(pid):
                    res.status = "CREATE FAILED"
                    res.body["failureReason"] = (
                        f"The local engine's worker (pid {pid}) exited before finishing; "
                        f"see {res.internal.get('log')}."
                    )
                    txn.save(res, now)

    def _advance(self, txn: Txn, res: Resource, now: float) -> None:
        """One timed transition: a status change (PENDING -> IN_PROGRESS half way), or an update's."""
        started = res.internal.get("transition_started", res.updated)
        done, half_way = now >= res.due, now >= started + (res.due - started) / 2
        if "update" in res.internal:  # the resource stays as it is; its latest<X>Update moves
            summary = res.body[KINDS[res.kind].update_key]
            if done:
                summary["status"], res.due = "ACTIVE", None
                res.body.update(res.internal.pop("update"))
            elif half_way and summary["status"] == "CREATE PENDING":
                summary["status"] = "CREATE IN_PROGRESS"
            else:
                return
            summary["lastUpdatedDateTime"] = now
        elif done:
            final = _TRANSITION_END.get(res.status or "", res.status)
            if final is None:
                txn.remove(res.arn)
                self._after_delete(txn, res)
                return
            res.status, res.due = final, None
        elif half_way and (middle := _half_way(res)):
            res.status = middle
        else:
            return
        txn.save(res, now)

    def _get(self, txn: Txn, arn: str, kind: str | None = None) -> Resource:
        res = txn.get(arn)
        if res is None or (kind is not None and res.kind != kind):
            raise not_found(arn)
        return res

    @staticmethod
    def _require_active(res: Resource, what: str) -> None:
        if res.status != "ACTIVE":
            raise in_use(f"{what} {res.arn} is not ACTIVE (status: {res.status}).")

    @staticmethod
    def _require_no_update(res: Resource) -> None:
        if "update" in res.internal:
            raise in_use(f"The resource {res.arn} has an update in progress.")

    def _payload(self, kind: Kind, res: Resource, fields: tuple[str, ...] | None = None) -> dict:
        out = {kind.arn_key: res.arn, "creationDateTime": res.created, "lastUpdatedDateTime": res.updated}
        if res.name:
            out[kind.name_key] = res.name
        if kind.has_status:
            out["status"] = res.status
        body = res.body if fields is None else {k: v for k, v in res.body.items() if k in fields}
        out.update({k: v for k, v in body.items() if v is not None})
        return out

    def _new(self, txn: Txn, kind: str, arn: str, name: str, parent: str | None, body: dict,
             tags: list[dict] | None = None) -> Resource:
        spec = KINDS[kind]
        # Names are unique per resource type in an account and region (ARNs mostly derive from them).
        existing = (txn.find(kind, name=name) if name else []) or [r for r in [txn.get(arn)] if r is not None]
        if existing:
            raise already_exists(f"The {spec.op} {name or arn} already exists ({existing[0].arn}).")
        now = time.time()
        res = Resource(arn=arn, kind=kind, name=name, parent=parent,
                       status="CREATE PENDING" if spec.has_status else None,
                       created=now, updated=now, body=body)
        if spec.has_status and not spec.worker:
            res.due = now + self.transition_seconds
            res.internal["transition_started"] = now
        txn.insert(res)
        if tags:
            self._tag(txn, res, tags)
        return res

    def _start_update(self, txn: Txn, res: Resource, summary: dict, apply: dict) -> None:
        """Begin an Update<X>: its latest<X>Update goes CREATE PENDING -> IN_PROGRESS -> ACTIVE with time,
        and ``apply`` takes effect on the resource when it is ACTIVE (until then the old settings hold)."""
        now = time.time()
        res.body[KINDS[res.kind].update_key] = {
            **{k: v for k, v in summary.items() if v is not None},
            "status": "CREATE PENDING", "creationDateTime": now, "lastUpdatedDateTime": now,
        }
        res.internal.update(update=apply, transition_started=now)
        res.due = now + self.transition_seconds
        txn.save(res, now)

    def _start_worker(self, txn: Txn, res: Resource) -> None:
        logs = self.root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log = logs / f"{res.kind}-{res.arn.rsplit('/', 1)[-1]}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "recsys_assets.engine.worker", str(self.root), res.arn],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # survives the caller, like a job on the service
            )
        _CHILDREN.append(proc)
        res.internal.update(pid=proc.pid, log=str(log), store=self.store_config,
                            pending_seconds=self.transition_seconds)
        txn.save(res, res.created)

    @staticmethod
    def _check_in_flight_quota(txn: Txn, kind: str) -> None:
        limit = MAX_JOBS_IN_FLIGHT[kind]
        if len(txn.find(kind, statuses=CREATING)) >= limit:
            raise limit_exceeded(f"More than {limit} resources with PENDING or IN_PROGRESS status.")

    # ---- generic describe / list / delete ----------------------------------------------------
    def _describe(self, kind: Kind, params: dict) -> dict:
        with self.transaction() as txn:
            res = self._get(txn, params[kind.arn_key], kind.name)
            out = self._payload(kind, res)
            if kind.name == "solution" and (versions := txn.find("solution-version", res.arn)):
                out["latestSolutionVersion"] = self._payload(
                    KINDS["solution-version"], versions[0], KINDS["solution-version"].summary)
            return {kind.wrapper: out}

    def _list(self, kind: Kind, params: dict) -> dict:
        max_results = params.get("maxResults", 100)
        offset = _decode_token(params.get("nextToken"), kind.name)
        with self.transaction() as txn:
            parent = params.get(kind.list_parent) if kind.list_parent else None
            if parent is not None:
                self._get(txn, parent, _PARENT_KINDS[kind.list_parent])
            found = txn.find(kind.name, parent) if kind.creatable else []
        page = found[offset : offset + max_results]
        out: dict = {kind.list_key: [self._payload(kind, r, kind.summary) for r in page]}
        if offset + max_results < len(found):
            out["nextToken"] = _encode_token(offset + max_results, kind.name)
        return out

    def _delete(self, kind: Kind, params: dict) -> dict:
        arn = params[kind.arn_key]
        with self.transaction() as txn:
            res = self._get(txn, arn, kind.name)
            if kind.has_status:
                if res.status in DELETING:
                    raise in_use(f"The resource {arn} is already being deleted.")
                if res.status not in DELETABLE:
                    raise in_use(f"The resource {arn} can't be deleted while its status is {res.status}.")
            self._require_no_update(res)
            blocker = self._delete_blocker(txn, res)
            if blocker:
                raise in_use(blocker)
            if not kind.has_status:  # schemas go at once
                txn.remove(arn)
                return {}
            now = time.time()
            res.status, res.due = "DELETE PENDING", now + self.transition_seconds
            res.internal["transition_started"] = now
            txn.save(res, now)
        return {}

    def _delete_blocker(self, txn: Txn, res: Resource) -> str | None:
        """Why the service refuses to delete this resource now (deletion order), or None."""
        live = txn.find
        if res.kind == "dataset-group":
            children = [r.arn for k in ("dataset", "solution", "event-tracker", "filter") for r in live(k, res.arn)]
            if children:
                return f"Dataset group {res.arn} still has resources; delete them first: {', '.join(children)}"
        elif res.kind == "schema":
            users = [d.arn for d in live("dataset") if res.arn in (
                d.body.get("schemaArn"), d.internal.get("update", {}).get("schemaArn"))]
            if users:
                return f"Schema {res.arn} is in use by dataset(s): {', '.join(users)}"
        elif res.kind == "dataset":
            group = res.parent
            blockers = [f.arn for f in live("filter", group)]
            if res.body["datasetType"] == "INTERACTIONS":
                blockers += [t.arn for t in live("event-tracker", group)]
            blockers += [j.arn for j in live("dataset-import-job", res.arn, statuses=CREATING)]
            for solution in live("solution", group):
                for version in live("solution-version", solution.arn):
                    if version.status in CREATING:
                        blockers.append(version.arn)
                    blockers += [j.arn for j in live("batch-inference-job", version.arn, statuses=CREATING)]
                blockers += [c.arn for c in live("campaign", solution.arn, statuses=(*CREATING, "ACTIVE"))]
            if blockers:
                return f"Dataset {res.arn} can't be deleted while these exist or are in progress: {', '.join(blockers)}"
        elif res.kind == "solution":
            blockers = [c.arn for c in live("campaign", res.arn)]
            blockers += [v.arn for v in live("solution-version", res.arn, statuses=(*CREATING, "CREATE STOPPING"))]
            if blockers:
                return f"Solution {res.arn} can't be deleted while these exist or are in progress: {', '.join(blockers)}"
        elif res.kind == "filter":
            jobs = [j.arn for j in live("batch-inference-job", statuses=CREATING) if j.body.get("filterArn") == res.arn]
            if jobs:
                return f"Filter {res.arn} is in use by batch inference job(s) in progress: {', '.join(jobs)}"
        return None

    def _after_delete(self, txn: Txn, res: Resource) -> None:
        """Children the service removes along with a deleted parent, and their stored data."""
        if res.kind == "dataset":
            for job in txn.find("dataset-import-job", res.arn):
                txn.remove(job.arn)
            self.data.discard(res.arn)
        elif res.kind == "solution":
            for version in txn.find("solution-version", res.arn):
                for job in txn.find("batch-inference-job", version.arn):
                    txn.remove(job.arn)
                txn.remove(version.arn)
                self.data.discard(version.arn)

    # ---- dataset groups, schemas, datasets, imports ------------------------------------------
    def op_create_dataset_group(self, p: dict) -> dict:
        if p.get("domain"):
            raise NotImplementedError("The local Personalize engine does not implement Domain dataset groups "
                                      "(CreateDatasetGroup with domain).")
        if bool(p.get("roleArn")) != bool(p.get("kmsKeyArn")):
            raise invalid("Supplying an IAM role is only valid when also specifying a KMS key, "
                          "and a KMS key needs a role that can access it.")
        name = p["name"]
        with self.transaction() as txn:
            _check_quota(txn.count("dataset-group", excluding=DELETING), MAX_DATASET_GROUPS,
                         f"More than {MAX_DATASET_GROUPS} dataset groups; delete some and try again.")
            body = {k: p.get(k) for k in ("roleArn", "kmsKeyArn")}
            res = self._new(txn, "dataset-group", self.arn(f"dataset-group/{name}"), name, None, body, p.get("tags"))
        return {"datasetGroupArn": res.arn}

    def op_create_schema(self, p: dict) -> dict:
        if p.get("domain"):
            raise NotImplementedError("The local Personalize engine does not implement domain schemas "
                                      "(CreateSchema with domain).")
        name = p["name"]
        try:
            validation.parse_schema(p["schema"])
        except validation.SchemaValidationError as e:
            raise invalid(str(e)) from None
        with self.transaction() as txn:
            _check_quota(txn.count("schema"), MAX_SCHEMAS, f"More than {MAX_SCHEMAS} schemas.")
            res = self._new(txn, "schema", self.arn(f"schema/{name}"), name, None, {"schema": p["schema"]})
        return {"schemaArn": res.arn}

    def op_create_dataset(self, p: dict) -> dict:
        name = p["name"]
        dataset_type = p["datasetType"].upper()
        if dataset_type not in validation.DATASET_TYPES:
            raise invalid(f"datasetType must be one of {', '.join(validation.DATASET_TYPES)}.")
        with self.transaction() as txn:
            group = self._get(txn, p["datasetGroupArn"], "dataset-group")
            self._require_active(group, "Dataset group")
            schema = self._get(txn, p["schemaArn"], "schema")
            _schema_for(schema, dataset_type)
            if any(d.body["datasetType"] == dataset_type for d in txn.find("dataset", group.arn)):
                raise already_exists(f"Dataset group {group.arn} already has a {dataset_type} dataset.")
            body = {"datasetGroupArn": group.arn, "datasetType": dataset_type, "schemaArn": schema.arn,
                    # The service creates an action event tracker with each Action interactions dataset.
                    "trackingId": str(uuid.uuid4()) if dataset_type == "ACTION_INTERACTIONS" else None}
            res = self._new(txn, "dataset", self.arn(f"dataset/{group.name}/{dataset_type}"), name, group.arn,
                            body, p.get("tags"))
        return {"datasetArn": res.arn}

    def op_update_dataset(self, p: dict) -> dict:
        with self.transaction() as txn:
            dataset = self._get(txn, p["datasetArn"], "dataset")
            dataset_type = dataset.body["datasetType"]
            if dataset_type not in ("ITEMS", "USERS"):
                raise invalid(f"Only an Items or Users dataset's schema can be replaced, not a {dataset_type} "
                              "dataset's.")
            self._require_active(dataset, "Dataset")
            self._require_no_update(dataset)
            busy = txn.find("dataset-import-job", dataset.arn, statuses=CREATING)
            if busy:
                raise in_use(f"Dataset {dataset.arn} has an import job in progress: {busy[0].arn}")
            schema = self._get(txn, p["schemaArn"], "schema")
            if schema.arn == dataset.body["schemaArn"]:
                raise invalid(f"Dataset {dataset.arn} already uses schema {schema.arn}.")
            current = validation.parse_schema(self._get(txn, dataset.body["schemaArn"], "schema").body["schema"])
            try:
                validation.check_schema_replacement(current, _schema_for(schema, dataset_type))
            except validation.SchemaValidationError as e:
                raise invalid(str(e)) from None
            self._start_update(txn, dataset, {"schemaArn": schema.arn}, {"schemaArn": schema.arn})
        return {"datasetArn": dataset.arn}

    def op_create_dataset_import_job(self, p: dict) -> dict:
        name = p["jobName"]
        location = p["dataSource"].get("dataLocation", "")
        if not location.startswith("s3://"):
            raise invalid("Invalid Data location.")
        # Optional in the model, but the service reads S3 with it: every documented call passes one.
        if not p.get("roleArn"):
            raise invalid("roleArn is required: Amazon Personalize reads the data from Amazon S3 with this role.")
        mode = p.get("importMode", "FULL")
        with self.transaction() as txn:
            dataset = self._get(txn, p["datasetArn"], "dataset")
            self._require_active(dataset, "Dataset")
            self._require_no_update(dataset)
            if mode == "INCREMENTAL" and not txn.find("dataset-import-job", dataset.arn, statuses=("ACTIVE",)):
                raise invalid("If you haven't imported bulk records into the dataset previously, "
                              "you can only specify FULL.")
            self._check_in_flight_quota(txn, "dataset-import-job")
            res = self._new(txn, "dataset-import-job", self.arn(f"dataset-import-job/{name}"), name, dataset.arn,
                            {"datasetArn": dataset.arn, "dataSource": {"dataLocation": location},
                             "roleArn": p["roleArn"], "importMode": mode,
                             "publishAttributionMetricsToS3": p.get("publishAttributionMetricsToS3", False)},
                            p.get("tags"))
            self._start_worker(txn, res)
        return {"datasetImportJobArn": res.arn}

    # ---- solutions and training -------------------------------------------------------------
    def op_create_solution(self, p: dict) -> dict:
        name = p["name"]
        if p.get("performAutoML"):
            raise NotImplementedError("The local Personalize engine does not implement AutoML "
                                      "(CreateSolution with performAutoML); name a recipeArn.")
        if not p.get("recipeArn"):
            raise invalid("recipeArn is required when performAutoML is false.")
        _custom_recipe(p["recipeArn"])
        if p.get("performIncrementalUpdate") and p["recipeArn"] != SEMANTIC_SIMILARITY:
            raise invalid("performIncrementalUpdate is supported only for solutions that use the "
                          "semantic-similarity recipe.")
        config = p.get("solutionConfig") or {}
        _check_training_interval(config)
        with self.transaction() as txn:
            group = self._get(txn, p["datasetGroupArn"], "dataset-group")
            self._require_active(group, "Dataset group")
            _check_quota(txn.count("solution", group.arn, excluding=DELETING), MAX_SOLUTIONS_PER_GROUP,
                         f"More than {MAX_SOLUTIONS_PER_GROUP} solutions in dataset group {group.arn}.")
            body = {
                "datasetGroupArn": group.arn, "recipeArn": p["recipeArn"],
                "performHPO": p.get("performHPO", False), "performAutoML": False,
                # The service defaults to automatic training every 7 days (a cost trap we report faithfully).
                "performAutoTraining": p.get("performAutoTraining", True),
                "performIncrementalUpdate": p.get("performIncrementalUpdate", False),
                "eventType": p.get("eventType"), "solutionConfig": p.get("solutionConfig"),
            }
            res = self._new(txn, "solution", self.arn(f"solution/{name}"), name, group.arn, body, p.get("tags"))
        return {"solutionArn": res.arn}

    def op_update_solution(self, p: dict) -> dict:
        update = p.get("solutionUpdateConfig") or {}
        _check_training_interval(update)
        if p.get("performIncrementalUpdate"):
            raise invalid("performIncrementalUpdate is supported only for solutions that use the "
                          "semantic-similarity recipe.")
        with self.transaction() as txn:
            solution = self._get(txn, p["solutionArn"], "solution")
            self._require_active(solution, "Solution")
            self._require_no_update(solution)
            auto = p.get("performAutoTraining", solution.body["performAutoTraining"])
            summary = {"solutionUpdateConfig": update, "performAutoTraining": auto,
                       "performIncrementalUpdate": p.get("performIncrementalUpdate", False)}
            # The new automatic-training schedule and event weights replace the solution's.
            config = {**(solution.body.get("solutionConfig") or {}), **update}
            self._start_update(txn, solution, summary, {"performAutoTraining": auto, "solutionConfig": config})
        return {"solutionArn": solution.arn}

    def op_create_solution_version(self, p: dict) -> dict:
        mode, base = p.get("trainingMode", "FULL"), None
        with self.transaction() as txn:
            solution = self._get(txn, p["solutionArn"], "solution")
            self._require_active(solution, "Solution")
            self._require_no_update(solution)
            recipe = recipes.get_recipe(solution.body["recipeArn"])
            body = {k: solution.body[k] for k in ("recipeArn", "datasetGroupArn", "eventType", "performHPO",
                                                  "performAutoML", "solutionConfig")}
            if mode == "UPDATE":
                if not recipe.supports_update:
                    raise invalid(f"trainingMode UPDATE is not supported for recipe {recipe.arn}.")
                full = [v for v in txn.find("solution-version", solution.arn, statuses=("ACTIVE",))
                        if v.body["trainingMode"] == "FULL"]
                if not full:
                    raise invalid("trainingMode UPDATE needs an ACTIVE solution version trained with FULL.")
                base = full[0].arn
            elif mode != "FULL":
                raise invalid(f"trainingMode {mode} is not supported for manual training.")
            self._check_in_flight_quota(txn, "solution-version")
            body.update(solutionArn=solution.arn, trainingMode=mode, trainingType="MANUAL")
            arn = self.arn(f"solution/{solution.name}/{secrets.token_hex(4)}")
            res = self._new(txn, "solution-version", arn, p.get("name", ""), solution.arn, body, p.get("tags"))
            if base:  # an UPDATE keeps the hyperparameters of the FULL version it updates
                res.internal["base"] = base
            self._start_worker(txn, res)
        return {"solutionVersionArn": res.arn}

    def op_stop_solution_version_creation(self, p: dict) -> dict:
        with self.transaction() as txn:
            version = self._get(txn, p["solutionVersionArn"], "solution-version")
            if version.status not in CREATING:
                raise in_use(f"Solution version {version.arn} is not being created (status: {version.status}).")
            pid = version.internal.get("pid")
            if pid and _pid_alive(pid):
                os.kill(pid, 15)  # AWS bills the training done so far; here it is simply lost
            now = time.time()
            if version.status == "CREATE PENDING":
                version.status = "CREATE STOPPED"
            else:  # IN_PROGRESS -> STOPPING -> STOPPED, as the service documents
                version.status, version.due = "CREATE STOPPING", now + self.transition_seconds
                version.internal["transition_started"] = now
            txn.save(version, now)
        return {}

    def op_get_solution_metrics(self, p: dict) -> dict:
        with self.transaction() as txn:
            version = self._get(txn, p["solutionVersionArn"], "solution-version")
            self._require_active(version, "Solution version")
        return {"solutionVersionArn": version.arn, "metrics": version.internal.get("metrics", {})}

    # ---- campaigns and event trackers --------------------------------------------------------
    def _deployable(self, txn: Txn, arn: str, config: dict | None) -> Resource:
        """The solution version a campaign deploys: an ACTIVE one, or a solution's newest as <solution>/$LATEST."""
        latest = arn.endswith("/$LATEST")
        if (config or {}).get("syncWithLatestSolutionVersion") and not latest:
            raise invalid("syncWithLatestSolutionVersion needs solutionVersionArn in SolutionArn/$LATEST format.")
        if not latest:
            version = self._get(txn, arn, "solution-version")
            self._require_active(version, "Solution version")
            return version
        solution = self._get(txn, arn.removesuffix("/$LATEST"), "solution")
        active = txn.find("solution-version", solution.arn, statuses=("ACTIVE",))
        if not active:
            raise in_use(f"Solution {solution.arn} has no ACTIVE solution version to deploy.")
        return active[0]

    def op_create_campaign(self, p: dict) -> dict:
        name = p["name"]
        with self.transaction() as txn:
            version = self._deployable(txn, p["solutionVersionArn"], p.get("campaignConfig"))
            group = version.body["datasetGroupArn"]
            _check_quota(sum(txn.count("campaign", s.arn, excluding=DELETING) for s in txn.find("solution", group)),
                         MAX_CAMPAIGNS_PER_GROUP, "Cannot create a campaign. More than 5 resources in ACTIVE state. "
                                                  "Please delete some and try again.")
            body = {"solutionVersionArn": p["solutionVersionArn"], "minProvisionedTPS": p.get("minProvisionedTPS", 1),
                    "campaignConfig": p.get("campaignConfig")}
            res = self._new(txn, "campaign", self.arn(f"campaign/{name}"), name, version.parent, body, p.get("tags"))
        return {"campaignArn": res.arn}

    def op_update_campaign(self, p: dict) -> dict:
        with self.transaction() as txn:
            campaign = self._get(txn, p["campaignArn"], "campaign")
            if campaign.status not in ("ACTIVE", "CREATE FAILED"):
                raise in_use(f"Campaign {campaign.arn} can be updated only when ACTIVE or CREATE FAILED "
                             f"(status: {campaign.status}).")
            self._require_no_update(campaign)
            changes = {k: p[k] for k in ("solutionVersionArn", "minProvisionedTPS", "campaignConfig") if k in p}
            config = changes.get("campaignConfig", campaign.body.get("campaignConfig"))
            version = self._deployable(txn, changes.get("solutionVersionArn", campaign.body["solutionVersionArn"]),
                                       config)
            if version.parent != campaign.parent:
                raise invalid(f"Campaign {campaign.arn} deploys solution {campaign.parent}; "
                              f"{version.arn} belongs to another solution.")
            summary = {k: changes.get(k, campaign.body.get(k)) for k in ("solutionVersionArn", "minProvisionedTPS",
                                                                        "campaignConfig")}
            self._start_update(txn, campaign, summary, changes)
        return {"campaignArn": campaign.arn}

    def op_create_event_tracker(self, p: dict) -> dict:
        name = p["name"]
        with self.transaction() as txn:
            group = self._get(txn, p["datasetGroupArn"], "dataset-group")
            self._require_active(group, "Dataset group")
            if txn.find("event-tracker", group.arn):
                raise already_exists(f"Dataset group {group.arn} already has an event tracker; "
                                     "only one can be associated with a dataset group.")
            tracking_id = str(uuid.uuid4())
            body = {"datasetGroupArn": group.arn, "trackingId": tracking_id, "accountId": ACCOUNT_ID}
            res = self._new(txn, "event-tracker", self.arn(f"event-tracker/{secrets.token_hex(4)}"), name, group.arn,
                            body, p.get("tags"))
        return {"eventTrackerArn": res.arn, "trackingId": tracking_id}

    # ---- filters and batch inference --------------------------------------------------------
    def op_create_filter(self, p: dict) -> dict:
        name = p["name"]
        parsed = _parsed_filter(p["filterExpression"])
        with self.transaction() as txn:
            group = self._get(txn, p["datasetGroupArn"], "dataset-group")
            self._require_active(group, "Dataset group")
            schemas = {validation.dataset_label(d.body["datasetType"]): validation.parse_schema(
                self._get(txn, d.body["schemaArn"], "schema").body["schema"]) for d in txn.find("dataset", group.arn)}
            try:
                parsed.check_against_datasets(schemas)
            except filters.FilterExpressionError as e:
                raise invalid(str(e)) from None
            existing = [f for f in txn.find("filter", group.arn) if f.status not in DELETING]
            _check_quota(len(existing), MAX_FILTERS_PER_GROUP,
                         f"More than {MAX_FILTERS_PER_GROUP} filters in dataset group {group.arn}.")
            fields = parsed.fields.union(*(filters.parse_filter(f.body["filterExpression"]).fields for f in existing))
            if len(fields) > filters.MAX_DISTINCT_FIELDS_PER_GROUP:
                raise limit_exceeded(
                    f"The filters of dataset group {group.arn} would use {len(fields)} distinct dataset fields; "
                    f"the maximum is {filters.MAX_DISTINCT_FIELDS_PER_GROUP}.")
            res = self._new(txn, "filter", self.arn(f"filter/{name}"), name, group.arn,
                            {"datasetGroupArn": group.arn, "filterExpression": p["filterExpression"]}, p.get("tags"))
        return {"filterArn": res.arn}

    def op_create_batch_inference_job(self, p: dict) -> dict:
        name = p["jobName"]
        input_path = p["jobInput"]["s3DataSource"]["path"]
        output_path = p["jobOutput"]["s3DataDestination"]["path"]
        for label, path in (("input", input_path), ("output", output_path)):
            if not path.startswith("s3://"):
                raise invalid(f"Invalid S3 {label} path")
        if input_path.rstrip("/") == output_path.rstrip("/"):
            raise invalid("Invalid S3 output path")
        num_results = p.get("numResults", 25)
        if not 1 <= num_results <= MAX_NUM_RESULTS:
            raise invalid(f"numResults must be between 1 and {MAX_NUM_RESULTS}.")
        with self.transaction() as txn:
            version = self._get(txn, p["solutionVersionArn"], "solution-version")
            self._require_active(version, "Solution version")
            recipe = recipes.get_recipe(version.body["recipeArn"])
            if recipe.batch_input is None:
                raise invalid(f"You can't get batch recommendations with the {recipe.name} recipe.")
            if p.get("batchInferenceJobMode", "BATCH_INFERENCE") != "BATCH_INFERENCE":
                if recipe.name != "aws-similar-items":
                    raise invalid("Theme generation (batchInferenceJobMode THEME_GENERATION) is available only "
                                  "for solution versions of the Similar-Items recipe.")
                raise NotImplementedError("The local Personalize engine does not implement theme generation "
                                          "(CreateBatchInferenceJob with batchInferenceJobMode THEME_GENERATION).")
            if p.get("filterArn"):
                flt = self._get(txn, p["filterArn"], "filter")
                self._require_active(flt, "Filter")
                if flt.parent != version.body["datasetGroupArn"]:
                    raise invalid(f"Filter {flt.arn} belongs to another dataset group than the solution version.")
                _check_filter_fits(filters.parse_filter(flt.body["filterExpression"]), recipe)
            self._check_in_flight_quota(txn, "batch-inference-job")
            body = {
                "solutionVersionArn": version.arn, "filterArn": p.get("filterArn"), "numResults": num_results,
                "jobInput": p["jobInput"], "jobOutput": p["jobOutput"], "roleArn": p["roleArn"],
                "batchInferenceJobConfig": p.get("batchInferenceJobConfig"),
                "batchInferenceJobMode": "BATCH_INFERENCE",
            }
            res = self._new(txn, "batch-inference-job", self.arn(f"batch-inference-job/{name}"), name, version.arn,
                            body, p.get("tags"))
            self._start_worker(txn, res)
        return {"batchInferenceJobArn": res.arn}

    # ---- tags and recipes -------------------------------------------------------------------
    def _tag(self, txn: Txn, res: Resource, tags: list[dict]) -> None:
        if not KINDS[res.kind].taggable:
            raise invalid(f"Resources of type {res.kind} can't be tagged.")
        new = {tag["tagKey"]: tag["tagValue"] for tag in tags}
        reserved = [k for k, v in new.items() if k.lower().startswith("aws:") or v.lower().startswith("aws:")]
        if reserved:
            raise invalid(f"Tag {reserved[0]!r}: the aws: prefix is reserved for AWS use in tag keys and values.")
        if len({**txn.tags(res.arn), **new}) > MAX_TAGS:
            raise ServiceError("TooManyTagsException",
                               f"You have exceeded the maximum number of tags you can apply to this resource "
                               f"({MAX_TAGS} per resource).")
        txn.set_tags(res.arn, new)

    def _taggable(self, txn: Txn, arn: str) -> Resource:
        res = self._get(txn, arn)
        if res.status in DELETING:
            raise in_use(f"The resource {arn} is being deleted.")
        return res

    def op_tag_resource(self, p: dict) -> dict:
        with self.transaction() as txn:
            self._tag(txn, self._taggable(txn, p["resourceArn"]), p["tags"])
        return {}

    def op_untag_resource(self, p: dict) -> dict:
        if len(set(p["tagKeys"])) > MAX_TAGS:
            raise ServiceError("TooManyTagKeysException",
                               f"The request contains more tag keys than can be associated with a resource "
                               f"({MAX_TAGS} tag keys per resource).")
        with self.transaction() as txn:
            txn.remove_tags(self._taggable(txn, p["resourceArn"]).arn, p["tagKeys"])
        return {}

    def op_list_tags_for_resource(self, p: dict) -> dict:
        with self.transaction() as txn:
            res = self._get(txn, p["resourceArn"])
            return {"tags": [{"tagKey": k, "tagValue": v} for k, v in txn.tags(res.arn).items()]}

    def op_list_recipes(self, p: dict) -> dict:
        max_results = p.get("maxResults", 100)
        offset = _decode_token(p.get("nextToken"), "recipe")
        domain = p.get("domain")
        found = [] if domain else [_recipe_summary(r.name, r.arn) for r in recipes.RECIPES.values()]
        found += [_recipe_summary(arn.rsplit("/", 1)[1], arn, d) for arn, d in _DOMAIN_OF.items() if domain in (None, d)]
        out: dict = {"recipes": found[offset : offset + max_results]}
        if offset + max_results < len(found):
            out["nextToken"] = _encode_token(offset + max_results, "recipe")
        return out

    def op_describe_recipe(self, p: dict) -> dict:
        arn = p["recipeArn"]
        if arn in _DOMAIN_OF:
            return {"recipe": {**_recipe_summary(arn.rsplit("/", 1)[1], arn, _DOMAIN_OF[arn]),
                               "description": f"A {_DOMAIN_OF[arn]} domain use case, for recommenders."}}
        try:
            recipe = recipes.get_recipe(arn)
        except KeyError:
            raise not_found(arn) from None
        return {"recipe": {**_recipe_summary(recipe.name, recipe.arn), "algorithmArn": recipe.algorithm_arn,
                           "featureTransformationArn": recipe.feature_transformation_arn,
                           "description": recipe.description, "recipeType": recipe.recipe_type}}


def _half_way(res: Resource) -> str | None:
    """The status a timed transition shows after half its time (dataset groups have no DELETE IN_PROGRESS)."""
    if res.status == "CREATE PENDING":
        return "CREATE IN_PROGRESS"
    if res.status == "DELETE PENDING" and res.kind != "dataset-group":
        return "DELETE IN_PROGRESS"
    return None


# Popen objects of workers this process started; polling them reaps finished ones (no zombies).
_CHILDREN: list[subprocess.Popen] = []


def _pid_alive(pid: int) -> bool:
    for proc in list(_CHILDREN):
        if proc.poll() is not None:
            _CHILDREN.remove(proc)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited: it only waits for its parent to reap it
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _check_quota(count: int, limit: int, message: str) -> None:
    """``count``: the resources the quota counts (those being deleted no longer do)."""
    if count >= limit:
        raise limit_exceeded(message)


def _schema_for(schema: Resource, dataset_type: str) -> validation.DatasetSchema:
    """A stored schema, checked for a dataset type as CreateDataset/UpdateDataset do."""
    parsed = validation.parse_schema(schema.body["schema"])
    try:
        validation.check_schema_for_dataset_type(parsed, dataset_type)
    except validation.SchemaValidationError as e:
        raise invalid(str(e)) from None
    return parsed


def _custom_recipe(arn: str) -> None:
    if arn in _DOMAIN_OF:
        raise invalid(f"{arn} is a {_DOMAIN_OF[arn]} domain use case; use it with CreateRecommender, "
                      "not in a solution.")
    try:
        recipes.get_recipe(arn)
    except KeyError:
        raise not_found(arn) from None


def _check_training_interval(config: dict) -> None:
    expression = (config.get("autoTrainingConfig") or {}).get("schedulingExpression")
    if expression and not 1 <= int(re.search(r"\d+", expression)[0]) <= MAX_TRAINING_INTERVAL_DAYS:
        raise invalid(f"Invalid schedulingExpression {expression!r}: the rate must be from 1 to "
                      f"{MAX_TRAINING_INTERVAL_DAYS} days.")


def _parsed_filter(expression: str) -> filters.ParsedFilter:
    try:
        return filters.parse_filter(expression)
    except filters.FilterExpressionError as e:
        raise invalid(str(e)) from None


def _check_filter_fits(parsed: filters.ParsedFilter, recipe: recipes.Recipe) -> None:
    """A batch inference job recommends items: its filter must filter items, and CurrentItem needs an item input."""
    if parsed.target != "ItemID":
        raise invalid(f"The filter filters {parsed.target}s; a batch inference job of recipe {recipe.name} "
                      "needs an ItemID filter.")
    if parsed.uses_current_item and recipe.batch_input != "itemId":
        raise invalid(f"CurrentItem filters apply only to related-items recipes; {recipe.name} is not one.")


def _recipe_summary(name: str, arn: str, domain: str | None = None) -> dict:
    out = {"name": name, "recipeArn": arn, "status": "ACTIVE", "creationDateTime": _RECIPE_EPOCH,
           "lastUpdatedDateTime": _RECIPE_EPOCH}
    return {**out, "domain": domain} if domain else out


def _encode_token(offset: int, kind: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset, "k": kind}).encode()).decode()


def _decode_token(token: str | None, kind: str) -> int:
    if token is None:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if data["k"] == kind and isinstance(data["o"], int) and data["o"] >= 0:
            return data["o"]
    except (ValueError, KeyError, TypeError):
        pass
    raise ServiceError("InvalidNextTokenException", "The token is not valid.")
