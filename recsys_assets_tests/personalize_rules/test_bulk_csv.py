"""Bulk CSV as the import job reads it [DG:preparing-training-data]."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys_assets.personalize_rules.bulk_csv import DataValidationError, read_dataset_csv
from recsys_assets.personalize_rules.schemas import parse_schema
from recsys_assets_tests.personalize_rules.test_schemas import avro, fld

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
SOURCE = "s3://bucket/import/data.csv"

INTERACTIONS = parse_schema((SCHEMAS / "interactions.json").read_text())
ITEMS = parse_schema((SCHEMAS / "items.json").read_text())
USERS = parse_schema((SCHEMAS / "users.json").read_text())
HEADER = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\n"


def read(text: str | bytes, schema=INTERACTIONS, dataset_type="INTERACTIONS", **kwargs):
    data = text.encode() if isinstance(text, str) else text
    return read_dataset_csv(io.BytesIO(data), schema, dataset_type, source=SOURCE, **kwargs)


def fails(text: str | bytes, schema=INTERACTIONS, dataset_type="INTERACTIONS", **kwargs):
    with pytest.raises(DataValidationError) as caught:
        result = read(text, schema, dataset_type, **kwargs)
        if kwargs.get("chunksize"):
            list(result)
    return caught.value


def test_good_file_round_trips_with_types_and_exact_ids():
    frame = read(HEADER + "007,123,1596238243,click,\n42,0042,1596238244,purchase,2.5\n")
    assert list(frame.columns) == INTERACTIONS.field_names
    assert frame.dtypes.to_dict() == {
        "USER_ID": np.dtype(object),
        "ITEM_ID": np.dtype(object),
        "TIMESTAMP": pd.Int64Dtype(),
        "EVENT_TYPE": np.dtype(object),
        "EVENT_VALUE": np.dtype("float64"),
    }
    assert frame["USER_ID"].tolist() == ["007", "42"]
    assert frame["ITEM_ID"].tolist() == ["123", "0042"]
    assert frame["TIMESTAMP"].tolist() == [1596238243, 1596238244]
    assert np.isnan(frame["EVENT_VALUE"].iloc[0]) and frame["EVENT_VALUE"].iloc[1] == 2.5
    assert frame.index.tolist() == [0, 1]


def test_columns_are_matched_by_name_and_returned_in_schema_order():
    frame = read("EVENT_VALUE,TIMESTAMP,ITEM_ID,EVENT_TYPE,USER_ID\n1.0,1596238243,i1,click,u1\n")
    assert list(frame.columns) == INTERACTIONS.field_names
    assert frame.iloc[0].tolist() == ["u1", "i1", 1596238243, "click", 1.0]


def test_nulls_in_nullable_fields_of_each_type():
    frame = read("USER_ID,AGE,OS_DEVICE\nu1,,\nu2,-7,ios|android\n", USERS, "USERS")
    assert frame["AGE"].isna().tolist() == [True, False] and frame["AGE"].iloc[1] == -7
    assert frame["AGE"].dtype == pd.Int64Dtype()
    assert frame["OS_DEVICE"].tolist() == [None, "ios|android"]


def test_quoted_values_with_commas_and_quotes_and_non_ascii():
    text = (
        "ITEM_ID,CATEGORY_ID,PRICE\n"
        '"a,1","Home ""&"" Garden",1.5\n'  # RFC 4180 doubled quotes
        'b2,"say \\"hi\\" \\\\ back",2\n'  # backslash escapes, as the docs prescribe for textual data
        "Ĉ3,東京|café|😀,.5\n"
    ).encode("utf-8")
    frame = read(text, ITEMS, "ITEMS")
    assert frame["ITEM_ID"].tolist() == ["a,1", "b2", "Ĉ3"]
    assert frame["CATEGORY_ID"].tolist() == ['Home "&" Garden', 'say "hi" \\ back', "東京|café|😀"]
    assert frame["PRICE"].tolist() == [1.5, 2.0, 0.5]


def test_byte_order_mark_and_crlf_line_ends():
    frame = read(b"\xef\xbb\xbfUSER_ID,AGE,OS_DEVICE\r\nu1,30,ios\r\n", USERS, "USERS")
    assert frame.to_dict("list") == {"USER_ID": ["u1"], "AGE": [30], "OS_DEVICE": ["ios"]}


def test_number_syntax():
    frame = read("ITEM_ID,CATEGORY_ID,PRICE\na,c,1e3\nb,c,-0.25\nc,c,+7\nd,c,5.\n", ITEMS, "ITEMS")
    assert frame["PRICE"].tolist() == [1000.0, -0.25, 7.0, 5.0]


def test_booleans_and_doubles():
    schema = parse_schema(
        avro("Items", [fld("ITEM_ID"), fld("ADULT", ["null", "boolean"]), fld("RATING", ["null", "double"])])
    )
    frame = read("ITEM_ID,ADULT,RATING\na,true,0.1\nb,FALSE,\nc,,1e300\n", schema, "ITEMS")
    assert frame["ADULT"].tolist() == [True, False, None]
    assert all(type(v) is bool for v in frame["ADULT"].iloc[:2])
    assert frame["RATING"].iloc[[0, 2]].tolist() == [0.1, 1e300] and np.isnan(frame["RATING"].iloc[1])
    error = fails("ITEM_ID,ADULT,RATING\na,yes,1\n", schema, "ITEMS")
    assert "The value 'yes' of ADULT is not a valid boolean" in str(error)


def test_header_only_file_gives_an_empty_typed_frame():
    frame = read(HEADER)
    assert len(frame) == 0 and frame["TIMESTAMP"].dtype == pd.Int64Dtype()
    chunks = list(read(HEADER, chunksize=10))
    assert len(chunks) == 1 and len(chunks[0]) == 0


def test_missing_columns_use_the_documented_text():
    error = fails("USER_ID,ITEM_ID,EVENT_VALUE\nu,i,1\n")
    assert str(error) == (
        f"Failed to create a data import job for Interactions dataset. {SOURCE}, row 1: "
        "Input CSV is missing the following columns:[TIMESTAMP, EVENT_TYPE]."
    )
    assert (error.row, error.column) == (1, None)


def test_unknown_extra_column_fails():
    error = fails(HEADER.strip() + ",COLOUR\nu,i,1596238243,click,,red\n")
    assert "not in the schema:[COLOUR]" in str(error) and (error.row, error.column) == (1, "COLOUR")


def test_duplicate_header_fails():
    error = fails("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE,ITEM_ID\n")
    assert "Duplicate column header ITEM_ID" in str(error) and error.column == "ITEM_ID"


@pytest.mark.parametrize("text", ["", "\ufeff"])
def test_empty_file_fails(text):
    error = fails(text)
    assert "empty" in str(error) and SOURCE in str(error) and error.row is None


def test_invalid_utf8_fails():
    assert "not valid UTF-8" in str(fails(HEADER.encode() + b"u\xff,i,1596238243,click,\n"))


# Each bad file's problem sits on line 3 (line 2 is good); the message must name line and column.
GOOD_ROW = "u1,i1,1596238243,click,1.0\n"
BAD_CELLS = [
    ("u2,i2,abc,click,\n", "TIMESTAMP", "The value 'abc' of TIMESTAMP is not a valid long"),
    ("u2,i2,1596238243.0,click,\n", "TIMESTAMP", "'1596238243.0' of TIMESTAMP is not a valid long"),
    ("u2,i2, 1596238243,click,\n", "TIMESTAMP", "not a valid long"),
    ("u2,i2,1596238243,click,x\n", "EVENT_VALUE", "The value 'x' of EVENT_VALUE is not a valid float"),
    ("u2,i2,1596238243,click,nan\n", "EVENT_VALUE", "not a valid float"),
    ("u2,i2,1596238243,click,inf\n", "EVENT_VALUE", "not a valid float"),
    ("u2,i2,1596238243,click, 1.5\n", "EVENT_VALUE", "not a valid float"),
    ("u2,i2,١٥٩٦٢٣٨٢٤٣,click,\n", "TIMESTAMP", "not a valid long"),  # Arabic-Indic digits
    ("u2,i2,1596238243,click,1-2\n", "EVENT_VALUE", "not a valid float"),
    ("u2,i2,1596238243,click,1e39\n", "EVENT_VALUE", "out of range for float"),
    ("u2,i2,99999999999999999999,click,\n", "TIMESTAMP", "out of range for long"),
    ("u2,i2,1596238243000,click,\n", "TIMESTAMP", "looks like milliseconds"),
    ("u2,i2,1596238243,,\n", "EVENT_TYPE", "EVENT_TYPE is empty, but the field is not nullable"),
    (",i2,1596238243,click,\n", "USER_ID", "USER_ID is empty"),
    ("u2," + "i" * 257 + ",1596238243,click,\n", "ITEM_ID", "cannot be more than 256 characters for ITEM_ID"),
    ("u2,i2,1596238243," + "e" * 1001 + ",\n", "EVENT_TYPE", "Length cannot be more than 1000 characters"),
    ('u2,"i\n2",1596238243,click,\n', "ITEM_ID", "contains a line break"),
]


@pytest.mark.parametrize("bad_row, column, text", BAD_CELLS)
def test_bad_cell_names_row_and_column(bad_row, column, text):
    error = fails(HEADER + GOOD_ROW + bad_row)
    assert (error.row, error.column) == (3, column)
    assert f"{SOURCE}, row 3, column {column}: " in str(error)
    assert str(error).startswith("Failed to create a data import job for Interactions dataset. ")
    assert text in str(error)


def test_long_values_are_truncated_in_the_message():
    error = fails(HEADER + "u1,i1," + "9" * 5000 + "x,click,\n")
    assert "9" * 50 + "..." in str(error) and len(str(error)) < 400


def test_length_limit_uses_the_documented_text():
    error = fails(HEADER + "u" * 257 + ",i,1596238243,click,\n")
    assert str(error).endswith(
        "Length cannot be more than 256 characters for USER_ID. If no values exceed the character limit, "
        "make sure your data follows the formatting guidelines listed in "
        "https://docs.aws.amazon.com/personalize/latest/dg/data-prep-formatting.html."
    )


def test_values_at_the_limits_pass():
    frame = read(HEADER + "u" * 256 + ",i,99999999999," + "e" * 1000 + ",\n")
    assert len(frame["USER_ID"].iloc[0]) == 256 and len(frame["EVENT_TYPE"].iloc[0]) == 1000


def test_categorical_limit_counts_the_pipes():
    at_limit = "|".join(["abcdefghij"] * 91)  # 910 letters + 90 pipes = 1000
    assert len(read(f"ITEM_ID,CATEGORY_ID,PRICE\ni,{at_limit},1\n", ITEMS, "ITEMS")) == 1
    error = fails(f"ITEM_ID,CATEGORY_ID,PRICE\ni,{at_limit}|a,1\n", ITEMS, "ITEMS")  # 911 letters
    assert "Length cannot be more than 1000 characters for CATEGORY_ID" in str(error)


def test_int_range():
    error = fails(f"USER_ID,AGE,OS_DEVICE\nu,{2**31},ios\n", USERS, "USERS")
    assert (error.row, error.column) == (2, "AGE") and "out of range for int" in str(error)
    assert read(f"USER_ID,AGE,OS_DEVICE\nu,{2**31 - 1},ios\n", USERS, "USERS")["AGE"].iloc[0] == 2**31 - 1


def test_textual_values_are_truncated_not_failed():
    description = fld("DESCRIPTION", ["null", "string"], textual=True)
    schema = parse_schema(avro("Items", [fld("ITEM_ID"), description]))
    frame = read(f'ITEM_ID,DESCRIPTION\na,"{"w" * 20001}"\nb,short\nc,\n', schema, "ITEMS")
    assert frame["DESCRIPTION"].tolist() == ["w" * 20000, "short", None]


@pytest.mark.parametrize("row, fields", [("u2,i2,1596238243,click,,extra\n", 6), ("u2,i2,1596238243\n", 3)])
def test_row_with_wrong_number_of_fields(row, fields):
    error = fails(HEADER + GOOD_ROW + row)
    assert error.row == 3 and f"row 3: The row has {fields} fields but the header has 5" in str(error)


def test_malformed_quoting_names_the_row():
    error = fails(HEADER + GOOD_ROW + 'u2,"i2"x,1596238243,click,\n')
    assert error.row == 3 and "Malformed CSV" in str(error)


def test_first_problem_in_file_order_is_reported():
    # Line 3 has a bad last column, line 4 a bad first column and a wrong field count.
    text = HEADER + GOOD_ROW + "u2,i2,1596238243,click,x\n" + "u" * 300 + ",i3,1596238243,click,\n" + "a,b\n"
    error = fails(text)
    assert (error.row, error.column) == (3, "EVENT_VALUE")


def test_blank_lines_are_skipped_but_counted():
    frame = read(HEADER + GOOD_ROW + "\n" + GOOD_ROW + "\n")
    assert len(frame) == 2 and frame.index.tolist() == [0, 1]
    assert fails(HEADER + GOOD_ROW + "\n\n" + "u,i,abc,click,\n").row == 5


def test_stream_is_left_open():
    stream = io.BytesIO((HEADER + GOOD_ROW).encode())
    read_dataset_csv(stream, INTERACTIONS, "INTERACTIONS", source=SOURCE)
    assert not stream.closed


def rows(count: int) -> str:
    # Zero-padded item IDs; every third EVENT_VALUE null.
    lines = (f"u{i % 7},{i:05d},{1596238243 + i},click,{i / 4 if i % 3 else ''}\n" for i in range(count))
    return "".join(lines)


def test_chunked_reading_gives_the_same_rows():
    text = HEADER + rows(23)
    whole = read(text)
    chunks = list(read(text, chunksize=5))
    assert [len(c) for c in chunks] == [5, 5, 5, 5, 3]
    pd.testing.assert_frame_equal(pd.concat(chunks), whole)
    assert whole["ITEM_ID"].iloc[7] == "00007"


def test_chunked_reading_reports_the_row_of_a_later_chunk():
    lines = (HEADER + rows(23)).splitlines(keepends=True)
    lines[18] = "u,i,1596238243,click,oops\n"  # line 19 of the file, in the fourth chunk of five
    chunks = read("".join(lines), chunksize=5)
    assert len(next(chunks)) == 5  # earlier chunks come through before the bad one is read
    with pytest.raises(DataValidationError) as caught:
        list(chunks)
    assert (caught.value.row, caught.value.column) == (19, "EVENT_VALUE")


def test_chunked_reading_raises_header_problems_at_the_call():
    with pytest.raises(DataValidationError, match="missing the following columns"):
        read("USER_ID\nu\n", chunksize=5)
