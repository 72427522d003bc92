"""How resources move through their statuses: with time, or by the worker process that runs their job.

Cheap resources follow the transitions table as time passes (half their delay in the middle status, then
the end status; ``GONE`` removes them). Import, training and batch jobs run in worker processes
(``engine.worker``), detached from the caller as on AWS; a worker that dies leaves its job CREATE FAILED.
Each catalog transaction first applies what time and dead workers have brought about (``refresh``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from recsys_assets.engine.catalog import Resource, Txn
from recsys_assets.engine.data import DataStore
from recsys_assets.engine.deletion import remove_with_parent
from recsys_assets.engine.kinds import KINDS
from recsys_assets.engine.statuses import CREATING

GONE = None


@dataclass(frozen=True)
class Transition:
    middle: str | None  # shown after half the delay
    end: str | None  # GONE: the resource is removed
    no_middle: tuple[str, ...] = ()  # kinds that skip the middle status


TRANSITIONS = {
    "CREATE PENDING": Transition("CREATE IN_PROGRESS", "ACTIVE"),
    "CREATE IN_PROGRESS": Transition(None, "ACTIVE"),
    "CREATE STOPPING": Transition(None, "CREATE STOPPED"),
    # Dataset groups have no DELETE IN_PROGRESS.
    "DELETE PENDING": Transition("DELETE IN_PROGRESS", GONE, no_middle=("dataset-group",)),
    "DELETE IN_PROGRESS": Transition(None, GONE),
}


def now() -> float:
    """The engine's clock (tests replace it to drive transitions)."""
    return time.time()


def begin(res: Resource, at: float, seconds: float) -> None:
    """Start a timed transition of ``res`` that completes ``seconds`` after ``at``."""
    res.due = at + seconds
    res.internal["transition_started"] = at


def refresh(txn: Txn, data: DataStore) -> None:
    """Apply the transitions that time and dead workers have brought about."""
    at = now()
    for res in txn.timed():
        _advance(txn, data, res, at)
    for kind in (k for k in KINDS.values() if k.worker):
        # Not CREATE STOPPING: StopSolutionVersionCreation ended its worker on purpose, and its timed
        # transition ends it CREATE STOPPED.
        for res in txn.find(kind.name, statuses=CREATING):
            pid = res.internal.get("pid")
            if pid and not pid_alive(pid):
                res.status = "CREATE FAILED"
                res.body["failureReason"] = _left_reason(res) or (
                    f"The local engine's worker (pid {pid}) exited before finishing; see {res.internal.get('log')}."
                )
                data.discard(res.arn)  # whatever it was writing when it died
                txn.save(res, at)


def _advance(txn: Txn, data: DataStore, res: Resource, at: float) -> None:
    """One timed transition: a status change (the middle status half way), or an update's."""
    started = res.internal.get("transition_started", res.updated)
    done, half_way = at >= res.due, at >= started + (res.due - started) / 2
    if "update" in res.internal:  # the resource stays as it is; its latest<X>Update moves
        summary = res.body[KINDS[res.kind].update_key]
        if done:
            summary["status"], res.due = "ACTIVE", None
            res.body.update(res.internal.pop("update"))
        elif half_way and summary["status"] == "CREATE PENDING":
            summary["status"] = "CREATE IN_PROGRESS"
        else:
            return
        summary["lastUpdatedDateTime"] = at
    else:
        transition = TRANSITIONS.get(res.status or "")
        if transition is None:  # nothing moves it (e.g. it reached its end meanwhile)
            res.due = None
        elif done:
            if transition.end is GONE:
                txn.remove(res.arn)
                remove_with_parent(txn, data, res)
                return
            res.status, res.due = transition.end, None
        elif half_way and transition.middle and res.kind not in transition.no_middle:
            res.status = transition.middle
        else:
            return
    txn.save(res, at)


# ---- worker processes ---------------------------------------------------------------------------

# Popen objects of workers this process started; polling them reaps finished ones (no zombies).
CHILDREN: list[subprocess.Popen] = []
# A worker that can't record its job's failure in the catalog (a full disk) writes the reason into a file of
# this size, allocated when the job is created: overwriting its bytes needs no free space.
REASON_BYTES = 4096


def start_worker(root: Path, res: Resource, *, store_config: dict, pending_seconds: float) -> None:
    """Run ``res``'s job in its own process; the caller saves ``res`` (pid and log) in its transaction."""
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{res.kind}-{res.arn.rsplit('/', 1)[-1]}.log"
    reason_file = log.with_suffix(".reason")
    reason_file.write_bytes(b" " * REASON_BYTES)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "recsys_assets.engine.worker", str(root), res.arn],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives the caller, like a job on the service
        )
    CHILDREN.append(proc)
    res.internal.update(pid=proc.pid, log=str(log), reason_file=str(reason_file), store=store_config,
                        pending_seconds=pending_seconds)


def leave_reason(res: Resource, reason: str) -> None:
    """Keep the failureReason of a job whose worker can't write the catalog, for ``refresh`` to record."""
    with open(res.internal["reason_file"], "r+b") as f:
        f.write(reason.encode()[:REASON_BYTES])


def _left_reason(res: Resource) -> str | None:
    try:
        return Path(res.internal["reason_file"]).read_bytes().decode(errors="ignore").strip() or None
    except (KeyError, OSError):  # a job created before reason files, or the file is gone
        return None


def stop_worker(res: Resource) -> None:
    pid = res.internal.get("pid")
    if pid and pid_alive(pid):
        os.kill(pid, 15)  # AWS bills the training done so far; here it is simply lost


def pid_alive(pid: int) -> bool:
    for proc in list(CHILDREN):
        if proc.poll() is not None:
            CHILDREN.remove(proc)
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
