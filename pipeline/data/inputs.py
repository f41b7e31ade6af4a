"""start: resolve the settings of a run, read the project's files, and load contributions.

Files are read here (and nowhere else), so the data travel with the run as artifacts to
whatever compute runs the later steps. Base data, benchmark and baseline model travel as
bytes (they belong to the project). A contributed file does not: its bytes are hashed,
parsed and PII-checked here, and only the cleaned table (schema and wallet columns, PII
redacted or dropped by policy) travels on, with its hashes and counts. So personal data in
a contributed file never reaches the Metaflow datastore."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.config import CONFIG_FILE, Settings, load_settings
from pipeline.data.conform import check_columns
from pipeline.data.contributions import Inputs, LoadedContribution
from pipeline.data.wallets import normalise_wallet
from pipeline.data.parse_cache import Mode
from pipeline.data.parse_cache import load as cached_load
from pipeline.errors import DataError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
#: Documented public test accounts (Hardhat #1 and #2): they hold no value on any network.
DEMO_WALLETS = ("0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC")
DEMO_CONTRIBUTIONS = (
    f"{FIXTURES / 'contrib_alice.csv'}:{DEMO_WALLETS[0]}",
    f"{FIXTURES / 'contrib_bob.parquet'}:{DEMO_WALLETS[1]}",
)
DRY_RUN_MAX_ROWS = 5000


def parse_contrib(spec: str) -> tuple[str, str | None]:
    """'data.csv:0xAbC…' -> ('data.csv', '0xAbC…'); a wallet is whatever follows the last
    ':' when it starts with 0x."""
    path, sep, wallet = spec.rpartition(":")
    if sep and wallet.lower().startswith("0x"):
        return path, wallet
    return spec, None


def split_contribs(value: str) -> list[str]:
    """The flow parameter holds specs separated by commas."""
    return [s.strip() for s in value.split(",") if s.strip()]


def demo_overrides() -> dict[str, dict[str, str | int]]:
    """Settings of the bundled demo: a breast-cancer split and a mock baseline model."""
    return {
        "data": {
            "base": str(FIXTURES / "base.csv"),
            "benchmark": str(FIXTURES / "benchmark.csv"),
            "baseline_model": str(FIXTURES / "baseline.skops"),
        }
    }


def read_project_file(project_dir: Path, path: str, what: str) -> tuple[str, bytes]:
    full = project_dir / path
    try:
        return path, full.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{what} {path}: file not found; check the path (relative to {project_dir}).") from None
    except IsADirectoryError:
        raise DataError(f"{what} {path}: is a folder; give a file.") from None


def find_contribution(project_dir: Path, path: str, what: str = "Contribution", cwd: Path | None = None) -> Path:
    """The file a contributed path names, the one rule of `run`, `dry-run`, `validate` and the
    flow's `start`: an absolute path as given; a relative one in the current folder first
    (as a shell reads what you type), then in the project folder (so `--project DIR --contrib
    data/x.csv` works from anywhere). Returns a normalised absolute path."""
    here, project_dir = Path.cwd() if cwd is None else cwd, Path(os.path.abspath(project_dir))
    given = Path(path)
    places = [given] if given.is_absolute() else list(dict.fromkeys([here / given, project_dir / given]))
    for place in places:
        full = Path(os.path.normpath(place))
        if full.is_dir():
            raise DataError(f"{what} {path}: is a folder; give a file.")
        if full.exists():
            return full
    if given.is_absolute():
        raise DataError(f"{what} {path}: file not found; check the path.")
    if len(places) == 1:
        raise DataError(f"{what} {path}: file not found in the current folder, which is the project folder "
                        f"({project_dir}); check the path.")
    raise DataError(f"{what} {path}: file not found in the current folder ({here}) or the project folder "
                    f"({project_dir}); check the path.")


def contribution_name(project_dir: Path, full: Path) -> str:
    """The name a contributed file is recorded under (manifest, artifacts, MLflow): its path
    relative to the project folder when it lies inside it, else its file name alone, so no
    machine-specific absolute path is recorded."""
    return _in_project(project_dir, full) or full.name


def _in_project(project_dir: Path, full: Path) -> str | None:
    """`full` relative to the project folder (POSIX form), or None when outside it."""
    project_dir = Path(os.path.abspath(project_dir))
    return full.relative_to(project_dir).as_posix() if full.is_relative_to(project_dir) else None


def flow_contribs(project_dir: Path, contrib: list[str], cwd: Path | None = None) -> list[str]:
    """The `--contrib` specs as the CLI passes them to the flow, whose `start` runs in the
    project folder: each file found by `find_contribution`, then given relative to the
    project when inside it (the flow finds it there, under the same name), else absolute.
    Wallet tags are kept as typed."""
    specs = []
    for spec in contrib:
        path, wallet = parse_contrib(spec)
        full = find_contribution(project_dir, path, cwd=cwd)
        where = _in_project(project_dir, full) or str(full)
        specs.append(f"{where}:{wallet}" if wallet else where)
    return specs


def _is_demo(project_dir: Path, dry_run: bool, config_file: Path | None) -> bool:
    return dry_run and config_file is None and not (project_dir / CONFIG_FILE).is_file()


def schema_columns(settings: Settings, base: tuple[str, bytes]) -> list[str]:
    """The columns the model uses: the configured features (or every base column but the
    target) and the target, so `start` can drop every other contributed column. The base
    file's header must hold them all (the sentence `load_baseline_model` would give)."""
    from pipeline.data.tables import read_table, resolve_schema

    name, data = base
    header = read_table(name, data, max_rows=1)
    schema = resolve_schema(header, settings.model, name, settings.data.id_column)
    check_columns(header, schema, name)  # configured features the base lacks: fail in `start`
    return schema.columns


def check_benchmark_pin(benchmark: tuple[str, bytes], pin: str) -> None:
    """A pinned benchmark (`[data] benchmark_sha256`) must be the file read: one sentence with
    both hashes otherwise, before any run exists."""
    import hashlib

    if not pin:
        return
    name, data = benchmark
    actual = "sha256:" + hashlib.sha256(data).hexdigest()
    if actual != pin:
        raise DataError(
            f"{name}: its sha256 is {actual[7:]}, but [data] benchmark_sha256 pins {pin[7:]}; restore the pinned "
            "benchmark, or pin this one with `hokusai benchmark pin` (a new benchmark is a new spec)."
        )


def prepare_run(
    project_dir: Path, contrib: list[str], dry_run: bool, config_file: Path | None = None,
    parse_cache: Mode = "use",
) -> tuple[Settings, Inputs]:
    """Settings and inputs of a run (step `start`; the CLI also calls it before launching, so
    bad input fails before any run exists). A dry-run with no `hokusai.toml` uses the bundled
    demo (and its sample contributions when none are given); a dry-run caps rows per file.
    Contributions are found by `find_contribution` (current folder, then project folder) and
    loaded one by one: hashed, parsed, PII policy applied, extra columns dropped; their bytes
    are not kept.

    One parse (`pipeline.data.parse_cache`): the CLI's pre-check calls this with
    `parse_cache="fill"` and stores each cleaned contribution under the project's
    `.hokusai/parse-cache/`, keyed by the sha256 of the file's bytes and everything else that
    shapes it; `start` (the default, `"use"`) hashes each file again and takes the stored
    table when the key matches, else parses the file itself (a file changed since the
    pre-check, a run launched without the CLI, a step on other compute)."""
    demo = _is_demo(project_dir, dry_run, config_file)
    overrides: dict = demo_overrides() if demo else {}
    if dry_run:
        overrides.setdefault("data", {})["max_rows"] = DRY_RUN_MAX_ROWS
    settings = load_settings(project_dir, overrides=overrides, config_file=config_file)
    specs = contrib or (list(DEMO_CONTRIBUTIONS) if demo else [])
    if not specs:
        raise DataError("No contributed data was given; pass at least one file with --contrib FILE[:WALLET].")
    tagged = []
    for spec in specs:
        path, wallet = parse_contrib(spec)
        tagged.append((path, normalise_wallet(wallet, path) if wallet else None))  # fail before reading
    data = settings.data
    base = read_project_file(project_dir, data.base, "data.base")
    columns = schema_columns(settings, base)
    files = []
    for path, wallet in tagged:
        full = find_contribution(project_dir, path)
        name = full.name if demo else contribution_name(project_dir, full)
        loaded, reused = cached_load(project_dir, full, name, wallet, data, columns, parse_cache)
        files.append(loaded)
        _log_load(loaded, reused)
    benchmark = read_project_file(project_dir, data.benchmark, "data.benchmark")
    check_benchmark_pin(benchmark, data.benchmark_sha256)
    inputs = Inputs(
        base=base,
        benchmark=benchmark,
        baseline_model=read_project_file(project_dir, data.baseline_model, "data.baseline_model") if data.baseline_model else None,
        contributions=tuple(files),
    )
    return settings, inputs


def _log_load(loaded: LoadedContribution, reused: bool) -> None:
    """Inside a flow step, one log line per contributed file: taken from the pre-check's parse
    (`contribution.parse_reused`) or parsed here (`contribution.parsed`). Silent in the CLI."""
    import sys

    metaflow = sys.modules.get("metaflow")
    if metaflow is None or not getattr(metaflow.current, "is_running_flow", False):
        return
    from pipeline.logs import get_logger

    get_logger().info("contribution.parse_reused" if reused else "contribution.parsed", file=loaded.name,
                      file_sha256=loaded.file_sha256, rows_read=loaded.rows_read)
