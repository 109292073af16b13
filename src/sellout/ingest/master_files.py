"""Parse a store or product master file: each row's code (mapped to the company's code when the source maps
codes), its other columns as text or numbers, and the rows that share a code."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sellout.canonical import PRODUCT, STORE
from sellout.config.sources import FileSpec, MasterFileSpec
from sellout.ingest.columns import Columns
from sellout.ingest.conversions import pandas_text
from sellout.ingest.duplicates import check_duplicate_codes
from sellout.ingest.field_rules import check_control_characters, parse_number_column
from sellout.ingest.reading import TextTable
from sellout.ingest.rejections import Rejections, rule
from sellout.ingest.results import ParseResult


def parse_master(
    text: TextTable, spec: MasterFileSpec, code_map: dict[str, str] | None = None
) -> ParseResult:
    """Check a store or product master file and map it to canonical fields: a row needs its code; a non-numeric
    or negative sales area rejects it; rows with one code load once when identical, not at all when they
    differ."""
    cols = Columns(text, spec)
    key = spec.FIELDS[0]
    noun = "store" if key == STORE else "product"
    rejections = Rejections(text.num_rows)
    with rule("control characters"):
        check_control_characters(cols, rejections)
    out: dict[str, object] = {}
    with rule("codes"):
        rejections.reject(cols.missing(key), f"{cols.label(key)}: empty {noun} code")
        codes = cols.trimmed(key)
        if code_map:
            encoded = pc.dictionary_encode(codes)
            mapped = pa.array([code_map.get(c, c) for c in encoded.dictionary.to_pylist()], pa.string())
            codes = mapped.take(encoded.indices)
        out[key] = codes
    for name in spec.columns:
        if name == key:
            continue
        with rule(name):
            if name == "sales_area":
                out[name] = parse_number_column(cols, name, rejections)
                rejections.reject(out[name] < 0, f"{cols.label(name)}: negative sales area")
            else:
                out[name] = cols.nullable_text(name)
    with rule("duplicate codes"):
        check_duplicate_codes(cols, out, key, noun, rejections)
    positions = np.flatnonzero(rejections.ok)
    take = pa.array(positions, type=pa.int64())
    columns = {}
    for name, values in out.items():
        if isinstance(values, pa.Array):
            columns[name] = pandas_text(values.take(take))
        else:
            columns[name] = np.asarray(values)[positions]
    rows = pd.DataFrame(columns)
    return ParseResult(rows=rows, text=text, rejections=rejections, accepted=len(rows))


def master_key(spec: FileSpec) -> str:
    """The code column of a master data file: store_code for stores, product_code for products."""
    return STORE if STORE in spec.columns else PRODUCT
