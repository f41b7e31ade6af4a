"""The benchmark spec: what a DeltaOne is measured against, as one canonical document whose
hash goes into the evidence (`benchmark.specSha256`). Two evaluations with the same spec hash
used the same benchmark bytes, target, task, metrics, family, guardrails and gate thresholds.

The spec is not a separate file: it is made from the settings that define it (`[data]
benchmark` and its pin, `[model]` target / task / primary metric, `[evaluation]` gate and
guardrails, `[attestation]` spec id and family), so each of them is set in one place."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.config import Settings

SPEC_SCHEMA = "hokusai.benchmark_spec/v1"


def benchmark_spec(settings: Settings, benchmark_sha256: str) -> dict[str, Any]:
    """The spec of resolved `settings` for a benchmark with this sha256 (`0x` + hex)."""
    from pipeline.config import LOWER_IS_BETTER, METRICS, REGRESSION_METRICS

    model, evaluation = settings.model, settings.evaluation
    built_in = REGRESSION_METRICS if model.task == "regression" else METRICS
    custom = evaluation.custom_metrics

    def direction(name: str) -> str:
        lower = name in LOWER_IS_BETTER or (name in custom and custom[name].direction == "lower")
        return "lower" if lower else "higher"

    return {
        "schema": SPEC_SCHEMA,
        "specId": settings.attestation.benchmark_spec_id,
        "benchmarkSha256": benchmark_sha256,
        "target": model.target,
        "task": model.task,
        "primaryMetric": {"name": model.primary_metric, "direction": "higher",
                          "family": settings.attestation.metric_family},
        "secondaryMetrics": [{"name": m, "direction": direction(m)}
                             for m in (*built_in, *custom) if m != model.primary_metric],
        "guardrails": [{"metric": g.metric, "direction": g.direction or direction(g.metric),
                        "threshold": repr(float(g.threshold)), "blocking": g.blocking} for g in evaluation.guardrails],
        "maxDropBps": evaluation.max_drop_bps,
        "minBenchmarkRows": evaluation.min_benchmark_rows,
        "minImprovementBps": evaluation.min_improvement_bps,
    }


def spec_sha256(spec: dict[str, Any]) -> str:
    """`0x` + sha256 of the spec's RFC 8785 canonical JSON."""
    from pipeline.attest.eip712 import canonical_json

    return "0x" + hashlib.sha256(canonical_json(spec)).hexdigest()


def pin_benchmark(project_dir: Any) -> dict[str, Any]:
    """`hokusai benchmark pin`: the project's benchmark file hashed and its pin written into
    hokusai.toml (`[data] benchmark_sha256`, replacing an older pin), atomically."""
    import os
    import re
    import tempfile
    from pathlib import Path

    from pipeline.config import CONFIG_FILE, load_settings
    from pipeline.data.inputs import read_project_file
    from pipeline.errors import ConfigError

    project_dir = Path(project_dir)
    config = project_dir / CONFIG_FILE
    if not config.is_file():
        raise ConfigError(f"No {CONFIG_FILE} in {project_dir}; run `hokusai init` first, or pass --project DIR.")
    settings = load_settings(project_dir)
    name, data = read_project_file(project_dir, settings.data.benchmark, "data.benchmark")
    pin = "sha256:" + hashlib.sha256(data).hexdigest()
    text = config.read_text(encoding="utf-8")
    line = f'benchmark_sha256 = "{pin}"'
    if re.search(r"(?m)^\s*benchmark_sha256\s*=.*$", text):
        new = re.sub(r"(?m)^\s*benchmark_sha256\s*=.*$", line, text, count=1)
    elif re.search(r"(?m)^\[data\]\s*$", text):
        new = re.sub(r"(?m)^\[data\]\s*$", "[data]\n" + line, text, count=1)
    else:
        new = text.rstrip("\n") + f"\n\n[data]\n{line}\n"
    if new != text:  # a temporary file renamed over it: old or new, never half (a full disk leaves the old)
        import shutil

        handle, tmp = tempfile.mkstemp(prefix=f".{CONFIG_FILE}.", dir=project_dir)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(new)
            shutil.copymode(config, tmp)  # mkstemp makes it private; keep hokusai.toml's own permissions
            os.replace(tmp, config)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    load_settings(project_dir)  # the file still reads
    return {"benchmark": name, "pin": pin, "config": str(config), "unchanged": new == text}
