"""pipeline.data.pii: detection per kind (with the near misses that must not count), the three
policies, and messages that never carry a value. Planted values are documentation/test
values: example.com mail, 555 phone numbers, test card numbers, documentation IP ranges."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import DataError
from pipeline.data.pii import Finding, apply_policy, find_spans, luhn_ok, redact_text, scan


def kinds(text: str) -> list[str]:
    return [kind for kind, _, _ in find_spans(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jane.doe@example.com", ["email"]),
        ("write to bob+news@mail.example.co.uk.", ["email"]),
        ("+1 (415) 555-2671", ["phone"]),
        ("415-555-2671", ["phone"]),
        ("(415) 555-2671", ["phone"]),
        ("415.555.2671", ["phone"]),
        ("call 415 555 2671 today", ["phone"]),
        ("+44 20 7946 0958", ["phone"]),
        ("020 7946 0958", ["phone"]),
        ("06 12 34 56 78", ["phone"]),
        ("+4915112345678", ["phone"]),
        ("123-45-6789", ["ssn"]),
        ("123 45 6789", ["ssn"]),
        ("4111 1111 1111 1111", ["card"]),
        ("4111-1111-1111-1111", ["card"]),
        ("4111111111111111", ["card"]),
        ("amex 378282246310005", ["card"]),
        ("5555555555554444", ["card"]),
        ("from 192.0.2.17", ["ipv4"]),
        ("255.255.255.255", ["ipv4"]),
        ("2001:db8::8a2e:370:7334", ["ipv6"]),
        ("2001:0db8:85a3:0000:0000:8a2e:0370:7334", ["ipv6"]),
        ("fe80::1", ["ipv6"]),
        ("a@example.com or 415-555-2671", ["email", "phone"]),
    ],
)
def test_detects(text: str, expected: list[str]) -> None:
    assert kinds(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "12345",  # a 5-digit number (a zip code, a count) is not PII
        "90210",
        "0.4152671",  # float features
        "3.14159265358979",
        "-0.000123",
        "1e10",
        "1,234,567.89",
        "1234567890",  # bare digits are not a phone number
        "5551234567",
        "20240115",
        "2024-01-15",  # dates and times
        "12-31-2024",
        "2024-01-15T12:30:45Z",
        "12:30:45",
        "10:30",
        "000-12-3456x",  # never-issued SSN area, glued to a letter
        "666-12-3456",
        "900-12-3456",
        "123-00-6789",
        "4111111111111112",  # Luhn fails
        "1234567812345670",  # Luhn holds but no card network starts with 1
        "1.2.3.4.5",  # a dotted run, not an IP
        "256.1.1.1",
        "v1.2.3",
        "std::vector",
        "ab:cd",
        "00:1A:2B:3C:4D:5E",  # a MAC address has no double colon and 6 groups
        "user at example dot com",
        "hello world",
    ],
)
def test_near_misses_are_not_pii(text: str) -> None:
    assert find_spans(text) == []


def test_luhn() -> None:
    assert luhn_ok("4111111111111111") and luhn_ok("79927398713")
    assert not luhn_ok("4111111111111112") and not luhn_ok("79927398710")


def test_redact_text_keeps_the_rest() -> None:
    assert redact_text("mail jane@example.com or call +1 415 555 2671, card 4111 1111 1111 1111.") == (
        "mail [email] or call [phone], card [card]."
    )
    assert redact_text("no pii here: 12345, 0.5") == "no pii here: 12345, 0.5"


FRAME = pd.DataFrame(
    {
        "x": [0.4152671, 5551234567.0, 3.5, 12345.0],  # a float feature is never a phone
        "zip": [12345, 90210, 10001, 60601],
        "card_no": [4111111111111111, 7, 5555555555554444, 8],  # integers read from CSV
        "contact": ["jane@example.com", None, "call 415-555-2671", "jane@example.com"],
        "note": ["fine", "from 192.0.2.17", "ok", "ssn 123-45-6789"],
        "target": [0, 1, 0, 1],
    }
)


def test_scan_finds_kinds_columns_counts_and_rows() -> None:
    findings, _ = scan(FRAME)

    assert findings == [
        Finding("card", "card_no", 2, (1, 3)),
        Finding("email", "contact", 2, (1, 4)),
        Finding("phone", "contact", 1, (3,)),
        Finding("ssn", "note", 1, (4,)),
        Finding("ipv4", "note", 1, (2,)),
    ]


def test_scan_skips_the_named_columns_and_numeric_non_cards() -> None:
    findings, _ = scan(FRAME[["x", "zip", "contact"]], skip=("contact",))

    assert findings == []


def test_row_numbers_follow_the_index() -> None:
    frame = pd.DataFrame({"c": ["ok", "a@example.com"]}, index=[4, 9])

    assert scan(frame)[0] == [Finding("email", "c", 1, (10,))]


def test_reject_names_kinds_columns_counts_rows_and_never_a_value() -> None:
    with pytest.raises(DataError) as caught:
        apply_policy(FRAME, "c.csv", "reject")

    message = str(caught.value)
    assert message == (
        "c.csv: contains personal data (PII): 2 payment card numbers in column 'card_no' (rows 1, 3), "
        "2 e-mail addresses in column 'contact' (rows 1, 4), 1 phone number in column 'contact' (row 3), "
        "1 US social security number in column 'note' (row 4), 1 IPv4 address in column 'note' (row 2); "
        'remove it, or set [data] pii = "redact" or "drop-column" '
        "(`hokusai validate --redact-pii OUT` writes a redacted copy)."
    )
    for value in ("jane@example.com", "415-555-2671", "123-45-6789", "192.0.2.17", "4111111111111111"):
        assert value not in message


def test_reject_shows_five_rows_and_the_count() -> None:
    frame = pd.DataFrame({"mail": [f"u{i}@example.com" for i in range(7)]})

    with pytest.raises(DataError) as caught:
        apply_policy(frame, "m.csv", "reject")

    assert "7 e-mail addresses in column 'mail' (rows 1, 2, 3, 4, 5, …)" in str(caught.value)


def test_redact_replaces_only_the_spans() -> None:
    out, findings = apply_policy(FRAME, "c.csv", "redact")

    assert len(findings) == 5
    assert out["contact"].fillna("(empty)").tolist() == ["[email]", "(empty)", "call [phone]", "[email]"]
    assert out["note"].tolist() == ["fine", "from [ipv4]", "ok", "ssn [ssn]"]
    assert out["card_no"].tolist() == ["[card]", 7, "[card]", 8]
    assert out["x"].tolist() == FRAME["x"].tolist() and out["zip"].tolist() == FRAME["zip"].tolist()
    assert FRAME["contact"][0] == "jane@example.com"  # the input is not modified


def test_drop_column_drops_every_column_with_pii() -> None:
    out, findings = apply_policy(FRAME, "c.csv", "drop-column")

    assert list(out.columns) == ["x", "zip", "target"]
    assert [f.column for f in findings] == ["card_no", "contact", "contact", "note", "note"]


def test_clean_frame_passes_every_policy_unchanged() -> None:
    clean = FRAME[["x", "zip", "target"]]
    for policy in ("reject", "redact", "drop-column"):
        out, findings = apply_policy(clean, "c.csv", policy)
        assert findings == [] and out is clean


def test_whole_float_card_numbers_are_found_but_fractions_are_not() -> None:
    frame = pd.DataFrame({"n": [4111111111111111.0, np.nan, 4111111111111111.5, 1.0]})

    assert scan(frame)[0] == [Finding("card", "n", 1, (1,))]


def test_finding_describe_and_dict() -> None:
    finding = Finding("ipv6", "addr", 1, (2,))

    assert finding.describe() == "1 IPv6 address in column 'addr' (row 2)"
    assert finding.to_dict() == {"type": "ipv6", "column": "addr", "count": 1, "rows": [2]}
