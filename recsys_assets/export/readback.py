"""Reading an exported file back as the import job will, before anything is paid for."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys_assets.export.mapping import DatasetExport
from recsys_assets.personalize_rules.bulk_csv import DataValidationError, read_dataset_csv
from recsys_assets.personalize_rules.minimums import MinimumData
from recsys_assets.personalize_rules.schemas import DatasetSchema
from recsys_assets.storage import ObjectStore


@dataclass
class CsvCheck:
    error: DataValidationError | None = None
    minimum_data: MinimumData | None = None  # interactions only
    event_types: dict[str, int] | None = None  # interactions with an EVENT_TYPE field: how many of each

    @property
    def minimum_data_problems(self) -> list[str]:
        return self.minimum_data.problems if self.minimum_data else []


def check_csv(store: ObjectStore, uri: str, spec: DatasetExport, schema: DatasetSchema,
              chunk_rows: int = 50_000) -> CsvCheck:
    """Validate the written file as the import job will; for interactions also the minimum-data rules.

    Users are kept as small integer codes, so memory grows with the number of users, not of interactions.
    """
    check = CsvCheck()
    users, codes = pd.Index([], dtype=object), []
    types: Counter = Counter()
    try:
        with store.open_read(uri) as f:
            for chunk in read_dataset_csv(f, schema, spec.dataset_type, source=uri, chunksize=chunk_rows):
                if spec.dataset_type == "INTERACTIONS":
                    ids = chunk["USER_ID"]
                    users = users.append(pd.Index(ids.unique()).difference(users))
                    codes.append(users.get_indexer(ids).astype(np.int32))
                    if "EVENT_TYPE" in chunk:
                        types.update(chunk["EVENT_TYPE"].value_counts().to_dict())
    except DataValidationError as e:
        check.error = e
        return check
    if spec.dataset_type == "INTERACTIONS":
        user_codes = np.concatenate(codes) if codes else np.empty(0, dtype=np.int32)
        check.minimum_data = MinimumData.of(pd.DataFrame({"USER_ID": user_codes}))
        if "EVENT_TYPE" in schema.field_names:
            check.event_types = {str(k): int(v) for k, v in types.most_common()}
    return check
