"""What every operation handler works with: the catalog, ARNs, payloads, and creating resources.

``ServiceCore`` holds one client's view of the engine (its root, region and lifecycle delay). The operation
handlers (``engine.operations``) are functions of it and the request's parameters.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable, Iterator

from recsys_assets.engine import lifecycle
from recsys_assets.engine.catalog import Catalog, Resource, Txn
from recsys_assets.engine.constraints import request_errors
from recsys_assets.engine.data import DataStore
from recsys_assets.engine.errors import ServiceError, already_exists, in_use, invalid, limit_exceeded, not_found
from recsys_assets.engine.kinds import KINDS, Kind
from recsys_assets.engine.statuses import CREATING, DELETING
from recsys_assets.personalize_rules.limits import MAX_JOBS_IN_FLIGHT, MAX_TAGS_PER_RESOURCE

ACCOUNT_ID = "000000000000"


class ServiceCore:
    def __init__(self, root: str | Path, store_config: dict, *, region: str = "us-east-1",
                 transition_seconds: float = 0.0):
        self.root = Path(root)
        self.region = region
        self.store_config = store_config
        self.transition_seconds = transition_seconds
        self.catalog = Catalog(self.root / "catalog.db")
        self.data = DataStore(self.root)

    def arn(self, resource: str) -> str:
        return f"arn:aws:personalize:{self.region}:{ACCOUNT_ID}:{resource}"

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Txn]:
        """A catalog transaction that sees this region's resources only, after pending transitions."""
        with self.catalog.transaction(scope=self.arn("")) as txn:
            lifecycle.refresh(txn, self.data)
            yield txn

    # ---- reading -----------------------------------------------------------------------------
    @staticmethod
    def get(txn: Txn, arn: str, kind: str | None = None) -> Resource:
        res = txn.get(arn)
        if res is None or (kind is not None and res.kind != kind):
            raise not_found(arn)
        return res

    @staticmethod
    def require_active(res: Resource, what: str) -> None:
        if res.status != "ACTIVE":
            raise in_use(f"{what} {res.arn} is not ACTIVE (status: {res.status}).")

    @staticmethod
    def require_no_update(res: Resource) -> None:
        if "update" in res.internal:
            raise in_use(f"The resource {res.arn} has an update in progress.")

    @staticmethod
    def payload(kind: Kind, res: Resource, fields: tuple[str, ...] | None = None) -> dict:
        out = {kind.arn_key: res.arn, "creationDateTime": res.created, "lastUpdatedDateTime": res.updated}
        if res.name:
            out[kind.name_key] = res.name
        if kind.has_status:
            out["status"] = res.status
        body = res.body if fields is None else {k: v for k, v in res.body.items() if k in fields}
        out.update({k: v for k, v in body.items() if v is not None})
        return out

    # ---- writing -----------------------------------------------------------------------------
    def new(self, txn: Txn, kind: str, arn: str, name: str, parent: str | None, body: dict,
            tags: list[dict] | None = None) -> Resource:
        spec = KINDS[kind]
        # Names are unique per resource type in an account and region (ARNs mostly derive from them).
        existing = (txn.find(kind, name=name) if name else []) or [r for r in [txn.get(arn)] if r is not None]
        if existing:
            raise already_exists(f"The {spec.op} {name or arn} already exists ({existing[0].arn}).")
        at = lifecycle.now()
        res = Resource(arn=arn, kind=kind, name=name, parent=parent,
                       status="CREATE PENDING" if spec.has_status else None, created=at, updated=at, body=body)
        if spec.has_status and not spec.worker:
            lifecycle.begin(res, at, self.transition_seconds)
        txn.insert(res)
        if tags:
            self.tag(txn, res, tags)
        return res

    def start_update(self, txn: Txn, res: Resource, summary: dict, apply: dict) -> None:
        """Begin an Update<X>: its latest<X>Update goes CREATE PENDING -> IN_PROGRESS -> ACTIVE with time,
        and ``apply`` takes effect on the resource when it is ACTIVE (until then the old settings hold)."""
        at = lifecycle.now()
        res.body[KINDS[res.kind].update_key] = {
            **{k: v for k, v in summary.items() if v is not None},
            "status": "CREATE PENDING", "creationDateTime": at, "lastUpdatedDateTime": at,
        }
        res.internal["update"] = apply
        lifecycle.begin(res, at, self.transition_seconds)
        txn.save(res, at)

    def start_worker(self, txn: Txn, res: Resource) -> None:
        lifecycle.start_worker(self.root, res, store_config=self.store_config,
                               pending_seconds=self.transition_seconds)
        txn.save(res, res.created)

    @staticmethod
    def check_in_flight_quota(txn: Txn, kind: str) -> None:
        limit = MAX_JOBS_IN_FLIGHT[kind]
        if len(txn.find(kind, statuses=CREATING)) >= limit:
            raise limit_exceeded(f"More than {limit} resources with PENDING or IN_PROGRESS status.")

    @staticmethod
    def tag(txn: Txn, res: Resource, tags: list[dict]) -> None:
        if not KINDS[res.kind].taggable:
            raise invalid(f"Resources of type {res.kind} can't be tagged.")
        new = {tag["tagKey"]: tag["tagValue"] for tag in tags}
        reserved = [k for k, v in new.items() if k.lower().startswith("aws:") or v.lower().startswith("aws:")]
        if reserved:
            raise invalid(f"Tag {reserved[0]!r}: the aws: prefix is reserved for AWS use in tag keys and values.")
        if len({**txn.tags(res.arn), **new}) > MAX_TAGS_PER_RESOURCE:
            raise ServiceError("TooManyTagsException",
                               f"You have exceeded the maximum number of tags you can apply to this resource "
                               f"({MAX_TAGS_PER_RESOURCE} per resource).")
        txn.set_tags(res.arn, new)

    def taggable(self, txn: Txn, arn: str) -> Resource:
        res = self.get(txn, arn)
        if res.status in DELETING:
            raise in_use(f"The resource {arn} is being deleted.")
        return res


class DataPlaneService(ServiceCore):
    """personalize-runtime or personalize-events on the engine's state: ``operations`` maps each operation to
    its handler; a request is checked against the client's service model first, as the control plane's are."""

    operations: dict[str, Callable[["DataPlaneService", dict], dict | None]] = {}

    def __init__(self, root: str | Path, store_config: dict, *, region: str = "us-east-1", service_model=None):
        super().__init__(root, store_config, region=region)
        self.service_model = service_model

    def handle(self, operation: str, params: dict) -> dict:
        handler = self.operations.get(operation)
        if handler is None:
            raise invalid(f"The local Personalize engine does not implement {operation}.")
        if self.service_model is not None:
            problem = request_errors(self.service_model.operation_model(operation), params)
            if problem:
                raise invalid(problem)
        return handler(self, params) or {}
