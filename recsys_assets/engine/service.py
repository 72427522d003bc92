"""The Personalize control plane as the local engine serves it.

``LocalPersonalize.handle(operation, params)`` takes an operation name and its already-validated
JSON parameters (botocore has checked required members, types and enums) and returns the JSON
response, or raises ``ServiceError`` with the code and message the service would send. It adds what
botocore does not check client-side: name/ARN patterns, cross-resource rules, status preconditions,
deletion order and quotas. Cheap resources move along their lifecycle with time; import, training
and batch jobs run in worker processes (``engine.worker``) so they outlive the caller, as on AWS.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from recsys_assets.engine import filters, recipes, validation
from recsys_assets.engine.catalog import Catalog, Resource, Txn
from recsys_assets.engine.data import DataStore

ACCOUNT_ID = "000000000000"

CREATING = ("CREATE PENDING", "CREATE IN_PROGRESS")
DELETING = ("DELETE PENDING", "DELETE IN_PROGRESS")
# The only states from which the service accepts a delete [DG:deleting-resources].
DELETABLE = ("ACTIVE", "CREATE FAILED", "CREATE STOPPED")

ARN_RE = re.compile(r"^arn:([a-z\d-]+):personalize:.*:.*:.+$")
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]*$")
ROLE_ARN_RE = re.compile(r"^arn:([a-z\d-]+):iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")
S3_PATH_RE = re.compile(r"^(s3|http|https)://.+")
# The service's tag pattern is ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$; \w and \s are Python's closest classes.
TAG_RE = re.compile(r"^[\w\s.:/=+\-@]*$")

# Quotas [DG:limits]: (kind, scope, statuses counted, limit, message).
MAX_DATASET_GROUPS = 5
MAX_SCHEMAS = 500
MAX_SOLUTIONS_PER_GROUP = 10
MAX_FILTERS_PER_GROUP = 30
MAX_CAMPAIGNS_PER_GROUP = 5
MAX_JOBS_IN_FLIGHT = {"dataset-import-job": 5, "batch-inference-job": 5, "solution-version": 20}
MAX_TAGS = 50


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


KINDS = {
    k.name: k
    for k in (
        Kind("dataset-group", "DatasetGroup", "datasetGroupArn", "datasetGroup", "datasetGroups", None,
             ("failureReason", "domain")),
        Kind("schema", "Schema", "schemaArn", "schema", "schemas", None, ("domain",),
             has_status=False, taggable=False),
        Kind("dataset", "Dataset", "datasetArn", "dataset", "datasets", "datasetGroupArn", ("datasetType",)),
        Kind("dataset-import-job", "DatasetImportJob", "datasetImportJobArn", "datasetImportJob",
             "datasetImportJobs", "datasetArn", ("failureReason", "importMode"), name_key="jobName", worker=True),
        Kind("solution", "Solution", "solutionArn", "solution", "solutions", "datasetGroupArn", ("recipeArn",)),
        Kind("solution-version", "SolutionVersion", "solutionVersionArn", "solutionVersion", "solutionVersions",
             "solutionArn", ("trainingMode", "trainingType", "failureReason"), worker=True),
        Kind("filter", "Filter", "filterArn", "filter", "Filters", "datasetGroupArn",
             ("datasetGroupArn", "failureReason")),
        Kind("batch-inference-job", "BatchInferenceJob", "batchInferenceJobArn", "batchInferenceJob",
             "batchInferenceJobs", "solutionVersionArn", ("failureReason", "solutionVersionArn",
                                                          "batchInferenceJobMode"),
             name_key="jobName", worker=True),
        Kind("campaign", "Campaign", "campaignArn", "campaign", "campaigns", "solutionArn", ("failureReason",)),
        Kind("event-tracker", "EventTracker", "eventTrackerArn", "eventTracker", "eventTrackers", "datasetGroupArn",
             ()),
    )
}
_BY_OP = {k.op: k for k in KINDS.values()}
_BY_LIST_OP = {f"{k.op}s": k for k in KINDS.values()}


def kind_of(arn: str) -> Kind | None:
    """The kind named by an ARN (``...:solution/x/abcd1234`` is a solution version)."""
    resource = arn.split(":", 5)[-1] if arn.count(":") >= 5 else ""
    head, _, rest = resource.partition("/")
    if head == "solution" and "/" in rest:
        return KINDS["solution-version"]
    return KINDS.get(head)


class LocalPersonalize:
    def __init__(self, root: str | Path, store_config: dict, *, region: str = "us-east-1",
                 transition_seconds: float = 0.0):
        self.root = Path(root)
        self.region = region
        self.store_config = store_config
        self.transition_seconds = transition_seconds
        self.catalog = Catalog(self.root / "catalog.db")
        self.data = DataStore(self.root)

    # ---- plumbing -------------------------------------------------------------------------
    def arn(self, resource: str) -> str:
        return f"arn:aws:personalize:{self.region}:{ACCOUNT_ID}:{resource}"

    def handle(self, operation: str, params: dict) -> dict:
        if operation.startswith("Describe") and operation[8:] in _BY_OP:
            return self._describe(_BY_OP[operation[8:]], params)
        if operation.startswith("List") and operation[4:] in _BY_LIST_OP:
            return self._list(_BY_LIST_OP[operation[4:]], params)
        if operation.startswith("Delete") and operation[6:] in _BY_OP:
            return self._delete(_BY_OP[operation[6:]], params)
        method = getattr(self, "op_" + re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower(), None)
        if method is None:
            raise NotImplementedError(f"The local Personalize engine does not implement {operation}.")
        return method(params)

    def _refresh(self, txn: Txn) -> None:
        """Apply the transitions that time and dead workers have brought about."""
        now = time.time()
        gone = txn.advance_timed(
            now, half_way=_half_way,
            done={"CREATE PENDING": "ACTIVE", "CREATE IN_PROGRESS": "ACTIVE", "CREATE STOPPING": "CREATE STOPPED",
                  "DELETE PENDING": None, "DELETE IN_PROGRESS": None},
        )
        for res in gone:
            self._after_delete(txn, res)
        for kind in (k for k in KINDS.values() if k.worker):
            for res in txn.find(kind.name, statuses=(*CREATING, "CREATE STOPPING")):
                pid = res.internal.get("pid")
                if pid and not _pid_alive(pid):
                    res.status = "CREATE FAILED"
                    res.body["failureReason"] = (
                        f"The local engine's worker (pid {pid}) exited before finishing; "
                        f"see {res.internal.get('log')}."
                    )
                    txn.save(res)

    def _get(self, txn: Txn, arn: str, kind: str | None = None) -> Resource:
        if len(arn) > 256 or not ARN_RE.match(arn):
            raise invalid(f"Invalid ARN {arn!r}: expected arn:<partition>:personalize:<region>:<account>:<resource>.")
        res = txn.get(arn)
        if res is None or (kind is not None and res.kind != kind):
            raise not_found(arn)
        return res

    def _require_active(self, res: Resource, what: str) -> None:
        if res.status != "ACTIVE":
            raise in_use(f"{what} {res.arn} is not ACTIVE (status: {res.status}).")

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
             tags: list[dict] | None = None, internal: dict | None = None) -> Resource:
        if txn.get(arn) is not None:
            raise ServiceError("ResourceAlreadyExistsException", f"The resource {arn} already exists.")
        now = time.time()
        spec = KINDS[kind]
        res = Resource(arn=arn, kind=kind, name=name, parent=parent,
                       status="CREATE PENDING" if spec.has_status else None,
                       created=now, updated=now, body=body, internal=internal or {})
        if spec.has_status and not spec.worker:
            res.due = now + self.transition_seconds
            res.internal["transition_started"] = now
        txn.insert(res)
        if tags:
            self._tag(txn, res, tags)
        return res

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
        txn.save(res)

    def _check_in_flight_quota(self, txn: Txn, kind: str) -> None:
        limit = MAX_JOBS_IN_FLIGHT[kind]
        if len(txn.find(kind, statuses=CREATING)) >= limit:
            raise ServiceError("LimitExceededException",
                               f"More than {limit} resources with PENDING or IN_PROGRESS status.")

    # ---- generic describe / list / delete ----------------------------------------------------
    def _describe(self, kind: Kind, params: dict) -> dict:
        with self.catalog.transaction() as txn:
            self._refresh(txn)
            res = self._get(txn, params[kind.arn_key], kind.name)
            return {kind.wrapper: self._payload(kind, res)}

    def _list(self, kind: Kind, params: dict) -> dict:
        max_results = params.get("maxResults", 100)
        if not 1 <= max_results <= 100:
            raise invalid("maxResults must be between 1 and 100.")
        offset = _decode_token(params.get("nextToken"), kind.name)
        with self.catalog.transaction() as txn:
            self._refresh(txn)
            parent = params.get(kind.list_parent) if kind.list_parent else None
            if parent is not None and txn.get(parent) is None:
                raise not_found(parent)
            found = txn.find(kind.name, parent)
        page = found[offset : offset + max_results]
        out: dict = {kind.list_key: [self._payload(kind, r, kind.summary) for r in page]}
        if offset + max_results < len(found):
            out["nextToken"] = _encode_token(offset + max_results, kind.name)
        return out

    def _delete(self, kind: Kind, params: dict) -> dict:
        arn = params[kind.arn_key]
        with self.catalog.transaction() as txn:
            self._refresh(txn)
            res = self._get(txn, arn, kind.name)
            if kind.has_status:
                if res.status in DELETING:
                    raise in_use(f"The resource {arn} is already being deleted.")
                if res.status not in DELETABLE:
                    raise in_use(f"The resource {arn} can't be deleted while its status is {res.status}.")
            blocker = self._delete_blocker(txn, res)
            if blocker:
                raise in_use(blocker)
            if not kind.has_status:  # schemas go at once
                txn.remove(arn)
                return {}
            now = time.time()
            res.status, res.due = "DELETE PENDING", now + self.transition_seconds
            res.internal["transition_started"] = now
            txn.save(res)
        return {}

    def _delete_blocker(self, txn: Txn, res: Resource) -> str | None:
        """Why the service refuses to delete this resource now (deletion order), or None."""

        def live(kind: str, parent: str | None = None, statuses: tuple[str, ...] | None = None) -> list[Resource]:
            return txn.find(kind, parent, statuses=statuses)

        if res.kind == "dataset-group":
            children = [r.arn for k in ("dataset", "solution", "event-tracker", "filter") for r in live(k, res.arn)]
            if children:
                return f"Dataset group {res.arn} still has resources; delete them first: {', '.join(children)}"
        elif res.kind == "schema":
            users = [d.arn for d in live("dataset") if d.body.get("schemaArn") == res.arn]
            if users:
                return f"Schema {res.arn} is in use by dataset(s): {', '.join(users)}"
        elif res.kind == "dataset":
            group = res.parent
            blockers = [f.arn for f in live("filter", group)]
            if res.body["datasetType"] == "INTERACTIONS":
                blockers += [t.arn for t in live("event-tracker", group)]
            blockers += [j.arn for j in live("dataset-import-job", res.arn, CREATING)]
            for solution in live("solution", group):
                for version in live("solution-version", solution.arn):
                    if version.status in CREATING:
                        blockers.append(version.arn)
                    blockers += [j.arn for j in live("batch-inference-job", version.arn, CREATING)]
                blockers += [c.arn for c in live("campaign", solution.arn)]
            if blockers:
                return f"Dataset {res.arn} can't be deleted while these exist or are in progress: {', '.join(blockers)}"
        elif res.kind == "solution":
            blockers = [c.arn for c in live("campaign", res.arn)]
            blockers += [v.arn for v in live("solution-version", res.arn, (*CREATING, "CREATE STOPPING"))]
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
        name = _name(p["name"])
        if p.get("roleArn") and not p.get("kmsKeyArn"):
            raise invalid("roleArn is only valid when also specifying a kmsKeyArn.")
        with self.catalog.transaction() as txn:
            self._refresh(txn)
            _check_quota(txn.find("dataset-group"), MAX_DATASET_GROUPS,
                         f"More than {MAX_DATASET_GROUPS} dataset groups; delete some and try again.")
            body = {k: p.get(k) for k in ("roleArn", "kmsKeyArn", "domain")}
            res = self._new(txn, "dataset-group", self.arn(f"dataset-group/{name}"), name, None, body, p.get("tags"))
        return {"datasetGroupArn": res.arn, **({"domain": p["domain"]} if p.get("domain") else {})}

    def op_create_schema(self, p: dict) -> dict:
        name = _name(p["name"])
        try:
            validation.parse_schema(p["schema"])
        except validation.SchemaValidationError as e:
            raise invalid(str(e)) from None
        with self.catalog.transaction() as txn:
            if len(txn.find("schema")) >= MAX_SCHEMAS:
                raise ServiceError("LimitExceededException", f"More than {MAX_SCHEMAS} schemas.")
            res = self._new(txn, "schema", self.arn(f"schema/{name}"), name, None,
                            {"schema": p["schema"], "domain": p.get("domain")})
        return {"schemaArn": res.arn}

    def op_create_dataset(self, p: dict) -> dict:
        name = _name(p["name"])
        dataset_type = p["datasetType"].upper()
        if dataset_type not in validation.DATASET_TYPES:
            raise invalid(f"datasetType must be one of {', '.join(validation.DATASET_TYPES)}.")
        with self.catalog.transaction() as txn:
            self._refresh(txn)
            group = self._get(txn, p["datasetGroupArn"], "dataset-group")
            self._require_active(group, "Dataset group")
            schema = self._get(txn, p["schemaArn"], "schema")
            try:
                validation.check_schema_for_dataset_type(validation.parse_schema(schema.body["schema"]), dataset_type)
            except validation.SchemaValidationError as e:
                raise invalid(str(e)) from None
            if any(d.body["datasetType"] == dataset_type for d in txn.find("dataset", group.arn)):
                raise ServiceError("ResourceAlreadyExistsException",
                                   f"Dataset group {group.arn} already has a {dataset_type} dataset.")
            res = self._new(txn, "dataset", self.arn(f"dataset/{group.name}/{dataset_type}"), name, group.arn,
                            {"datasetGroupArn": group.arn, "datasetType": dataset_type, "schemaArn": schema.arn},
                            p.get("tags"))
        return {"datasetArn": res.arn}

    def op_create_dataset_import_job(self, p: dict) -> dict:
        name = _name(p["jobName"])
        location = p["dataSource"].get("dataLocation", "")
        if not location.startswith("s3://"):
            raise invalid("Invalid Data location.")
        mode = p.get("importMode", "FULL")
        _role(p.get("roleArn"))
        with self.catalog.transaction() as txn:
            self._refresh(txn)
            dataset = self._get(txn, p["datasetArn"], "dataset")
            self._require_active(dataset, "Dataset")
            if mode == "INCREMENTAL" and not txn.find("dataset-import-job", dataset.arn, statuses=("ACTIVE",)):
                raise invalid("If you haven't imported bulk records into the dataset previously, "
                              "you can only specify FULL.")
            self._check_in_flight_quota(txn, "dataset-import-job")
            res = self._new(txn, "dataset-import-job", self.arn(f"dataset-import-job/{name}"), name, dataset.arn,
                            {"datasetArn": dataset.arn, "dataSource": {"dataLocation": location},
                             "roleArn": p.get("roleArn"), "importMode": mode,
                             "publishAttributionMetricsToS3": p.get("publishAttributionMetricsToS3", False)},
                            p.get("tags"))
            self._start_worker(txn, res)
        return {"datasetImportJobArn": res.arn}

    # ---- solutions and training -------------------------------------------------------------
    def op_create_solution(self, p: dict) -> dict:
        name = _name(p["name"])
        if p.get("performAutoML"):
            raise invalid("performAutoML is not supported by the local engine; name a recipeArn.")
        if not p.get("recipeArn"):
            raise invalid("recipeArn is required when performAutoML is false.")
        try:
            recipes.get_recipe(p["recipeArn"])
        except KeyError:
            raise not_found(p["recipeArn"]) from None
        with self.catalog.transaction() as txn:
            self._refresh(txn)
            group = self._get(txn, p["datasetGroupArn"], "dataset-group")
            self._require_active(group, "Dataset group")
            _check_quota(txn.find("solution", group.arn), MAX_SOLUTIONS_PER_GROUP,
                         f"More than {MAX_SOLUTIONS_PER_GROUP} solutions in dataset group {group.arn}.")
            body = {
                "datasetGroupArn": group.arn, "recipeArn": p["recipeArn"],
                "performHPO": p.get("performHPO", False), "performAutoML": False,
                # The service defaults to automatic training every 7 days (a cost trap we report faithfully).
                "performAutoTraining": p.get("performAutoTraining", True),
                "eventType": p.get("eventType"), "solutionConfig": p.get("solutionConfig"),
            }
            res = self._new(txn, "solution", self.arn(f"solution/{name}"), name, group.arn, body, p.get("tags"))
        return {"solutionArn": res.arn}

    def op_create_solution_version(self, p: dict) -> dict:
        mode = p.get("trainingMode", "FULL")
        name = _name(p["name"]) if p.get("name") else None
        with self.catalog.transaction() as txn:
            self._refresh(txn)
            solution = self._get(txn, p["solutionArn"], "solution")
            self._require_active(solution, "Solution")
            recipe = recipes.get_recipe(solution.body["recipeArn"])
            if mode == "UPDATE":
                if not recipe.supports_update:
                    raise invalid(f"trainingMode UPDATE is not supported for recipe {recipe.arn}.")
                if not [v for v in txn.find("solution-version", solution.arn, statuses=("ACTIVE",))
                        if v.body["trainingMode"] == "FULL"]:
                    raise invalid("trainingMode UPDATE needs an ACTIVE solution version trained with FULL.")
            elif mode != "FULL":
                raise invalid(f"trainingMode {mode} is not supported for manual training.")
            self._check_in_flight_quota(txn, "solution-version")
            body = {k: solution.body[k] for k in ("recipeArn", "datasetGroupArn", "eventType", "performHPO",
                                                  "performAutoML", "solutionConfig")}
            body.update(solutionArn=solution.arn, trainingMode=mode, trainingType="MANUAL")
            arn = self.arn(f"solution/{solution.name}/{secrets.token_hex(4)}")
            res = self._new(txn, "solution-version", arn, name or "", solution.arn, body, p.get("tags"))
            self._start_worker(txn, res)
        return {"solutionVersionArn": res.arn}

    def op_stop_solution_version_creation(self, p: dict) -> dict:
        with self.catalog.transaction() as txn:
            self._refresh(txn)
            version = self._get(txn, p["solutionVersionArn"], "solution-version")
            if version.status not in CREATING:
                raise in_use(f"Solution version {version.arn} is not being created (status: {version.status}).")
            pid = version.internal.get("pid")
            if pid and _pid_alive(pid):
                os.kill(pid, 15)  # AWS bills the training done so far; here it is simply lost
            if version.status == "CREATE PENDING":
                version.status = "CREATE STOPPED"
            else:  # IN_PROGRESS -> STOPPING -> STOPPED, as the service documents
                now = time.time()
                version.status, version.due = "CREATE STOPPING", now + self.transition_seconds
                version.internal["transition_started"] = now
            txn.save(version)
        return {}

    def op_get_solution_metrics(self, p: dict) -> dict:
        with self.catalog.transaction() as txn:
            self._refresh(txn)
            version = self._get(txn, p["solutionVersionArn"], "solution-version")
            self._require_active(version, "Solution version")
        return {"solutionVersionArn": version.arn, "metrics": version.internal.get("metrics", {})}

    def op_create_campaign(self, p: dict) -> dict:
        name = _name(p["name"])
        with self.catalog.transaction() as txn:
            self._refresh(txn)
            version = self._get(txn, p["solutionVersionArn"], "solution-version")
            self._require_active(version, "Solution version")
            group = version.body["datasetGroupArn"]
            _check_quota([c for s in txn.find("solution", group) for c in txn.find("campaign", s.arn)],
                         MAX_CAMPAIGNS_PER_GROUP, "Cannot create a campaign. More than 5 resources in ACTIVE state. "
                                                  "Please delete some and try again.")
            body = {"solutionVersionArn": version.arn, "minProvisionedTPS": p.get("minProvisionedTPS", 1),
                    "campaignConfig": p.get("campaignConfig")}
            res = self._new(txn, "campaign", self.arn(f"campaign/{name}"), name, version.parent, body, p.get("tags"))
        return {"campaignArn": res.arn}

    def op_create_event_tracker(self, p: dict) -> dict:
        name = _name(p["name"])
        with self.catalog.transaction() as txn:
            self._refresh(txn)
            group = self._get(txn, p["datasetGroupArn"], "dataset-group")
            self._require_active(group, "Dataset group")
            if txn.find("event-tracker", group.arn):
                raise ServiceError("ResourceAlreadyExistsException",
                                   f"Dataset group {group.arn} already has an event tracker.")
            tracking_id = str(uuid.uuid4())
            body = {"datasetGroupArn": group.arn, "trackingId": tracking_id, "accountId": ACCOUNT_ID}
            res = self._new(txn, "event-tracker", self.arn(f"event-tracker/{secrets.token_hex(4)}"), name, group.arn,
                            body, p.get("tags"))
        return {"eventTrackerArn": res.arn, "trackingId": tracking_id}

    # ---- filters and batch inference --------------------------------------------------------
    def op_create_filter(self, p: dict) -> dict:
        name = _name(p["name"])
        try:
            parsed = filters.parse_filter(p["filterExpression"])
        except filters.FilterExpressionError as e:
            raise invalid(str(e)) from None
        with self.catalog.transaction() as txn:
            self._refresh(txn)
            group = self._get(txn, p["datasetGroupArn"], "dataset-group")
            self._require_active(group, "Dataset group")
            try:
                parsed.check_against_datasets(self._group_fields(txn, group.arn))
            except filters.FilterExpressionError as e:
                raise invalid(str(e)) from None
            _check_quota(txn.find("filter", group.arn), MAX_FILTERS_PER_GROUP,
                         f"More than {MAX_FILTERS_PER_GROUP} filters in dataset group {group.arn}.")
            res = self._new(txn, "filter", self.arn(f"filter/{name}"), name, group.arn,
                            {"datasetGroupArn": group.arn, "filterExpression": p["filterExpression"]}, p.get("tags"))
        return {"filterArn": res.arn}

    def _group_fields(self, txn: Txn, group_arn: str) -> dict[str, set[str]]:
        """Field names per dataset of a group, keyed as filter expressions name datasets."""
        names = {"INTERACTIONS": "Interactions", "ITEMS": "Items", "USERS": "Users"}
        fields = {}
        for dataset in txn.find("dataset", group_arn):
            if dataset.body["datasetType"] in names:
                schema = txn.get(dataset.body["schemaArn"])
                if schema is not None:
                    parsed = validation.parse_schema(schema.body["schema"])
                    fields[names[dataset.body["datasetType"]]] = set(parsed.field_names)
        return fields

    def op_create_batch_inference_job(self, p: dict) -> dict:
        name = _name(p["jobName"])
        _role(p["roleArn"])
        input_path = p["jobInput"]["s3DataSource"]["path"]
        output_path = p["jobOutput"]["s3DataDestination"]["path"]
        for label, path in (("input", input_path), ("output", output_path)):
            if not path.startswith("s3://"):
                raise invalid(f"Invalid S3 {label} path")
        if input_path.rstrip("/") == output_path.rstrip("/"):
            raise invalid("Invalid S3 output path")
        num_results = p.get("numResults", 25)
        if not 1 <= num_results <= 500:
            raise invalid("numResults must be between 1 and 500.")
        if p.get("batchInferenceJobMode", "BATCH_INFERENCE") != "BATCH_INFERENCE":
            raise invalid("The local engine supports batchInferenceJobMode BATCH_INFERENCE only.")
        with self.catalog.transaction() as txn:
            self._refresh(txn)
            version = self._get(txn, p["solutionVersionArn"], "solution-version")
            self._require_active(version, "Solution version")
            if p.get("filterArn"):
                flt = self._get(txn, p["filterArn"], "filter")
                self._require_active(flt, "Filter")
                if flt.parent != version.body["datasetGroupArn"]:
                    raise invalid(f"Filter {flt.arn} belongs to another dataset group than the solution version.")
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
        new = {}
        for tag in tags:
            key, value = tag["tagKey"], tag.get("tagValue", "")
            if not (1 <= len(key) <= 128) or len(value) > 256 or not TAG_RE.match(key) or not TAG_RE.match(value):
                raise invalid(f"Invalid tag {key!r}={value!r}.")
            new[key] = value
        if len({**txn.tags(res.arn), **new}) > MAX_TAGS:
            raise ServiceError("TooManyTagKeysException",
                               f"The request contains more than {MAX_TAGS} tag keys that can be associated with a resource.")
        txn.set_tags(res.arn, new)

    def op_tag_resource(self, p: dict) -> dict:
        with self.catalog.transaction() as txn:
            self._refresh(txn)  # a resource whose deletion has completed is gone here too
            self._tag(txn, self._get(txn, p["resourceArn"]), p["tags"])
        return {}

    def op_untag_resource(self, p: dict) -> dict:
        with self.catalog.transaction() as txn:
            self._refresh(txn)
            res = self._get(txn, p["resourceArn"])
            txn.remove_tags(res.arn, p["tagKeys"])
        return {}

    def op_list_tags_for_resource(self, p: dict) -> dict:
        with self.catalog.transaction() as txn:
            self._refresh(txn)
            res = self._get(txn, p["resourceArn"])
            return {"tags": [{"tagKey": k, "tagValue": v} for k, v in txn.tags(res.arn).items()]}

    def op_list_recipes(self, p: dict) -> dict:
        max_results = p.get("maxResults", 100)
        if not 1 <= max_results <= 100:
            raise invalid("maxResults must be between 1 and 100.")
        offset = _decode_token(p.get("nextToken"), "recipe")
        found = list(recipes.RECIPES.values()) if not p.get("domain") else []
        out: dict = {"recipes": [_recipe_summary(r) for r in found[offset : offset + max_results]]}
        if offset + max_results < len(found):
            out["nextToken"] = _encode_token(offset + max_results, "recipe")
        return out

    def op_describe_recipe(self, p: dict) -> dict:
        try:
            recipe = recipes.get_recipe(p["recipeArn"])
        except KeyError:
            raise not_found(p["recipeArn"]) from None
        return {"recipe": {**_recipe_summary(recipe), "algorithmArn": recipe.algorithm_arn,
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


def _check_quota(resources: list[Resource], limit: int, message: str) -> None:
    """Quotas count resources that exist; ones being deleted no longer do."""
    if len([r for r in resources if r.status not in DELETING]) >= limit:
        raise ServiceError("LimitExceededException", message)


def _name(name: str) -> str:
    if not (1 <= len(name) <= 63) or not NAME_RE.match(name):
        raise invalid(f"Invalid name {name!r}: names match [a-zA-Z0-9][a-zA-Z0-9\\-_]* and have 1 to 63 characters.")
    return name


def _role(role_arn: str | None) -> None:
    if not role_arn or not ROLE_ARN_RE.match(role_arn):
        raise invalid(f"Invalid roleArn {role_arn!r}: expected arn:aws:iam::<12-digit account>:role/<name>.")


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


def _recipe_summary(recipe: "recipes.Recipe") -> dict:
    # Recipes are built in: their timestamps are the service's launch, a fixed point in time.
    return {"name": recipe.name, "recipeArn": recipe.arn, "status": "ACTIVE",
            "creationDateTime": 1543622400.0, "lastUpdatedDateTime": 1543622400.0}
