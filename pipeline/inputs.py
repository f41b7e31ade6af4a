"""start: resolve the settings of a run and read every input file into bytes.

Reading bytes here (and nowhere else) means the data travel with the run as artifacts, to
whatever compute runs the later steps, and every hash is taken from the bytes actually used."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.config import CONFIG_FILE, Settings, load_settings
from pipeline.contributions import ContributionFile, normalise_wallet
from pipeline.errors import DataError

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
    """The bytes of every file a run uses, keyed by the name shown in messages."""

    base: tuple[str, bytes]
    benchmark: tuple[str, bytes]
    baseline_model: tuple[str, bytes] | None
    contributions: tuple[ContributionFile, ...]


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


def prepare_run(
    project_dir: Path, contrib: list[str], dry_run: bool, config_file: Path | None = None
) -> tuple[Settings, Inputs]:
    """Settings and input bytes of a run. A dry-run with no `hokusai.toml` uses the bundled
    demo (and its sample contributions when none are given); a dry-run caps rows per file."""
    demo = dry_run and config_file is None and not (project_dir / CONFIG_FILE).is_file()
    overrides: dict = demo_overrides() if demo else {}
    if dry_run:
        overrides.setdefault("data", {})["max_rows"] = DRY_RUN_MAX_ROWS
    settings = load_settings(project_dir, overrides=overrides, config_file=config_file)
    specs = contrib or (list(DEMO_CONTRIBUTIONS) if demo else [])
    if not specs:
        raise DataError("No contributed data was given; pass at least one file with --contrib FILE[:WALLET].")
    files = []
    for spec in specs:
        path, wallet = parse_contrib(spec)
        wallet = normalise_wallet(wallet, path) if wallet else None  # fail before any run exists
        name, data = _read(project_dir, path, "Contribution")
        files.append(ContributionFile(Path(name).name if demo else name, data, wallet))
    data = settings.data
    inputs = Inputs(
        base=_read(project_dir, data.base, "data.base"),
        benchmark=_read(project_dir, data.benchmark, "data.benchmark"),
        baseline_model=_read(project_dir, data.baseline_model, "data.baseline_model") if data.baseline_model else None,
        contributions=tuple(files),
    )
    return settings, inputs
