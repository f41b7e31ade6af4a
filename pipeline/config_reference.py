"""The configuration reference (`docs/configuration.md`), generated from the pydantic model
in `pipeline.config`, so the docs cannot drift from the code: a test regenerates it and
fails when the file is stale or a key has no description.

Regenerate with: python -m pipeline.config_reference > /dev/null  (rewrites the docs table)"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

from pipeline.config import ENV_PREFIX, Settings

BEGIN = "<!-- BEGIN GENERATED: python -m pipeline.config_reference -->"
END = "<!-- END GENERATED -->"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def _type(annotation: Any) -> str:
    """A short, readable type: `int`, `str`, `"reject" | "drop"`, `list[str]`, `int | null`."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " \\| ".join(json.dumps(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " \\| ".join("null" if a is type(None) else _type(a) for a in typing.get_args(annotation))
    if origin is not None:
        args = ", ".join(_type(a) for a in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    return getattr(annotation, "__name__", str(annotation))


def _bounds(field: Any) -> str:
    parts = []
    for item in field.metadata:
        for name, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"), ("min_length", "length >=")):
            value = getattr(item, name, None)
            if value is not None:
                parts.append(f"{sign} {value if not (isinstance(value, int) and value > 10**6) else '2^' + str(value.bit_length() - 1)}")
        pattern = getattr(item, "pattern", None)
        if pattern:
            parts.append(f"matches `{pattern}`")
    return "; ".join(parts)


def _default(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
        return "(none)" if value in ({}, []) else f"`{json.dumps(value)}`"
    if field.is_required():
        return "(required)"
    return f"`{json.dumps(field.default)}`"


def rows() -> list[dict[str, str]]:
    """One row per key: section, key, type, default, bounds, environment variable, meaning."""
    out = []
    for section, holder in Settings.model_fields.items():
        for key, field in holder.annotation.model_fields.items():
            out.append({
                "section": section, "key": key, "type": _type(field.annotation), "default": _default(field),
                "bounds": _bounds(field), "env": f"{ENV_PREFIX}{section.upper()}__{key.upper()}",
                "meaning": field.description or "",
            })
    return out


def undocumented() -> list[str]:
    """`[section] key` of every key without a description."""
    return [f"[{r['section']}] {r['key']}" for r in rows() if not r["meaning"]]


def table() -> str:
    """The generated Markdown: one table per section."""
    parts = []
    section = None
    for r in rows():
        if r["section"] != section:
            section = r["section"]
            parts.append(f"\n### `[{section}]`\n\n| key | type | default | meaning | environment variable |\n|---|---|---|---|---|")
        bounds = f" ({r['bounds']})" if r["bounds"] else ""
        parts.append(f"| `{r['key']}` | {r['type']}{bounds} | {r['default']} | {r['meaning']} | `{r['env']}` |")
    return "\n".join(parts).strip("\n") + "\n"


def render(current: str) -> str:
    """`current` (the docs file) with its generated block replaced by a fresh one."""
    head, _, rest = current.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{table()}{END}{tail}"


if __name__ == "__main__":
    DOCS.write_text(render(DOCS.read_text()))
