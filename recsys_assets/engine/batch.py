"""Batch inference (API reference §7): JSON Lines under an S3 prefix in, ``<file>.out`` JSON Lines out.

Each input file is streamed in blocks of lines and its output written as it goes, so memory stays flat
however large the input. Every non-blank input line yields exactly one output line, in input order; a bad
line yields an error line (``"error": "User error: ..."``) and the job carries on, as the service does.

Input and output per recipe family [personalize-api.md §7.3], written compactly as the service does:

- user recommendations (``{"userId"}``): ``recommendedItems`` best first, with ``scores`` (each item's
  share of the catalogue) when the recipe has scores; filters apply before the ``numResults`` cut;
- personalized ranking (``{"userId", "itemList"}``): the list reranked, ``scores`` summing to 1 over
  it, items the model never saw appended at the end with score 0; a filter drops items from the list;
- related items (``{"itemId"}``): ``recommendedItems`` without scores; an unknown item gets popular items.

Scores are written with 7 decimals, the precision of the service's examples ("0.0152238"; the service
trims trailing zeros, which changes the text, not the value).
Trending-Now has no batch inference, as on AWS: ``check_recipe`` raises ``BatchNotSupported``.
"""

from __future__ import annotations

import io
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from recsys_assets.engine.filter_evaluation import FilterContext, allowed_mask, allowed_mask_for_items
from recsys_assets.personalize_rules.bulk_csv import ID_MAX_CHARS
from recsys_assets.personalize_rules.filter_grammar import ParsedFilter
from recsys_assets.personalize_rules.limits import MAX_NUM_RESULTS, MAX_RANKING_ITEMS
from recsys_assets.storage import ObjectStore, split_uri

_FIELDS = {"userId": ("userId",), "userId+itemList": ("userId", "itemList"), "itemId": ("itemId",)}


class BatchInputError(ValueError):
    """The job's input or output location can't be used; the message is the job's failureReason."""


class BatchNotSupported(BatchInputError):
    """The recipe has no batch inference (the service answers InvalidInputException)."""


def check_recipe(recipe) -> None:
    if recipe.batch_input is None:
        raise BatchNotSupported(f"Batch inference is not available for solution versions of recipe {recipe.name}.")


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


# The usual line, {"userId": "<id>"} or {"itemId": "<id>"} with an id JSON needs no escapes for, is read
# without the JSON parser: parsing and echoing 100k lines was a tenth of a top-500 job.
_PLAIN_LINE = re.compile(r'\{[ \t]*"(userId|itemId)"[ \t]*:[ \t]*"([^"\\\x00-\x1f]{1,256})"[ \t]*\}')


@dataclass
class _Line:
    echo: str  # the input line as compact JSON (a JSON string of the raw text when it isn't JSON)
    key: str | None = None  # the userId or itemId
    item_list: list[str] | None = None
    filter_values: dict | None = None
    error: str | None = None


def answer_batch_inputs(
    store: ObjectStore,
    model,
    recipe,
    *,
    input_path: str,
    output_path: str,
    num_results: int = 25,
    filter_: ParsedFilter | None = None,
    filter_ctx: FilterContext | None = None,
    block_size: int = 4000,
) -> dict:
    """Answer every line of every input file; returns counts of files, records and error records."""
    check_recipe(recipe)
    if isinstance(num_results, bool) or not isinstance(num_results, int) or not 1 <= num_results <= MAX_NUM_RESULTS:
        raise ValueError(f"numResults must be an integer from 1 to {MAX_NUM_RESULTS}, got {num_results!r}")
    if block_size < 1:
        raise ValueError(f"block_size must be at least 1, got {block_size}")
    if filter_ is not None:
        if filter_ctx is None:
            raise ValueError("a filter needs filter_ctx: the dataset group's data it is evaluated against")
        if not np.array_equal(np.asarray(filter_ctx.item_ids), np.asarray(model.item_ids)):
            raise ValueError("filter_ctx.item_ids must be the model's catalogue, in the model's order")
    inputs = _checked_inputs(store, input_path, output_path)
    writer = Writer(model, recipe, num_results, filter_, filter_ctx)

    totals = {"input_files": len(inputs), "records": 0, "error_records": 0}
    # Three stages overlap, each mostly outside the GIL: the next block is answered while this one is
    # rendered (kernels.render_lines) and the previous one written.
    with ThreadPoolExecutor(1) as ahead, ThreadPoolExecutor(1) as writing:
        for uri in inputs:
            # utf-8-sig drops a BOM; undecodable bytes become an error line instead of failing the job.
            with io.TextIOWrapper(store.open_read(uri), encoding="utf-8-sig", errors="replace") as lines, \
                    store.open_write(output_uri(uri, output_path)) as out:
                pending, written = None, None

                def write(answered) -> None:
                    nonlocal written
                    text = writer.lines(*answered.result(), totals)
                    if written is not None:
                        written.result()
                    written = writing.submit(out.write, text)

                for block in _blocks(lines, recipe.batch_input, filter_, block_size):
                    answered = ahead.submit(writer.answer, block)
                    if pending is not None:
                        write(pending)
                    pending = answered
                if pending is not None:
                    write(pending)
                if written is not None:
                    written.result()
    return totals


def _blocks(lines, batch_input: str, filter_, block_size: int):
    block: list[_Line] = []
    for text in lines:
        if text.strip():
            block.append(_read_line(text.strip(), batch_input, filter_))
            if len(block) == block_size:
                yield block
                block = []
    if block:
        yield block


def _checked_inputs(store: ObjectStore, input_path: str, output_path: str) -> list[str]:
    for path, kind in ((input_path, "input"), (output_path, "output")):
        try:
            split_uri(path)
        except ValueError as e:
            raise BatchInputError(f"Invalid S3 {kind} path: {e}") from None
    # The output may sit next to the input, as AWS allows (s3://b/ for input s3://b/input.json, as AWS's batch
    # notebook does); AWS only recommends a separate output folder. Input paths are S3 prefixes
    # [DG:creating-batch-inference-job]
    # (https://docs.aws.amazon.com/personalize/latest/dg/creating-batch-inference-job.html),
    # so an output next to the input matches the input prefix on a rerun. The files are listed
    # before any output is written, and an object that is this job's output for another input (``users.json.out``
    # next to ``users.json``, left by an earlier run) is not read as input (emulator choice: it is rewritten), so
    # no input is ever overwritten and a rerun reads the same inputs.
    listed = input_uris(store, input_path)
    produced = {output_uri(uri, output_path) for uri in listed}
    inputs = [uri for uri in listed if uri not in produced]
    if not inputs:
        raise BatchInputError(f"Invalid S3 input path: no input files found under {input_path}")
    outputs: dict[str, str] = {}
    for uri in inputs:
        out = output_uri(uri, output_path)
        if out in outputs:
            raise BatchInputError(f"Invalid S3 input path: {outputs[out]} and {uri} would both be written to {out}")
        outputs[out] = uri
    return inputs


def _read_line(text: str, batch_input: str, filter_: ParsedFilter | None) -> _Line:
    plain = _PLAIN_LINE.fullmatch(text)
    if plain:
        record = {plain[1]: plain[2]}
        echo = f'{{"{plain[1]}":"{plain[2]}"}}'
    else:
        try:
            record = json.loads(text)
        except json.JSONDecodeError as e:
            return _Line(json.dumps(text, ensure_ascii=False), error=f"User error: Input line is not valid JSON: {e.msg}")
        echo = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    if not isinstance(record, dict):
        return _Line(echo, error="User error: Each input line must be a JSON object")
    fields = _FIELDS[batch_input]
    if any(f not in record for f in fields):
        return _Line(echo, error=f"User error: Required fields for the provided recipe are {', '.join(fields)}")
    key = record[fields[0]]
    if not isinstance(key, str) or not 1 <= len(key) <= ID_MAX_CHARS:
        return _Line(echo, error=f"User error: {fields[0]} must be a string of 1 to {ID_MAX_CHARS} characters")
    item_list = record.get("itemList")
    if "itemList" in fields and (
        not isinstance(item_list, list) or not 1 <= len(item_list) <= MAX_RANKING_ITEMS
        or not all(isinstance(i, str) and 1 <= len(i) <= ID_MAX_CHARS for i in item_list)
    ):
        return _Line(echo, error=f"User error: itemList must be a list of 1 to {MAX_RANKING_ITEMS} item id strings")
    filter_values = record.get("filterValues")
    if filter_ is not None:
        try:
            filter_.resolve_values(filter_values)
        except ValueError as e:
            return _Line(echo, error=f"User error: {e}")
    return _Line(echo, key, item_list, filter_values)


class Writer:
    """Answers blocks of lines with the model and renders them as output lines."""

    def __init__(self, model, recipe, num_results: int, filter_, filter_ctx):
        # Imported here: only a batch job needs the compiled renderer (and numba).
        from recsys_assets.engine import kernels

        self.render, self.decimals = kernels.render_lines, kernels.SCORE_DECIMALS
        self.model, self.recipe, self.num_results = model, recipe, num_results
        self.filter, self.ctx = filter_, filter_ctx
        # Each catalogue item's JSON text, rendered once per job, back to back.
        texts = [json.dumps(str(i), ensure_ascii=False).encode() for i in model.item_ids]
        self.item_text = np.frombuffer(b"".join(texts), dtype=np.uint8)
        self.item_offsets = _offsets(texts)

    def answer(self, block: list[_Line]):
        good = [line for line in block if line.error is None]
        if not good:
            return block, None
        keys = [line.key for line in good]
        allowed = None
        if self.filter is not None:
            values = [line.filter_values for line in good]
            allowed = (allowed_mask_for_items(self.filter, self.ctx, keys, values) if self.recipe.batch_input == "itemId"
                       else allowed_mask(self.filter, self.ctx, keys, values))
        if self.recipe.batch_input == "itemId":
            return block, (self.model.top_similar(keys, self.num_results, allowed), None)
        if self.recipe.batch_input == "userId":
            return block, self.model.top_items(keys, self.num_results, allowed)
        lists = [line.item_list for line in good]
        if allowed is not None:
            position = [self.model.item_index(items) for items in lists]
            lists = [[i for i, p in zip(items, pos) if p < 0 or row[p]]
                     for items, pos, row in zip(lists, position, allowed)]
        return block, self.model.rank(keys, lists)

    def lines(self, block: list[_Line], answers, totals: dict):
        """The block's output lines, one bytes-like object."""
        errors = sum(line.error is not None for line in block)
        totals["records"] += len(block)
        totals["error_records"] += errors
        good = [line for line in block if line.error is None]
        text, offsets = self._answered(good, answers) if answers is not None else (b"", [0])
        if not errors:
            return memoryview(text)
        parts, row = [], 0
        for line in block:
            if line.error is None:
                parts.append(text[offsets[row]:offsets[row + 1]])
                row += 1
            else:
                error = json.dumps(line.error, ensure_ascii=False)
                parts.append(f'{{"input":{line.echo},"output":{{"recommendedItems":[]}},"error":{error}}}\n'.encode())
        return b"".join(parts)

    def _answered(self, good: list[_Line], answers):
        """(the answered lines' text, where each starts and the last ends)."""
        echoes = [line.echo.encode() for line in good]
        if isinstance(answers, list):  # personalized ranking: (items, scores) per line
            texts = [b'{"input":' + echo + b',"output":' + json.dumps(
                {"recommendedItems": items, "scores": [round(float(s), self.decimals) for s in scores]},
                ensure_ascii=False, separators=(",", ":")).encode() + b',"error":null}\n'
                for echo, (items, scores) in zip(echoes, answers)]
            return b"".join(texts), _offsets(texts)
        items, scores = answers
        text, ends = self.render(b"".join(echoes), _offsets(echoes), items, (items >= 0).sum(axis=1),
                                 scores if self.recipe.has_scores else None, self.item_text, self.item_offsets)
        return text, np.r_[0, ends]


def _offsets(texts: list[bytes]) -> np.ndarray:
    """Where each of ``texts`` starts when joined, and where the last ends."""
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in texts], out=offsets[1:])
    return offsets
