"""Which file column holds which canonical field: by the header's name (a synonym of
:mod:`sellout.ingest.header_synonyms`, then a synonym inside the header) checked against the column's profile, then
the date, store and product fields no header names, by their content."""

from __future__ import annotations

import re

from sellout.canonical import DAY, OPEN, PRODUCT, SALES_VALUE, STORE, UNITS, WEEK
from sellout.ingest.column_profiles import ColumnProfile
from sellout.ingest.header_synonyms import RETURN_SYNONYMS, SYNONYMS, normalise

FLAG_FIELDS = ("feature", "display", "tpr_only", "promotion", OPEN)
NUMERIC_FIELDS = (UNITS, SALES_VALUE, "price", "base_price")


def map_columns(profiles: list[ColumnProfile], unsure: dict[str, str]) -> tuple[dict[str, str], str | None]:
    """Canonical field -> file column: by name first (a synonym, then a synonym inside the header), checked
    against the column's content; then the required fields no name gave, by content. A header that names two
    columns is not mapped: the ingestion could not tell which one is meant (see :func:`twice_named`)."""
    mapping: dict[str, str] = {}
    taken: set[str] = set(twice_named(profiles))
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


def twice_named(profiles: list[ColumnProfile]) -> list[str]:
    """The header names that more than one column has."""
    names = [p.name for p in profiles if p.name]
    return sorted({name for name in names if names.count(name) > 1})


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
