"""Batch inference (API reference §7): JSON Lines under an S3 prefix in, ``<file>.out`` JSON Lines out.

Each input file is streamed in blocks of lines and its output written as it goes, so memory stays flat
however large the input. Every non-blank input line yields exactly one output line, in input order; a bad
line yields an error line (``"error": "User error: ..."``) and the job carries on, as the service does.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np

from recsys_assets.engine.filters import FilterContext, ParsedFilter
from recsys_assets.engine.storage import ObjectStore, split_uri

MAX_NUM_RESULTS = 500
MAX_USER_ID_LENGTH = 256


def input_uris(store: ObjectStore, input_path: str) -> list[str]:
    """Every object whose URI starts with ``input_path`` (S3 prefix semantics: ``s3://b/folderName`` also
    matches ``s3://b/folderName_test/x``; end the path with "/" to mean one folder)."""
    split_uri(input_path)
    # Keys ending in "/" are the zero-byte folder markers the S3 console creates, not input files.
    return [uri for uri in store.list(input_path) if not uri.endswith("/")]


def output_uri(input_uri: str, output_path: str) -> str:
    """``s3://b/in/users.json`` -> ``<output_path folder>/users.json.out``."""
    name = split_uri(input_uri)[1].rpartition("/")[2]
    return f"{output_path.rstrip('/')}/{name}.out"


@dataclass
class _Line:
    input: object  # the parsed JSON value, or the raw text when it isn't JSON
    user_id: str | None = None
    filter_values: dict | None = None
    error: str | None = None


def run_batch_inference(
    store: ObjectStore,
    model,
    recipe,
    *,
    input_path: str,
    output_path: str,
    num_results: int = 25,
    filter_: ParsedFilter | None = None,
    filter_ctx: FilterContext | None = None,
    block_size: int = 2000,
) -> dict:
    """Recommend for every userId line of every input file; returns counts of files, records and error records."""
    if isinstance(num_results, bool) or not isinstance(num_results, int) or not 1 <= num_results <= MAX_NUM_RESULTS:
        raise ValueError(f"numResults must be an integer from 1 to {MAX_NUM_RESULTS}, got {num_results!r}")
    if block_size < 1:
        raise ValueError(f"block_size must be at least 1, got {block_size}")
    if recipe.batch_input != "userId":
        raise NotImplementedError(
            f"batch inference here reads userId lines; recipe {recipe.name} expects {recipe.batch_input!r} input"
        )
    if filter_ is not None:
        if filter_ctx is None:
            raise ValueError("a filter needs filter_ctx: the dataset group's data it is evaluated against")
        if not np.array_equal(np.asarray(filter_ctx.item_ids), np.asarray(model.item_ids)):
            raise ValueError("filter_ctx.item_ids must be the model's catalogue, in the model's order")
    inputs = _checked_inputs(store, input_path, output_path)

    totals = {"input_files": len(inputs), "records": 0, "error_records": 0}
    for uri in inputs:
        # utf-8-sig drops a BOM; undecodable bytes become an error line instead of failing the job.
        with io.TextIOWrapper(store.open_read(uri), encoding="utf-8-sig", errors="replace") as lines, \
                store.open_write(output_uri(uri, output_path)) as out:
            block: list[_Line] = []
            for text in lines:
                if not text.strip():
                    continue
                block.append(_read_line(text.strip(), filter_))
                if len(block) == block_size:
                    _write_block(out, block, model, recipe, num_results, filter_, filter_ctx, totals)
                    block = []
            if block:
                _write_block(out, block, model, recipe, num_results, filter_, filter_ctx, totals)
    return totals


def _checked_inputs(store: ObjectStore, input_path: str, output_path: str) -> list[str]:
    for path, kind in ((input_path, "input"), (output_path, "output")):
        try:
            split_uri(path)
        except ValueError as e:
            raise ValueError(f"Invalid S3 {kind} path: {e}") from None
    inputs = input_uris(store, input_path)
    if not inputs:
        raise ValueError(f"Invalid S3 input path: no input files found under {input_path}")
    outputs: dict[str, str] = {}
    for uri in inputs:
        out = output_uri(uri, output_path)
        # Output that falls under the input prefix would be read back as input by the next run.
        if out.startswith(input_path):
            raise ValueError(
                f"Invalid S3 output path: {output_path} overlaps the input location {input_path}; "
                "write the output to a separate folder"
            )
        if out in outputs:
            raise ValueError(f"Invalid S3 input path: {outputs[out]} and {uri} would both be written to {out}")
        outputs[out] = uri
    return inputs


def _read_line(text: str, filter_: ParsedFilter | None) -> _Line:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as e:
        return _Line(text, error=f"User error: Input line is not valid JSON: {e.msg}")
    if not isinstance(record, dict):
        return _Line(record, error="User error: Each input line must be a JSON object")
    if "userId" not in record:
        return _Line(record, error="User error: Required fields for the provided recipe are userId")
    user_id = record["userId"]
    if not isinstance(user_id, str) or not 1 <= len(user_id) <= MAX_USER_ID_LENGTH:
        return _Line(record, error=f"User error: userId must be a string of 1 to {MAX_USER_ID_LENGTH} characters")
    filter_values = record.get("filterValues")
    if filter_ is not None:
        try:
            filter_.resolve_values(filter_values)
        except ValueError as e:
            return _Line(record, error=f"User error: {e}")
    return _Line(record, user_id, filter_values)


def _write_block(out, block, model, recipe, num_results, filter_, filter_ctx, totals) -> None:
    good = [line for line in block if line.error is None]
    results = iter(())
    if good:
        user_ids = [line.user_id for line in good]
        allowed = None
        if filter_ is not None:
            allowed = filter_.allowed_mask(filter_ctx, user_ids, [line.filter_values for line in good])
        results = iter(model.recommend(user_ids, num_results, allowed=allowed))
    rows = []
    for line in block:
        if line.error is not None:
            rows.append({"input": line.input, "output": {"recommendedItems": []}, "error": line.error})
            continue
        items, scores = next(results)
        output = {"recommendedItems": list(items)}
        if recipe.has_scores:
            output["scores"] = list(scores)
        rows.append({"input": line.input, "output": output, "error": None})
    out.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8"))
    totals["records"] += len(block)
    totals["error_records"] += len(block) - len(good)
