"""``sellout sources suggest FILE``: read a sample of a retailer file and write the ``sources.yml`` entry for it.

Detected from the sample (the first ``SAMPLE_BYTES`` of the decompressed file, or the first rows of each sheet):
the format and sheet, the encoding, delimiter, decimal and thousands marks, the header row, the date column and
its format, whether rows are daily or weekly and the weekday weeks end on, and what each header means. Headers are
mapped to canonical fields by name (English and German synonyms, ignoring case, spaces, punctuation and umlaut
spelling) and checked against their content (a date field must hold dates, a measure numbers, a flag two values);
fields no header names are looked for by content. What the sample cannot settle is marked ``# unsure: ...`` in
the printed entry, and the columns left unmapped are listed.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sellout.canonical import (
    DAY,
    OPEN,
    PRODUCT,
    PRODUCT_DESCRIPTION,
    SALES_VALUE,
    STORE,
    STORE_NAME,
    UNITS,
    WEEK,
)
from sellout.config.sources import DEFAULT_NA_VALUES, WEEKDAYS, FileSpec
from sellout.ingest.conversions import parse_dates, parse_numbers, weekday_of
from sellout.ingest.reading import (
    UTF8_BOM,
    UTF16_BOMS,
    StructuralError,
    TextTable,
    parse_csv_text,
    read_bytes,
    read_text_table,
    to_utf8,
)

SAMPLE_BYTES = 2_000_000
SAMPLE_SHEET_ROWS = 5_000
DELIMITERS = (",", ";", "\t", "|")
DATE_FORMATS = (
    "%Y-%m-%d",
    "%d.%m.%Y",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d-%m-%Y",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%d.%m.%y",
    "%d/%m/%y",
    "%m/%d/%y",
    "%Y%m%d",
    "%d%m%Y",
)
# Header synonyms per canonical field, normalised (lower case, ASCII, no punctuation): English and German.
SYNONYMS: dict[str, tuple[str, ...]] = {
    WEEK: (
        "week_end_date",
        "week_ending",
        "weekending",
        "week_end",
        "week_ending_date",
        "weekend_date",
        "week",
        "wk",
        "wk_end",
        "period_end",
        "woche",
        "wochenende",
        "woche_ende",
        "wochenendedatum",
        "kw",
        "kalenderwoche",
        "verkaufswoche",
        "wochenbeginn",
    ),
    DAY: (
        "date",
        "day",
        "sales_date",
        "business_date",
        "transaction_date",
        "trading_date",
        "datum",
        "tag",
        "verkaufsdatum",
        "buchungsdatum",
        "belegdatum",
    ),
    STORE: (
        "store",
        "store_code",
        "store_id",
        "store_num",
        "store_no",
        "store_nr",
        "store_number",
        "shop",
        "shop_id",
        "shop_no",
        "outlet",
        "outlet_id",
        "location",
        "location_id",
        "site",
        "site_id",
        "branch",
        "branch_id",
        "filiale",
        "filial_nr",
        "filialnr",
        "filialnummer",
        "filiale_nr",
        "fil_nr",
        "filial_id",
        "markt",
        "markt_nr",
        "marktnummer",
        "markt_id",
        "geschaeft",
        "laden",
        "vkst",
        "verkaufsstelle",
    ),
    PRODUCT: (
        "product",
        "product_code",
        "product_id",
        "product_no",
        "sku",
        "sku_id",
        "upc",
        "ean",
        "gtin",
        "item",
        "item_id",
        "item_no",
        "item_code",
        "item_number",
        "article",
        "article_no",
        "article_id",
        "article_code",
        "artikel",
        "artikel_nr",
        "artikelnr",
        "artikelnummer",
        "artikel_id",
        "art_nr",
        "material",
        "material_nr",
        "plu",
        "pzn",
        "produkt",
        "produkt_id",
    ),
    UNITS: (
        "units",
        "unit_sales",
        "units_sold",
        "qty",
        "quantity",
        "qty_sold",
        "sales_units",
        "volume",
        "pieces",
        "pcs",
        "cases",
        "menge",
        "anzahl",
        "stueck",
        "stk",
        "absatz",
        "absatzmenge",
        "verkaufsmenge",
        "stueckzahl",
    ),
    SALES_VALUE: (
        "sales",
        "sales_value",
        "sales_amount",
        "revenue",
        "spend",
        "value",
        "net_sales",
        "gross_sales",
        "turnover",
        "amount",
        "dollars",
        "sales_eur",
        "umsatz",
        "umsatz_eur",
        "nettoumsatz",
        "bruttoumsatz",
        "erloes",
        "wert",
        "betrag",
        "verkaufswert",
        "umsatzwert",
    ),
    "price": (
        "price",
        "unit_price",
        "actual_price",
        "selling_price",
        "sale_price",
        "avg_price",
        "preis",
        "vk",
        "vk_preis",
        "vkpreis",
        "verkaufspreis",
        "stueckpreis",
        "aktionspreis",
    ),
    "base_price": (
        "base_price",
        "regular_price",
        "list_price",
        "normal_price",
        "shelf_price",
        "baseline_price",
        "normalpreis",
        "regulaerer_preis",
        "listenpreis",
        "basispreis",
        "regalpreis",
    ),
    "feature": (
        "feature",
        "featured",
        "circular",
        "in_circular",
        "flyer",
        "ad",
        "advert",
        "leaflet",
        "mailer",
        "prospekt",
        "werbung",
        "beilage",
        "handzettel",
        "flugblatt",
    ),
    "display": (
        "display",
        "on_display",
        "secondary_placement",
        "endcap",
        "zweitplatzierung",
        "aufsteller",
        "platzierung",
        "display_flag",
    ),
    "tpr_only": (
        "tpr",
        "tpr_only",
        "price_reduction",
        "temporary_price_reduction",
        "price_cut",
        "preisaktion",
        "preisreduktion",
        "preissenkung",
        "rabatt",
    ),
    "promotion": (
        "promo",
        "promotion",
        "on_promo",
        "on_promotion",
        "promo_flag",
        "deal",
        "aktion",
        "aktionsartikel",
        "angebot",
        "promoted",
    ),
    STORE_NAME: (
        "store_name",
        "shop_name",
        "outlet_name",
        "branch_name",
        "location_name",
        "filialname",
        "filiale_name",
        "filialbezeichnung",
        "marktname",
        "markt_name",
    ),
    PRODUCT_DESCRIPTION: (
        "description",
        "product_name",
        "product_description",
        "item_name",
        "item_description",
        "article_name",
        "bezeichnung",
        "artikelbezeichnung",
        "produktname",
        "artikelname",
        "artikeltext",
        "desc",
        "name",
    ),
    OPEN: ("open", "is_open", "store_open", "opened", "geoeffnet", "offen", "oeffnung"),
}
RETURN_SYNONYMS = ("return", "returns", "is_return", "retoure", "retouren", "rueckgabe", "storno")
TRUE_TOKENS = ("1", "y", "yes", "j", "ja", "x", "true", "t", "wahr")
FALSE_TOKENS = ("0", "n", "no", "nein", "false", "f", "falsch", "")
FLAG_FIELDS = ("feature", "display", "tpr_only", "promotion", OPEN)
NUMERIC_FIELDS = (UNITS, SALES_VALUE, "price", "base_price")
TEXT_FIELDS = (STORE_NAME, PRODUCT_DESCRIPTION)
# Spellings of "no value" seen in numeric columns of exports, beyond DEFAULT_NA_VALUES (compared in lower case).
NA_LIKE = frozenset(
    {"-", "--", ".", "?", "k.a.", "k. a.", "n.a.", "n/a", "na", "#nv", "#n/a", "nv", "null", "none"}
)
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "ae", "Ö": "oe", "Ü": "ue"})
_DE_NUMBER = re.compile(r"^[+-]?\d{1,3}(\.\d{3})+(,\d+)?$|^[+-]?\d+,\d+$")
_US_NUMBER = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$|^[+-]?\d+\.\d+$")


@dataclass
class ColumnProfile:
    """What the sample says about one column."""

    name: str
    values: pa.Array  # trimmed text
    filled: int = 0
    distinct: int = 0
    numeric: bool = False
    integers: bool = False
    negative: bool = False
    flag_true: str | None = None  # the "yes" token when the column is a two-valued flag
    date_format: str | None = None
    dates: np.ndarray | None = None
    # other formats that read the dates differently, and the distinct values the chosen one does not read
    date_alternatives: list[str] = field(default_factory=list)
    date_failures: int = 0
    na_tokens: list[str] = field(default_factory=list)  # missing-value marks in a numeric column (e.g. "-")
    bad_values: list[str] = field(default_factory=list)  # the few other non-numbers of a numeric column


@dataclass
class Suggestion:
    """A ready ``sources.yml`` entry (``entry``), what is unsure about it, and what the sample showed."""

    name: str
    path: Path
    entry: dict
    unsure: dict[str, str] = field(default_factory=dict)  # "sellout.csv.decimal" -> why
    notes: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    sample_rows: int = 0

    def render(self) -> str:
        """The entry as YAML under ``sources:``, with ``# unsure:`` where the sample could not settle a value."""
        sellout = self.entry["sellout"]
        lines = [
            f"# sellout sources suggest {self.path.name}: from a sample of {self.sample_rows:,} rows.",
            "# Check the lines marked 'unsure', then: sellout sources check " + self.name,
            *(f"# note: {note}" for note in self.notes),
            "sources:",
            f"  {self.name}:",
            f"    directory: {_quote(self.entry['directory'])}",
            "    sellout:",
        ]

        def line(indent: int, key: str, value: str, unsure_key: str | None = None) -> None:
            why = self.unsure.get(unsure_key or f"sellout.{key}")
            lines.append(f"{' ' * indent}{key}: {value}" + (f"  # unsure: {why}" if why else ""))

        line(6, "pattern", _quote(sellout["pattern"]))
        line(6, "format", sellout["format"])
        if "sheet" in sellout:
            line(
                6,
                "sheet",
                _quote(sellout["sheet"]) if isinstance(sellout["sheet"], str) else str(sellout["sheet"]),
            )
        options = sellout["csv"]
        flow = ", ".join(
            f"{key}: {_quote(value) if isinstance(value, str) else value}" for key, value in options.items()
        )
        why = [self.unsure[f"sellout.csv.{key}"] for key in options if f"sellout.csv.{key}" in self.unsure]
        lines.append(f"      csv: {{{flow}}}" + (f"  # unsure: {'; '.join(why)}" if why else ""))
        line(6, "date_format", _quote(sellout["date_format"]))
        line(6, "frequency", sellout["frequency"])
        if sellout.get("week_ending_weekday"):
            line(6, "week_ending_weekday", sellout["week_ending_weekday"])
        line(6, "true_values", json.dumps(sellout["true_values"], ensure_ascii=False))
        if sellout.get("na_values"):
            line(6, "na_values", json.dumps(sellout["na_values"], ensure_ascii=False))
        if sellout.get("returns_column"):
            line(6, "returns_column", _quote(sellout["returns_column"]))
        lines.append("      columns:")
        for key, column in sellout["columns"].items():
            line(8, key, _quote(column), f"sellout.columns.{key}")
        if sellout.get("constants"):
            lines.append("      constants:")
            for key, value in sellout["constants"].items():
                line(8, key, _quote(value), f"sellout.constants.{key}")
        if self.unmapped:
            lines.append(f"      # not mapped: {', '.join(self.unmapped)}")
        return "\n".join(lines) + "\n"


def _quote(value: object) -> str:
    return json.dumps(str(value), ensure_ascii=False)


def normalise(header: str) -> str:
    """A header as the synonym tables spell it: lower case ASCII, umlauts spelled out, words joined by ``_``."""
    text = header.strip().translate(_UMLAUTS)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"([a-z])([A-Z])", r"\1_\2", text).lower()
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


def suggest_source(path: Path, name: str | None = None, directory: str | None = None) -> Suggestion:
    """Read a sample of ``path`` and suggest its ``sources.yml`` entry (raise StructuralError if it is unreadable)."""
    path = Path(path)
    name = name or source_name(path)
    unsure: dict[str, str] = {}
    notes: list[str] = []
    sellout: dict = {"pattern": file_pattern(path.name)}
    if _is_workbook(path):
        text, sheet, header_row = _sample_workbook(path)
        sellout.update(format="xlsx", sheet=sheet)
        options: dict = {"header_row": header_row}
        decimal, thousands = ".", None
    else:
        raw = read_bytes(path, SAMPLE_BYTES)
        encoding, why = detect_encoding(raw)
        if why:
            unsure["sellout.csv.encoding"] = why
        utf8 = to_utf8(raw, encoding)
        if len(raw) >= SAMPLE_BYTES:
            utf8 = utf8[: utf8.rfind(b"\n") + 1] or utf8
        delimiter, header_row = detect_layout(utf8.decode("utf-8", errors="replace"))
        text = parse_csv_text(utf8, delimiter, header_row)
        decimal, thousands, why = detect_number_marks(text, delimiter)
        if why:
            unsure["sellout.csv.decimal"] = why
        options = {"delimiter": delimiter, "decimal": decimal, "encoding": encoding, "header_row": header_row}
        if thousands:
            options["thousands"] = thousands
        sellout["format"] = "csv"
    sellout["csv"] = options
    profiles = [profile_column(text, i, decimal, thousands) for i in range(len(text.columns))]
    mapping, returns_column = map_columns(profiles, unsure)
    sellout.update(_dates_and_frequency(profiles, mapping, unsure, notes))
    if sellout["frequency"] == "weekly" and OPEN in mapping:
        mapping.pop(OPEN)  # whether a store was open is a daily feed's field
    flags = [p for p in profiles if p.name in mapping.values() and p.flag_true]
    if returns_column:
        flags.append(next(p for p in profiles if p.name == returns_column))
    true_values = sorted({t for p in flags for t in _spellings(p.flag_true)}) or ["1"]
    sellout["true_values"] = true_values
    na_tokens = sorted({t for p in profiles if p.name in mapping.values() for t in p.na_tokens})
    if na_tokens:
        sellout["na_values"] = [*DEFAULT_NA_VALUES, *[t for t in na_tokens if t not in DEFAULT_NA_VALUES]]
        unsure["sellout.na_values"] = f"{na_tokens} stand where numbers are expected: read as missing values"
    if returns_column:
        sellout["returns_column"] = returns_column
    for profile in profiles:
        key = next((k for k, column in mapping.items() if column == profile.name), None)
        if key and profile.bad_values:
            shown = ", ".join(repr(v) for v in profile.bad_values[:3])
            unsure.setdefault(
                f"sellout.columns.{key}",
                f"{len(profile.bad_values)} value(s) of the sample are not numbers ({shown}): their rows are rejected",
            )
        if key and profile.date_failures:
            unsure.setdefault(
                f"sellout.columns.{key}",
                f"{profile.date_failures} value(s) of the sample are not dates in {profile.date_format}: their rows "
                "are rejected",
            )
    ordered = {key: mapping[key] for key in (*SYNONYMS,) if key in mapping}
    if sellout["frequency"] == "daily" and WEEK in ordered:
        ordered.pop(WEEK)
    sellout["columns"] = ordered
    constants = {}
    if PRODUCT not in ordered:
        constants[PRODUCT] = "ALL"
        notes.append(
            "no product column: every row is product 'ALL' (constants.product_code), one series per store"
        )
    if STORE not in ordered:
        constants[STORE] = "ALL"
        notes.append("no store column: every row is store 'ALL' (constants.store_code)")
    if constants:
        sellout["constants"] = constants
    if UNITS not in ordered and SALES_VALUE in ordered:
        notes.append(
            f"no units column: a value-only feed (its measure is the sales value, {ordered[SALES_VALUE]!r})"
        )
    if UNITS not in ordered and SALES_VALUE not in ordered:
        notes.append("no units and no sales value found: map one of them under columns")
    used = set(ordered.values()) | ({returns_column} if returns_column else set())
    unmapped = [p.name for p in profiles if p.name not in used and p.name]
    entry = {"directory": directory or str(path.resolve().parent), "sellout": sellout}
    return Suggestion(name, path, entry, unsure, notes, unmapped, sample_rows=text.rows_in_file)


def source_name(path: Path) -> str:
    """A name for the source from its file's: without dates, week numbers and compression suffixes."""
    stem = path.name.split(".")[0]
    stem = re.sub(r"[\s_-]*((kw|wk|week|woche)[\s_-]*)?\d[\d\s_.-]*", "_", stem, flags=re.IGNORECASE)
    return normalise(stem) or "retailer"


def file_pattern(file_name: str) -> str:
    """A glob for the file and its later deliveries: runs of digits (dates, week numbers) become ``*``, and any
    compression suffix is allowed."""
    base, dot, suffix = file_name.partition(".")
    extension = suffix.split(".")[0] if suffix else ""
    glob = re.sub(r"\d+([-_.]\d+)*", "*", base)
    if "*" not in glob:
        glob += "*"
    return f"{glob}.{extension}*" if dot and extension else glob


def _is_workbook(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(4)
    return head == b"PK\x03\x04" and path.suffix.lower() in (".xlsx", ".xlsm")


def _sample_workbook(path: Path) -> tuple[TextTable, str | int, int]:
    sheets = pd.read_excel(path, sheet_name=None, header=None, dtype=str, nrows=SAMPLE_SHEET_ROWS)
    if not sheets:
        raise StructuralError("the workbook has no sheets")
    sheet = max(sheets, key=lambda key: sheets[key].notna().to_numpy().sum())
    frame = sheets[sheet]
    rows = [["" if pd.isna(v) else str(v) for v in row] for row in frame.itertuples(index=False)]
    header_row = _header_row(rows)
    spec = FileSpec(pattern="*", format="xlsx", sheet=sheet, csv={"header_row": header_row}, columns={})
    return read_text_table(path, spec), sheet, header_row


def detect_encoding(raw: bytes) -> tuple[str, str | None]:
    """(encoding, why it is unsure or None) from a byte order mark, else whether the sample is valid UTF-8, else
    a single-byte Western encoding (cp1252 when it uses bytes 0x80-0x9F, latin-1 otherwise)."""
    if raw.startswith(UTF16_BOMS):
        return "utf-16", None
    if raw.startswith(UTF8_BOM):
        return "utf-8", None
    try:
        raw.decode("utf-8")
        return "utf-8", None
    except UnicodeDecodeError as exc:
        if exc.start >= len(raw) - 3:  # a character cut by the end of the sample
            return "utf-8", None
    if any(0x80 <= b <= 0x9F for b in raw):
        return "cp1252", "not UTF-8; bytes 0x80-0x9F say Windows-1252 (cp1252), not latin-1"
    return "latin-1", "not UTF-8: latin-1 or cp1252 (both read this sample the same)"


def detect_layout(text: str) -> tuple[str, int]:
    """(delimiter, header_row): the delimiter that splits the first lines into the most consistent number of
    fields, and the line of column names above the first data line (titles and group rows above are skipped)."""
    head = text.splitlines()[:200]
    best, best_score, best_rows = ",", -1.0, []
    for delimiter in DELIMITERS:
        rows = list(csv.reader(io.StringIO("\n".join(head)), delimiter=delimiter))
        counts = Counter(len(row) for row in rows if row)
        if not counts:
            continue
        fields, frequency = counts.most_common(1)[0]
        if fields < 2:
            continue
        score = frequency / max(1, sum(counts.values())) + min(fields, 50) / 1000
        if score > best_score:
            best, best_score, best_rows = delimiter, score, rows
    return best, _header_row(best_rows)


def _header_row(rows: list[list[str]]) -> int:
    """The index of the header: the last row above the first data row that has the data's field count and
    looks like names (no numbers, no dates, mostly filled)."""
    counts = Counter(len([c for c in row if c.strip()]) for row in rows if any(c.strip() for c in row))
    if not counts:
        return 0
    width = counts.most_common(1)[0][0]
    first_data = next(
        (
            i
            for i, row in enumerate(rows)
            if len([c for c in row if c.strip()]) >= max(1, width - 1)
            and any(_looks_like_data(c) for c in row)
        ),
        None,
    )
    if first_data is None:
        return 0
    for i in range(first_data - 1, -1, -1):
        cells = [c for c in rows[i] if c.strip()]
        if len(cells) >= max(1, width // 2) and not any(_looks_like_data(c) for c in cells):
            return i
    return 0


def _looks_like_data(cell: str) -> bool:
    cell = cell.strip()
    return bool(
        re.fullmatch(r"[+-]?[\d.,]*\d", cell) or re.fullmatch(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}.*", cell)
    )


def detect_number_marks(text: TextTable, delimiter: str) -> tuple[str, str | None, str | None]:
    """(decimal, thousands, why unsure) from the numbers the sample's cells hold."""
    german = us = 0
    german_thousands = us_thousands = False
    for i in range(len(text.columns)):
        values = pc.utf8_trim_whitespace(text.table.column(i).combine_chunks())
        sample = pc.unique(values).to_pylist()[:2000]
        for value in sample:
            if _DE_NUMBER.match(value):
                if re.fullmatch(r"[+-]?\d{1,3}\.\d{3}", value):
                    continue  # 1.234: a thousand or one point two three four
                german += 1
                german_thousands |= "." in value
            elif _US_NUMBER.match(value):
                if re.fullmatch(r"[+-]?\d{1,3},\d{3}", value):
                    continue
                us += 1
                us_thousands |= (
                    "," in value and "." in value or bool(re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+", value))
                )
    if german > us:
        why = f"{us} value(s) look like 1,234.5 against {german} like 1.234,5" if us else None
        return ",", "." if german_thousands else None, why
    why = f"{german} value(s) look like 1.234,5 against {us} like 1,234.5" if german else None
    return ".", "," if us_thousands else None, why


def profile_column(text: TextTable, index: int, decimal: str, thousands: str | None) -> ColumnProfile:
    values = pc.utf8_trim_whitespace(text.table.column(index).combine_chunks())
    profile = ColumnProfile(name=text.columns[index], values=values)
    missing = pc.is_in(values, value_set=pa.array(list(DEFAULT_NA_VALUES)))
    filled = pc.filter(values, pc.invert(missing))
    profile.filled = len(filled)
    uniques = pc.unique(filled)
    profile.distinct = len(uniques)
    if not profile.filled:
        return profile
    if not _digits_only(uniques) or _date_like_digits(uniques):
        profile.date_format, profile.dates, profile.date_alternatives = _date_format(filled, uniques)
    if profile.date_format:
        profile.date_failures = (
            int(np.isnat(parse_dates(uniques, profile.date_format)).sum()) if not _iso_cells(uniques) else 0
        )
        return profile
    numbers, bad = parse_numbers(uniques, decimal, thousands)
    tokens = [t for t, b in zip(uniques.to_pylist(), bad, strict=True) if b]
    others = [t for t in tokens if t.lower() not in NA_LIKE]
    if (~bad).any() and len(others) <= max(1, profile.distinct // 100):
        good = numbers[~bad]
        profile.numeric = True
        profile.na_tokens = [t for t in tokens if t.lower() in NA_LIKE]
        profile.bad_values = others
        profile.integers = bool(np.all(good == np.round(good)))
        profile.negative = bool(np.any(good < 0))
    lowered = {str(v).lower() for v in uniques.to_pylist()}
    if len(lowered) <= 2 and lowered <= set(TRUE_TOKENS) | set(FALSE_TOKENS):
        trues = [v for v in uniques.to_pylist() if v.lower() in TRUE_TOKENS]
        falses = [v for v in uniques.to_pylist() if v.lower() in FALSE_TOKENS]
        if trues and (falses or len(lowered) == 1) or (falses and not trues):
            profile.flag_true = trues[0] if trues else _true_for(falses[0])
    return profile


def _digits_only(uniques: pa.Array) -> bool:
    return bool(pc.all(pc.match_substring_regex(uniques, r"^[+-]?\d+([.,]\d+)?$")).as_py())


def _true_for(false_token: str) -> str:
    pairs = {"0": "1", "n": "y", "no": "yes", "nein": "ja", "false": "true", "f": "t", "": "X"}
    token = pairs.get(false_token.lower(), "1")
    return token.upper() if false_token.isupper() else token


def _spellings(token: str | None) -> list[str]:
    return [] if token is None else [token]


def _date_like_digits(uniques: pa.Array) -> bool:
    sample = uniques.to_pylist()[:200]
    return bool(sample) and all(re.fullmatch(r"(19|20)\d{6}|\d{8}", v) for v in sample)


def _iso_cells(uniques: pa.Array) -> bool:
    """A spreadsheet's date cells, which arrive as ``2026-09-05 00:00:00``."""
    return all(re.fullmatch(r"\d{4}-\d{2}-\d{2} 00:00:00", v) for v in uniques.slice(0, 50).to_pylist())


def _date_format(filled: pa.Array, uniques: pa.Array) -> tuple[str | None, np.ndarray | None, list[str]]:
    """The first format that reads every value of the column (ties: the one whose dates fall on fewest weekdays,
    which a weekly feed's dates do), with the parsed dates."""
    sample = uniques.slice(0, 5000)
    if _iso_cells(sample):
        dates = parse_dates(pc.utf8_slice_codeunits(filled, 0, 10), "%Y-%m-%d")
        return ("%Y-%m-%d", dates, []) if not np.isnat(dates).any() else (None, None, [])
    fits = []
    for date_format in DATE_FORMATS:
        parsed = parse_dates(sample, date_format)
        failed = int(np.isnat(parsed).sum())
        if len(parsed) and failed <= len(parsed) // 50:  # a bad date or two does not hide the format
            parsed = parsed[~np.isnat(parsed)]
            years = parsed.astype("datetime64[Y]").astype(int) + 1970
            if years.min() < 1980 or years.max() > 2100:
                continue
            fits.append((len(set(weekday_of(parsed).tolist())), DATE_FORMATS.index(date_format), date_format))
    if not fits:
        return None, None, []
    best = min(fits)
    alternatives = [f for n, _, f in sorted(fits) if n == best[0] and f != best[2]]
    return best[2], parse_dates(filled, best[2]), alternatives


def map_columns(profiles: list[ColumnProfile], unsure: dict[str, str]) -> tuple[dict[str, str], str | None]:
    """Canonical field -> file column: by name first (a synonym, then a synonym inside the header), checked
    against the column's content; then the required fields no name gave, by content."""
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    returns_column = None
    for profile in profiles:
        words = normalise(profile.name)
        if words in RETURN_SYNONYMS and profile.flag_true:
            returns_column = profile.name
            taken.add(profile.name)
    for exact in (True, False):
        for profile in profiles:
            if profile.name in taken or not profile.name:
                continue
            words = normalise(profile.name)
            for field_name, synonyms in SYNONYMS.items():
                if field_name in mapping:
                    continue
                hit = words in synonyms if exact else _contains(words, synonyms)
                if hit and _fits(field_name, profile):
                    mapping[field_name] = profile.name
                    taken.add(profile.name)
                    if not exact:
                        unsure[f"sellout.columns.{field_name}"] = (
                            f"matched {profile.name!r} by part of its name"
                        )
                    break
    _by_content(profiles, mapping, taken, unsure)
    return mapping, returns_column


def _contains(words: str, synonyms: tuple[str, ...]) -> bool:
    parts = words.split("_")
    return any(
        synonym in parts or (len(synonym) >= 5 and words.startswith(synonym))
        for synonym in synonyms
        if synonym
    )


def _fits(field_name: str, profile: ColumnProfile) -> bool:
    if field_name in (WEEK, DAY):
        return profile.date_format is not None
    if field_name in NUMERIC_FIELDS:
        return profile.numeric and (field_name in (UNITS, SALES_VALUE) or not profile.negative)
    if field_name in FLAG_FIELDS:
        return profile.flag_true is not None
    if field_name in (STORE, PRODUCT):
        return profile.filled > 0 and profile.date_format is None
    return profile.filled > 0


def _by_content(
    profiles: list[ColumnProfile], mapping: dict[str, str], taken: set[str], unsure: dict[str, str]
) -> None:
    free = [p for p in profiles if p.name not in taken and p.name]
    if WEEK not in mapping and DAY not in mapping:
        dated = [p for p in free if p.date_format]
        if dated:
            mapping[WEEK] = dated[0].name
            taken.add(dated[0].name)
            unsure[f"sellout.columns.{WEEK}"] = f"{dated[0].name!r} holds dates; its name says nothing"
    if STORE in mapping or PRODUCT in mapping:
        return  # a header named one of them: the other is missing for real (a constant), not to be guessed
    free = [p for p in profiles if p.name not in taken and p.name]
    codes = [p for p in free if not p.date_format and not p.flag_true and p.distinct > 1 and _code_like(p)]
    if len(codes) < 2:
        return
    # stores are fewer than products: of the first two code-like columns, the one with fewer codes is the store
    store, product = sorted(codes[:2], key=lambda p: p.distinct)
    for field_name, chosen in ((STORE, store), (PRODUCT, product)):
        mapping[field_name] = chosen.name
        taken.add(chosen.name)
        unsure[f"sellout.columns.{field_name}"] = (
            f"{chosen.name!r} looks like codes ({chosen.distinct} distinct)"
        )


def _code_like(profile: ColumnProfile) -> bool:
    sample = profile.values.slice(0, 200).to_pylist()
    return profile.integers or all(re.fullmatch(r"[\w./-]{1,40}", v) for v in sample if v)


def _dates_and_frequency(
    profiles: list[ColumnProfile], mapping: dict[str, str], unsure: dict[str, str], notes: list[str]
) -> dict:
    """date_format, frequency and week_ending_weekday from the dated column's values."""
    by_name = {p.name: p for p in profiles}
    column = mapping.get(DAY) or mapping.get(WEEK)
    if column is None:
        notes.append("no date column found: map week_end_date (or date for a daily feed) under columns")
        return {"date_format": "%Y-%m-%d", "frequency": "weekly"}
    profile = by_name[column]
    if profile.date_alternatives:
        unsure["sellout.date_format"] = f"the sample also reads as {' or '.join(profile.date_alternatives)}"
    dates = profile.dates[~np.isnat(profile.dates)]
    distinct = np.unique(dates)
    weekdays = sorted(set(weekday_of(distinct).tolist()))
    named_daily = DAY in mapping
    result: dict = {"date_format": profile.date_format}
    if len(weekdays) >= 3 or (named_daily and len(weekdays) != 1):
        result["frequency"] = "daily"
        if WEEK in mapping and mapping.get(DAY) is None:
            mapping[DAY] = mapping.pop(WEEK)
        result["week_ending_weekday"] = "sunday"
        unsure["sellout.week_ending_weekday"] = (
            "daily rows do not say the retailer's week: sunday ends a calendar (ISO) week"
        )
        span = f"{np.datetime_as_string(distinct.min(), 'D')}..{np.datetime_as_string(distinct.max(), 'D')}"
        notes.append(f"daily rows ({len(distinct)} days in the sample, {span}): summed into weeks at ingest")
        return result
    if named_daily and len(distinct) <= 1:
        result["frequency"] = "daily"
        result["week_ending_weekday"] = "sunday"
        unsure["sellout.frequency"] = "the sample has one date; the column's name says a day"
        unsure["sellout.week_ending_weekday"] = "the retailer's week is not in the file"
        return result
    if DAY in mapping:
        mapping[WEEK] = mapping.pop(DAY)
    result["frequency"] = "weekly"
    result["week_ending_weekday"] = WEEKDAYS[weekdays[0]]
    if len(weekdays) == 2:
        unsure["sellout.week_ending_weekday"] = (
            f"dates fall on {WEEKDAYS[weekdays[0]]} and {WEEKDAYS[weekdays[1]]}: rows on the other day are rejected"
        )
    elif len(distinct) == 1:
        unsure["sellout.week_ending_weekday"] = (
            "the sample has one date: its weekday is taken as the week's end"
        )
    else:
        gaps = np.diff(distinct).astype("timedelta64[D]").astype(int)
        if np.any(gaps % 7):
            unsure["sellout.frequency"] = "dates are not whole weeks apart"
    return result
