"""start: resolve the settings of a run, read the project's files, and load contributions.

Files are read here (and nowhere else), so the data travel with the run as artifacts to
whatever compute runs the later steps. Base data, benchmark and baseline model travel as
bytes (they belong to the project). A contributed file does not: its bytes are hashed,
parsed and PII-checked here, and only the cleaned table (schema and wallet columns, PII
redacted or dropped by policy) travels on, with its hashes and counts. So personal data in
a contributed file never reaches the Metaflow datastore."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


from pipeline.config import CONFIG_FILE, Settings, load_settings
from pipeline.data.contributions import ContributionFile, Inputs, load_contribution, normalise_wallet
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


def _is_demo(project_dir: Path, dry_run: bool, config_file: Path | None) -> bool:
    return dry_run and config_file is None and not (project_dir / CONFIG_FILE).is_file()


def schema_columns(settings: Settings, base: tuple[str, bytes]) -> list[str]:
    """The columns the model uses: the configured features (or every base column but the
    target) and the target, so `start` can drop every other contributed column."""
    from pipeline.data.tables import read_table, resolve_schema

    if settings.model.features:
        return [*settings.model.features, settings.model.target]
    name, data = base
    return resolve_schema(read_table(name, data, max_rows=1), settings.model, name).columns


def prepare_run(
    project_dir: Path, contrib: list[str], dry_run: bool, config_file: Path | None = None
) -> tuple[Settings, Inputs]:
    """Settings and inputs of a run (step `start`; the CLI also calls it before launching, so
    bad input fails before any run exists). A dry-run with no `hokusai.toml` uses the bundled
    demo (and its sample contributions when none are given); a dry-run caps rows per file.
    Contributions are loaded one by one: hashed, parsed, PII policy applied, extra columns
    dropped; their bytes are not kept."""
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
        name, raw = read_project_file(project_dir, path, "Contribution")
        files.append(load_contribution(ContributionFile(Path(name).name if demo else name, raw, wallet), data, columns))
        del raw
    inputs = Inputs(
        base=base,
        benchmark=read_project_file(project_dir, data.benchmark, "data.benchmark"),
        baseline_model=read_project_file(project_dir, data.baseline_model, "data.baseline_model") if data.baseline_model else None,
        contributions=tuple(files),
    )
    return settings, inputs
