"""`hokusai validate`: the contributor-side check on the pipeline's own code path (data
rooms for reading and integrating, the baseline's classes from `modelling`), with no run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import CONFIG_FILE, Settings, load_settings
from pipeline.data.contributions import ContributionFile, Inputs, Integration, load_contribution, normalise_wallet
from pipeline.data.inputs import demo_overrides, read_project_file
from pipeline.errors import DataError
from pipeline.modelling.models import load_model


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
    from pipeline.data.contributions import conform, integrate_contributions, select_columns
    from pipeline.data.tables import read_table, resolve_schema

    demo = config_file is None and not (project_dir / CONFIG_FILE).is_file()
    settings = load_settings(project_dir, overrides=demo_overrides() if demo else {}, config_file=config_file)
    if redact:
        settings = settings.model_copy(update={"data": settings.data.model_copy(update={"pii": "redact"})})
    if not files:
        raise DataError("No file to validate was given; pass at least one FILE.")
    tag = normalise_wallet(wallet, "--wallet") if wallet else None
    data = settings.data
    base_file = read_project_file(project_dir, data.base, "data.base")
    benchmark_file = read_project_file(project_dir, data.benchmark, "data.benchmark")
    model_file = read_project_file(project_dir, data.baseline_model, "data.baseline_model") if data.baseline_model else None
    inputs = Inputs(base_file, benchmark_file, model_file, ())
    raw_base = read_table(base_file[0], base_file[1], data.max_rows)
    schema = resolve_schema(raw_base, settings.model, base_file[0])
    base = conform(raw_base, schema, base_file[0], classes=None)
    classes = project_classes(settings, inputs, base, schema)
    benchmark = conform(read_table(*benchmark_file, data.max_rows), schema, benchmark_file[0], classes)
    loaded, redacted = [], []
    for path in files:
        name, raw = read_project_file(Path.cwd(), path, "File")
        whole = load_contribution(ContributionFile(name, raw, tag), data)
        del raw
        if redact:
            redacted.append((name, whole.frame))
        loaded.append(select_columns(whole, schema.columns))
    integration = integrate_contributions(base, benchmark, loaded, schema, classes, rules=data)
    return Validation(settings, integration, tuple(redacted))
