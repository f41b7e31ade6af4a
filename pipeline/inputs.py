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

from typing import TYPE_CHECKING, Any

from pipeline.config import CONFIG_FILE, Settings, load_settings
from pipeline.contributions import ContributionFile, LoadedContribution, load_contribution, normalise_wallet
from pipeline.errors import DataError

if TYPE_CHECKING:
    from pipeline.contributions import Integration

FIXTURES = Path(__file__).resolve().parent / "fixtures"
#: Documented public test accounts (Hardhat #1 and #2): they hold no value on any network.
DEMO_WALLETS = ("0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC")
DEMO_CONTRIBUTIONS = (
    f"{FIXTURES / 'contrib_alice.csv'}:{DEMO_WALLETS[0]}",
    f"{FIXTURES / 'contrib_bob.parquet'}:{DEMO_WALLETS[1]}",
)
DRY_RUN_MAX_ROWS = 5000


@dataclass(frozen=True)
class Inputs:
    """What a run uses: the project's files as (name, bytes), and every contribution loaded
    (cleaned table, hashes, counts; never its raw bytes)."""

    base: tuple[str, bytes]
    benchmark: tuple[str, bytes]
    baseline_model: tuple[str, bytes] | None
    contributions: tuple[LoadedContribution, ...]


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


def _read(project_dir: Path, path: str, what: str) -> tuple[str, bytes]:
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
    from pipeline.baseline import resolve_schema
    from pipeline.tables import read_table

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
    base = _read(project_dir, data.base, "data.base")
    columns = schema_columns(settings, base)
    files = []
    for path, wallet in tagged:
        name, raw = _read(project_dir, path, "Contribution")
        files.append(load_contribution(ContributionFile(Path(name).name if demo else name, raw, wallet), data, columns))
        del raw
    inputs = Inputs(
        base=base,
        benchmark=_read(project_dir, data.benchmark, "data.benchmark"),
        baseline_model=_read(project_dir, data.baseline_model, "data.baseline_model") if data.baseline_model else None,
        contributions=tuple(files),
    )
    return settings, inputs


@dataclass(frozen=True)
class Validation:
    """`hokusai validate`: what the pipeline would make of some contributed files."""

    settings: Settings
    integration: Integration
    redacted: tuple[tuple[str, Any], ...]  # (file name, table with every column, PII redacted)

    def manifest(self) -> dict[str, Any]:
        return self.integration.manifest()


def project_classes(settings: Settings, inputs: Inputs, base: Any, schema: Any) -> list[Any]:
    """The classes the baseline knows, without training it: those of the configured model
    file, else the sorted labels of the base data (what training would give)."""
    import numpy as np

    if inputs.baseline_model is not None:
        from pipeline.models import load_model

        name, data = inputs.baseline_model
        model = load_model(data, name)
        return [c.item() if hasattr(c, "item") else c for c in model.classes_]
    return [c.item() if hasattr(c, "item") else c for c in np.unique(base[schema.target].to_numpy())]


def validate_contributions(
    project_dir: Path,
    files: list[str],
    wallet: str | None = None,
    config_file: Path | None = None,
    redact: bool = False,
) -> Validation:
    """The contributor-side check, on the pipeline's own code path: settings as for a run
    (the bundled demo when the folder has no hokusai.toml and no config is given), every file
    loaded as `start` does and integrated as `integrate_contributed_data` does (base data for
    duplicates, benchmark for contamination). `redact` applies `[data] pii = "redact"` and
    keeps each redacted table with all its columns (for `--redact-pii OUT`). Paths are taken
    as given (relative to the current folder); nothing is written."""
    from pipeline.baseline import resolve_schema
    from pipeline.contributions import conform, integrate_contributions, select_columns
    from pipeline.tables import read_table

    demo = config_file is None and not (project_dir / CONFIG_FILE).is_file()
    settings = load_settings(project_dir, overrides=demo_overrides() if demo else {}, config_file=config_file)
    if redact:
        settings = settings.model_copy(update={"data": settings.data.model_copy(update={"pii": "redact"})})
    if not files:
        raise DataError("No file to validate was given; pass at least one FILE.")
    tag = normalise_wallet(wallet, "--wallet") if wallet else None
    data = settings.data
    base_file = _read(project_dir, data.base, "data.base")
    benchmark_file = _read(project_dir, data.benchmark, "data.benchmark")
    model_file = _read(project_dir, data.baseline_model, "data.baseline_model") if data.baseline_model else None
    inputs = Inputs(base_file, benchmark_file, model_file, ())
    raw_base = read_table(base_file[0], base_file[1], data.max_rows)
    schema = resolve_schema(raw_base, settings.model, base_file[0])
    base = conform(raw_base, schema, base_file[0], classes=None)
    classes = project_classes(settings, inputs, base, schema)
    benchmark = conform(read_table(*benchmark_file, data.max_rows), schema, benchmark_file[0], classes)
    loaded, redacted = [], []
    for path in files:
        name, raw = _read(Path.cwd(), path, "File")
        whole = load_contribution(ContributionFile(name, raw, tag), data)
        del raw
        if redact:
            redacted.append((name, whole.frame))
        loaded.append(select_columns(whole, schema.columns))
    integration = integrate_contributions(base, benchmark, loaded, schema, classes, rules=data)
    return Validation(settings, integration, tuple(redacted))
