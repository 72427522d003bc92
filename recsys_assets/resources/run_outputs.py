"""The run-scoped IO manager: each asset's record of a run, stored under that run, loaded from that run.

An asset's output is written to ``<prefix>/<run id>/outputs/<asset>.json`` on the object store. A
downstream asset loads it from the run that produced it: the same run, or, in a re-execution (from
failure, or of selected steps), the parent run whose step Dagster did not run again. A run that selects a
downstream asset without its upstream has no such record and fails saying so: a record from another run
(another database, another dataset group, long torn down) is never used.
"""

from __future__ import annotations

import dagster as dg

from recsys_assets.resources.object_store import ObjectStoreResource
from recsys_assets.workflow import refs

# The resource key of this IO manager; the assets that hand on a record name it (``io_manager_key``).
RUN_OUTPUTS = "run_outputs"


class RunOutputs(dg.IOManager):
    """Each asset's record of a run, as JSON under that run on the object store, read back from that run."""

    def __init__(self, object_store: ObjectStoreResource):
        self.object_store = object_store

    def _uri(self, run_id: str, asset: dg.AssetKey) -> str:
        return self.object_store.uri(run_id, "outputs", f"{'__'.join(asset.path)}.json")

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        if obj is None:
            return
        store = self.object_store.get_store()
        store.write_bytes(self._uri(context.run_id, context.asset_key), refs.dumps(obj).encode())

    def load_input(self, context: dg.InputContext):
        upstream = context.upstream_output
        asset = context.asset_key.to_user_string()
        uri = self._uri(upstream.run_id, context.asset_key)
        try:
            text = self.object_store.get_store().read_bytes(uri)
        except FileNotFoundError:
            raise dg.Failure(
                f"there is no record of {asset} from run {upstream.run_id}: it was not materialized there, or that "
                f"run has ended and its cleanup deleted its files and Personalize resources (RECSYS_KEEP_RUN_FILES "
                f"keeps the files, not the resources). Materialize {asset} together with what needs it: launch a "
                f"new run.", allow_retries=False) from None
        return refs.loads(text.decode())


# The object store is the definitions' own ``object_store`` resource, not a nested one: Dagster 1.13
# initializes nested resources through its deprecated InitResourceContext.dagster_run.
@dg.io_manager(required_resource_keys={"object_store"}, description=RunOutputs.__doc__)
def run_outputs_io_manager(context: dg.InitResourceContext) -> RunOutputs:
    return RunOutputs(context.resources.object_store)
