"""Personal data (PII) in contributed tables: detect, then reject, redact or drop columns.

Pure functions, no I/O. A finding carries only its kind, the column name, a count and row
numbers: never the matched value, so findings may be logged, stored and attested.

Kinds and what counts as one (chosen for few false positives):

- `email`: `local@domain.tld` (the top-level domain has at least two letters).
- `phone`: an international number (`+` then 8 to 15 digits with optional separators), a
  North-American number written with separators (`(415) 555-2671`, `415-555-2671`,
  `415.555.2671`, `415 555 2671`), or a national number starting with 0 written in groups
  (`020 7946 0958`, `06 12 34 56 78`; 9 to 12 digits). A bare run of digits is not a phone
  number, and numbers in numeric columns are never taken for one.
- `ssn`: a US social security number written `123-45-6789` (or with spaces), without the
  numbers the SSA never issues (area 000, 666, 9xx; group 00; serial 0000).
- `card`: 13 to 19 digits (optionally in groups split by spaces or dashes) that pass the
  Luhn check and start with 2-6 (the major card networks). Also checked in integer columns
  (and whole-number float columns), since a column of card numbers reads as integers.
- `ipv4`: four dot-separated numbers 0-255, not part of a longer dotted run (`1.2.3.4.5`).
- `ipv6`: a colon-separated address that `ipaddress.IPv6Address` accepts.

A 5-digit number, a float feature, a date (`2024-01-15`) or a time (`12:30:45`) is not PII.
Digits and word characters are ASCII (`re.ASCII`): numbers written in other scripts are not
recognised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pipeline.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

Policy = Literal["reject", "redact", "drop-column"]
POLICIES: tuple[str, ...] = ("reject", "redact", "drop-column")
#: Detection order: an earlier kind claims its span first (a card number is not also a phone).
KINDS = ("email", "card", "ssn", "phone", "ipv6", "ipv4")
NOUNS = {
    "email": ("e-mail address", "e-mail addresses"),
    "phone": ("phone number", "phone numbers"),
    "ssn": ("US social security number", "US social security numbers"),
    "card": ("payment card number", "payment card numbers"),
    "ipv4": ("IPv4 address", "IPv4 addresses"),
    "ipv6": ("IPv6 address", "IPv6 addresses"),
}
_SHOW_ROWS = 5

_PATTERNS = {
    "email": re.compile(
        r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
        r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}(?![\w-])", re.ASCII
    ),
    "card": re.compile(r"(?<![\w.,+-])\d(?:[ -]?\d){12,18}(?![\w-]|[.,]\d)", re.ASCII),
    "ssn": re.compile(r"(?<![\w.-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\w-]|[.,]\d)", re.ASCII),
    "phone": re.compile(
        r"(?<![\w.+-])(?:"
        r"\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}"  # international
        r"|(?:\(\d{3}\) ?|\d{3}([ .-]))\d{3}(?(1)\1|[ .-])\d{4}"  # North American, with separators
        r"|0\d{1,4}(?:[ .-]\d{2,4}){2,4}"  # national, leading 0, in groups
        r")(?![\w]|[.-]\d)", re.ASCII
    ),
    "ipv6": re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:]|\.\d)", re.ASCII),
    "ipv4": re.compile(
        r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w]|\.\d)",
        re.ASCII,
    ),
}
#: Cheap test a value must pass before the patterns run: '@' or ':', or at least 7 characters
#: of digits, spaces and `().+/-` starting and ending with a digit (every kind but e-mail and
#: IPv6 needs one: `1.1.1.1` is the shortest).
_MAYBE = re.compile(r"[@:]|\d[\d\s().+/-]{5,}\d", re.ASCII)


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a digit string holds."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _is_card(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_ok(digits)


def _valid(kind: str, text: str) -> bool:
    """Checks a regular expression cannot make: digit counts, Luhn, IPv6 grammar."""
    if kind == "card":
        return _is_card(re.sub(r"\D", "", text))
    if kind == "phone":
        digits = sum(ch.isdigit() for ch in text)
        return 8 <= digits <= 15 if text.startswith("+") else 9 <= digits <= 12
    if kind == "ipv6":
        import ipaddress

        if text.count(":") < 2 or sum(ch != ":" for ch in text) < 1:
            return False
        try:
            ipaddress.IPv6Address(text)
        except ValueError:
            return False
        return True
    return True


def find_spans(text: str) -> list[tuple[str, int, int]]:
    """Every PII span in `text` as (kind, start, end), in text order; spans never overlap."""
    if not _MAYBE.search(text):
        return []
    spans: list[tuple[str, int, int]] = []
    for kind in KINDS:
        for match in _PATTERNS[kind].finditer(text):
            start, end = match.span()
            if any(s < end and start < e for _, s, e in spans):
                continue
            if _valid(kind, match.group()):
                spans.append((kind, start, end))
    return sorted(spans, key=lambda s: s[1])


def redact_text(text: str) -> str:
    """`text` with each PII span replaced by `[kind]`, e.g. `mail [email] now`."""
    out, last = [], 0
    for kind, start, end in find_spans(text):
        out += [text[last:start], f"[{kind}]"]
        last = end
    return "".join(out) + text[last:]


@dataclass(frozen=True)
class Finding:
    """PII of one kind in one column: how many cells and which rows (1-based data rows)."""

    kind: str
    column: str
    count: int
    rows: tuple[int, ...]  # the first few

    def describe(self) -> str:
        noun = NOUNS[self.kind][self.count != 1]
        rows = ", ".join(map(str, self.rows))
        where = f"row {rows}" if self.count == 1 else f"rows {rows}{', …' if self.count > len(self.rows) else ''}"
        return f"{self.count} {noun} in column {self.column!r} ({where})"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "column": self.column, "count": self.count, "rows": list(self.rows)}


def _numeric_cards(values: Any) -> Any:
    """Boolean mask of the integers (or whole floats) in `values` that are card numbers."""
    import numpy as np

    array = np.asarray(values)
    mask = np.zeros(len(array), dtype=bool)
    if array.dtype.kind == "f":
        array = array.astype(np.float64, copy=False)  # float16 cannot hold 1e12
        candidates = np.isfinite(array) & (array >= 1e12) & (array < 2.0**53) & (np.floor(array) == array)
    elif array.dtype.kind in "iu":
        candidates = array >= 10**12
    else:
        return mask
    for position in np.flatnonzero(candidates):
        mask[position] = _is_card(str(int(array[position])))
    return mask


def _maybe_pii(values: pd.Series) -> list[str]:
    """The values passing the pre-filter `_MAYBE`, tested in C by pyarrow (RE2; patterns are
    ASCII-only, so RE2 and `re` agree)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not len(values):
        return []
    mask = pc.match_substring_regex(pa.array(values), _MAYBE.pattern).to_numpy(zero_copy_only=False)
    return values[mask.astype(bool)].tolist()


def _text_cells(column: pd.Series) -> pd.Series:
    """The non-empty text cells of an object/string column (index kept)."""
    values = column.dropna()
    if str(column.dtype) in ("str", "string"):  # a string dtype: every non-missing cell is text
        return values
    return values[values.map(lambda v: isinstance(v, str))]


def scan(frame: pd.DataFrame, skip: tuple[str, ...] = ()) -> tuple[list[Finding], dict[str, dict[str, Any]]]:
    """Findings per (kind, column), and per column the index labels of cells holding PII
    (for redaction): {column: {"text": index of text cells, "numeric": index of number cells}}.
    Row numbers are the frame's index + 1 (a freshly read table: 1 = first data row)."""
    import numpy as np
    import pandas as pd

    findings: list[Finding] = []
    cells: dict[str, dict[str, Any]] = {}
    for column in frame.columns:
        if column in skip:
            continue
        series = frame[column]
        if isinstance(series.dtype, pd.CategoricalDtype):  # (Parquet's dictionary columns) as their values
            series = pd.Series(np.asarray(series), index=series.index)
        per_kind: dict[str, list[Any]] = {}
        if series.dtype.kind in "iuf":
            mask = _numeric_cards(series.to_numpy())
            if mask.any():
                per_kind["card"] = list(series.index[mask])
                cells[str(column)] = {"numeric": series.index[mask], "text": series.index[:0]}
        elif series.dtype.kind in "OSU" or str(series.dtype) in ("string", "str"):
            text = _text_cells(series)
            if not len(text):
                continue
            # scan each distinct value once (categorical columns repeat a few values), and only
            # those passing the cheap pre-filter (vectorised: RE2 in pyarrow for string columns)
            uniques = pd.Series(text.unique(), dtype=text.dtype)
            kinds_of = {value: {k for k, _, _ in find_spans(value)} for value in _maybe_pii(uniques)}
            hits = {value: kinds for value, kinds in kinds_of.items() if kinds}
            if hits:
                hit_mask = text.isin(list(hits)).to_numpy()
                for label, value in zip(text.index[hit_mask], text.to_numpy()[hit_mask]):
                    for kind in hits[value]:
                        per_kind.setdefault(kind, []).append(label)
                cells[str(column)] = {"text": text.index[hit_mask], "numeric": series.index[:0]}
        for kind in KINDS:
            if kind in per_kind:
                labels = np.sort(np.asarray(per_kind[kind]))
                rows = tuple(int(label) + 1 for label in labels[:_SHOW_ROWS])
                findings.append(Finding(kind, str(column), len(labels), rows))
    return findings, cells


def describe(findings: list[Finding]) -> str:
    return ", ".join(f.describe() for f in findings)


def apply_policy(
    frame: pd.DataFrame, name: str, policy: str, skip: tuple[str, ...] = ()
) -> tuple[pd.DataFrame, list[Finding]]:
    """Scan `frame` and apply the policy: `reject` raises a DataError naming kinds, columns,
    counts and rows (never values); `redact` replaces each span by `[kind]` (a number cell
    becomes the text `[card]`); `drop-column` drops every column holding PII."""
    if policy not in POLICIES:
        raise DataError(f"Unknown PII policy {policy!r}; use one of {', '.join(POLICIES)}.")
    findings, cells = scan(frame, skip)
    if not findings:
        return frame, []
    if policy == "reject":
        raise DataError(
            f"{name}: contains personal data (PII): {describe(findings)}; remove it, or set "
            '[data] pii = "redact" or "drop-column" (`hokusai validate --redact-pii OUT` writes a redacted copy).'
        )
    if policy == "drop-column":
        return frame.drop(columns=list(dict.fromkeys(f.column for f in findings))), findings
    import pandas as pd

    out = frame.copy()
    for column, where in cells.items():
        key = next(c for c in out.columns if str(c) == column)
        values = out[key].to_numpy(dtype=object, copy=True)
        for position in out.index.get_indexer(where["numeric"]):
            values[position] = "[card]"
        for position in out.index.get_indexer(where["text"]):
            values[position] = redact_text(values[position])
        out[key] = pd.Series(values, index=out.index, dtype=object)
    return out, findings
