"""Reading a document another Hokusai system defines (`attribution_report/v1`,
`deltaone.acceptance/v1`) against its vendored JSON Schema: the first problem as one sentence
naming the field, what it holds and what it must be. One reader, so every format speaks alike."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from pipeline.errors import AttestationError


@lru_cache(maxsize=None)
def validator(schema_file: Path) -> Any:
    """A draft 2020-12 validator of a shipped schema, formats (date-time) checked."""
    try:
        import jsonschema
    except ImportError:
        raise AttestationError("Reading this document needs jsonschema; install it with: pip install jsonschema") from None
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def field_path(path: Any, root: str) -> str:
    """A jsonschema error's path as the field a sentence names: root.contributors[0].wallet."""
    out = root
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def show(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=True)
    return text if len(text) <= 60 else text[:57] + "..."


def sentence(error: Any, *, root: str, version: str, fix: str) -> str:
    """One sentence for a jsonschema error: the field, what it holds, what it must be."""
    if error.parent is not None and error.parent.validator in ("anyOf", "oneOf"):
        error = error.parent
    where, value, rule, kind = field_path(error.absolute_path, root), error.instance, \
        error.validator_value, error.validator
    if kind == "required":
        missing = next(name for name in rule if name not in value)
        return f"{where}.{missing} is missing; {fix}."
    if kind == "additionalProperties":
        known = set(error.schema.get("properties", {}))
        extra = sorted(name for name in value if name not in known)[0]
        return f"{where}.{extra} is not a field of {version}; remove it."
    if kind == "anyOf" and where.endswith("]"):
        return f"{where} has neither wallet nor account_id; give the contributor's wallet (0x + 40 lower-case hex)."
    if kind == "anyOf":
        return f"{where} is {show(value)}; {fix}."
    if kind == "type":
        return f"{where} is {show(value)}, not {'an' if rule in ('object', 'array', 'integer') else 'a'} {rule}; {fix}."
    if kind == "const":
        return f"{where} is {show(value)}; it must be {show(rule)}."
    if kind == "enum":
        return f"{where} is {show(value)}; it must be one of {', '.join(map(str, rule))}."
    if kind == "pattern":
        hint = " (0x + 40 lower-case hex digits)" if where.endswith(".wallet") else ""
        return f"{where} is {show(value)}; it must match {rule}{hint}."
    if kind == "minLength":
        return f"{where} is {show(value)}; give non-empty text."
    if kind in ("minimum", "maximum"):
        return f"{where} is {show(value)}; it must be {'at least' if kind == 'minimum' else 'at most'} {rule}."
    if kind == "format":
        return f"{where} is {show(value)}; it must be an RFC 3339 {rule} (e.g. 2026-06-05T00:00:00Z)."
    return f"{where}: {error.message}; {fix}."


def first_problem(doc: Any, schema_file: Path, *, root: str, version: str, fix: str) -> str | None:
    """The first way `doc` breaks the schema, as one sentence, or None."""
    import jsonschema

    error = jsonschema.exceptions.best_match(validator(schema_file).iter_errors(doc))
    return None if error is None else sentence(error, root=root, version=version, fix=fix)


def read_document(doc: Any, schema_file: Path, *, what: str, root: str, version: str, fix: str) -> dict[str, Any]:
    """`doc` (a parsed JSON object, or its JSON text) checked against `schema_file` and returned;
    else `AttestationError` with one sentence naming the first field that breaks it. NaN and
    Infinity are not JSON and are refused."""
    if isinstance(doc, (str, bytes)):
        try:
            doc = json.loads(doc, parse_constant=_refuse)
        except ValueError as exc:
            raise AttestationError(f"{what} is not valid JSON ({exc}); {fix}.") from None
    if not isinstance(doc, Mapping):
        raise AttestationError(f"{what} is {show(doc)}, not a JSON object; {fix}.")
    problem = first_problem(doc, schema_file, root=root, version=version, fix=fix)
    if problem is not None:
        raise AttestationError(problem)
    return dict(doc)


def _refuse(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")
