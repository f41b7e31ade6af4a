"""`hokusai validate`: the contributor-side check of data files before submission.

Same code path as a run (`pipeline.validation.validate_contributions` loads each file as the
flow's `start` does and integrates it as `integrate_contributed_data` does); this module only
parses options, writes the outputs and renders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from hokusai_cli.common import handled

if TYPE_CHECKING:
    from rich.console import Group

    from pipeline.validation import Validation


def redacted_paths(out: Path, files: list[str]) -> list[Path]:
    """Where `--redact-pii OUT` writes: OUT itself for one file (its suffix picks the format),
    else (several files, or OUT an existing folder) OUT/<file name> in each file's format."""
    from pipeline.errors import InputError
    from pipeline.data.tables import table_format

    paths = [out / Path(f).name for f in files] if len(files) > 1 or out.is_dir() else [out]
    names = [p.name for p in paths]
    clash = next((n for n in names if names.count(n) > 1), None)
    if clash:
        raise InputError(f"--redact-pii {out}: two files are named {clash}; validate them one at a time.")
    for path, source in zip(paths, files):
        if path.resolve() == Path(source).resolve():
            raise InputError(f"--redact-pii {out}: would overwrite {source}; write the redacted copy elsewhere.")
        try:
            table_format(path.name)
        except Exception as exc:  # noqa: BLE001 - a DataError with the supported suffixes
            raise InputError(f"--redact-pii {exc}") from None
    return paths


def write_json(path: Path, doc: dict[str, Any]) -> None:
    """Write `doc` as JSON atomically (a temporary file renamed over `path`)."""
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(doc, out, indent=2, sort_keys=True)
            out.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _near(path: Path) -> Path:
    """`path` relative to the current folder when it lies inside it, else as is."""
    return path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path


def _short_wallet(wallet: str | None) -> str:
    return "(no wallet)" if wallet is None else f"{wallet[:6]}…{wallet[-4:]}"


def report(result: Validation, manifest_path: Path, written: list[Path]) -> Group:
    """The report for humans: one row per contribution, then what each file needed."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from pipeline.data import pii

    integration = result.integration
    table = Table(title="Validation", title_justify="left", header_style="bold")
    for name in ("file", "wallet", "rows in", "kept", "duplicate", "benchmark", "invalid"):
        table.add_column(name, justify="left" if name in ("file", "wallet") else "right")
    for c in integration.contributions:
        table.add_row(c.file, _short_wallet(c.wallet), str(c.rows_in), str(c.rows_kept), str(c.duplicates_dropped),
                      str(c.benchmark_rows_dropped), str(c.invalid_rows_dropped))
    lines: list[Any] = [table]
    kinds = integration.features
    if any(kind != "numeric" for kind in kinds.values()):
        lines.append(Text("Features (kinds from the base data): "
                          + ", ".join(f"{name} {kind}" for name, kind in kinds.items())))
    for f in integration.files:
        how = f"{f.table.format}" + (f", {f.table.encoding}, delimiter {f.table.delimiter!r}" if f.table.encoding else "")
        lines.append(Text(f"{f.file}: read as {how}"))
        lines.append(Text(f"  file sha256 {f.file_sha256}\n  content sha256 {f.content_sha256}"))
        if f.extra_columns:
            lines.append(Text(f"{f.file}: extra column(s) dropped (the model does not use them): "
                              + ", ".join(repr(c) for c in f.extra_columns)))
        if f.pii:
            done = {"redact": "redacted", "drop-column": "column dropped"}.get(f.pii_policy, f.pii_policy)
            lines.append(Text(f"{f.file}: personal data {done}: {pii.describe(list(f.pii))}", style="yellow"))
        for column in f.invalid_rows:
            rows = ", ".join(map(str, column.rows)) + (", …" if column.count > len(column.rows) else "")
            lines.append(Text(f"{f.file}: dropped {column.count} row(s) empty or infinite in column "
                              f"{column.column!r} (rows {rows})", style="yellow"))
        for column in f.missing_values:
            rows = ", ".join(map(str, column.rows)) + (", …" if column.count > len(column.rows) else "")
            lines.append(Text(f"{f.file}: {column.count} empty value(s) in column {column.column!r} (rows {rows}) "
                              "kept: the estimator imputes them"))
        for column in f.unseen_categories:
            lines.append(Text(f"{f.file}: {column.count} row(s) with a category of {column.column!r} the base data "
                              "does not hold, kept (the model treats it as unknown)"))
    for note in integration.notes():
        lines.append(Text(f"Note: {note}", style="yellow"))
    kept = sum(c.rows_kept for c in integration.contributions)
    read = sum(f.rows_read for f in integration.files)
    lines.append(Text.assemble(("Valid", "bold green"), f": {kept} of {read} rows would be used."))
    lines.append(Text(f"Manifest: {manifest_path}"))
    for path in written:
        lines.append(Text(f"Redacted copy: {path}"))
    return Group(*lines)


def validate(
    files: Annotated[list[str], typer.Argument(
        metavar="FILE...",
        help="Contributed data files (CSV, TSV, JSON, JSONL, Parquet), as you would pass to --contrib: a relative "
             "path is looked up in the current folder, then in the project folder.",
        show_default=False)],
    project: Annotated[Path, typer.Option(
        "--project", "-p", file_okay=False,
        help="Project folder whose hokusai.toml, base data and benchmark the files are checked against "
             "(default: current folder; the bundled demo when it has no hokusai.toml).")] = Path("."),
    config: Annotated[Optional[Path], typer.Option(
        "--config", dir_okay=False, help="Config file to use instead of <project>/hokusai.toml.")] = None,
    wallet: Annotated[Optional[str], typer.Option(
        "--wallet", metavar="ADDR", help="Wallet credited for every file (EIP-55), like FILE:WALLET in a run.")] = None,
    redact_pii: Annotated[Optional[Path], typer.Option(
        "--redact-pii", metavar="OUT",
        help="Redact personal data instead of rejecting it, and write the redacted copy to OUT (a file for one "
             "FILE, its suffix picks the format; a folder for several).")] = None,
    manifest: Annotated[Optional[Path], typer.Option(
        "--manifest", metavar="OUT", dir_okay=False,
        help="Where to write the manifest JSON (default: <first FILE>.manifest.json).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Also print the manifest JSON on stdout.")] = False,
) -> None:
    """Check contributed data as a run would, and write its manifest, before you submit it.

    Checks columns, types, labels, empty or infinite values, minimum rows, personal data (PII),
    wallets, duplicates of the base data and rows that appear in the benchmark; reports rows
    in/kept/dropped by reason and the content hash. Exit 0 when valid; 2 when not (one
    sentence names the file, column and rows), and then nothing is written.

    Example: hokusai validate my_rows.csv --wallet 0x70997970C51812dc3A010C7d01b50e0d17dc79C8
    """
    from hokusai_cli import render
    from pipeline.data.inputs import find_contribution
    from pipeline.data.tables import write_table
    from pipeline.validation import validate_contributions

    out = render.console()
    project = project.resolve()
    with handled():
        sources = [_near(find_contribution(project, f, "File")) for f in files]  # as validate_contributions finds them
        targets = redacted_paths(redact_pii, [str(s) for s in sources]) if redact_pii is not None else []
        manifest_path = manifest or Path(f"{sources[0]}.manifest.json")
        result = validate_contributions(project, files, wallet, config, redact=redact_pii is not None)
        doc = result.manifest()
        for (_, frame), path in zip(result.redacted, targets):
            write_table(frame, path)
        write_json(manifest_path, doc)
    out.print(report(result, manifest_path, targets))
    if as_json:
        typer.echo(json.dumps(doc, indent=2, sort_keys=True))
