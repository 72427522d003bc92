"""Names and ownership: everything a run creates is named after the deployment and the run, and tagged.

Names make a retried step find what it already created; tags (and, for untaggable schemas, the name
prefix) are what teardown trusts before it deletes anything.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass

DEPLOYMENT_TAG = "recsys:deployment"
RUN_TAG = "recsys:run-id"
_DEPLOYMENT_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]{0,19}$")


@dataclass(frozen=True)
class RunNames:
    deployment: str
    run_id: str

    def __post_init__(self):
        if not _DEPLOYMENT_RE.match(self.deployment):
            raise ValueError(
                f"deployment prefix {self.deployment!r} must be 1-20 letters, digits or '-', starting alphanumeric"
            )

    @property
    def key(self) -> str:
        # Personalize names are at most 63 characters; 8 hex digits of the run id stay unique enough.
        return f"{self.deployment}-{self.run_id.replace('-', '')[:8]}"

    @property
    def dataset_group(self) -> str:
        return self.key

    def solution(self, config: dict) -> str:
        # A retry with the same training config adopts the solution; a changed config gets its own.
        return f"{self.key}-{_digest(config)}"

    def filter(self, expression: str) -> str:
        return f"{self.key}-filter-{_digest(expression)}"

    @property
    def schema_prefix(self) -> str:
        return f"{self.key}-"

    def schema(self, dataset: str) -> str:
        return f"{self.schema_prefix}{dataset}"

    def dataset(self, dataset: str) -> str:
        return f"{self.key}-{dataset}"

    def job(self, what: str) -> str:
        # Jobs can never be deleted and their ARNs derive from the name: each attempt needs a new one.
        return f"{self.key}-{what}-{secrets.token_hex(4)}"

    @property
    def tags(self) -> list[dict]:
        return [{"tagKey": DEPLOYMENT_TAG, "tagValue": self.deployment}, {"tagKey": RUN_TAG, "tagValue": self.run_id}]

    def owns(self, tags: dict[str, str]) -> bool:
        return tags.get(DEPLOYMENT_TAG) == self.deployment and tags.get(RUN_TAG) == self.run_id


def schema_name_pattern(deployment: str) -> re.Pattern:
    """Schema names of any run of this deployment (and of no other deployment sharing a prefix)."""
    return re.compile(rf"^{re.escape(deployment)}-[0-9a-f]{{8}}-(users|items|interactions)$")


def _digest(value) -> str:
    return hashlib.sha1(json.dumps(value, sort_keys=True).encode()).hexdigest()[:8]
