"""The examples cannot rot: every folder of examples/ has a README whose ```bash blocks run
(in order, one `bash -e` shell, from a copy of the folder) and print what its ```text blocks
show. The conventions are in examples/README.md."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
#: What running an example writes into its folder (examples/.gitignore): never copied, so a
#: folder someone ran by hand is tested from scratch.
GENERATED = ("__pycache__", "demo", "fixtures", ".metaflow", ".hokusai")
FENCE = re.compile(r"^```(\w*)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
WORKDIR = re.compile(r"Run every command below from `(examples/[\w./-]+?)/?`")
#: Values that differ from run to run, compared as placeholders on both sides.
MASKS = [
    (re.compile(r"\b\d+\.\ds\b"), "<seconds>"),  # step times, "took 43.3s"
    (re.compile(r"\b\d{13,}\b"), "<run-id>"),  # Metaflow run ids
    (re.compile(r"\b[0-9a-f]{32}\b"), "<mlflow-run-id>"),
    (re.compile(r"([─━])\1+"), r"\1"),  # table rules: a column's width follows its widest cell (a time)
]
#: Per example, lines its README's expected output must show and the real output must hold
#: (whitespace runs count as one): the numbers and table cells a reader takes away.
KEY_LINES = {
    "custom_metric": [
        "│ top_class_recall * │ 0.9528 │ 0.9921 │ +393 bps │ [+84, +794] │",
        "│ recall │ 0.9528 │ 0.9921 │ +393 bps │ │",
        "DeltaOne 3.93 pp (393 bps) on top_class_recall: gate passed",
        "ci_low_bps > 0: 84 vs 0 ok",
        "│ 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 │ 180 │ 0.00 bps │ 0.00 bps │ 0 bps │",
        "│ 0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC │ 169 │ 393.00 bps │ 393.00 bps │ 10000 bps │",
    ],
    "make_fixtures": [
        "base.csv 4785",
        "benchmark.csv 42907",
        "contrib_alice.csv 38773",
        "benchmark.csv (200, 31) labels: {0: 73, 1: 127}",
        "base.csv (20, 31) labels: {0: 7, 1: 13}",
        "contrib_alice.csv (180, 31) labels: {0: 67, 1: 113}",
        "contrib_bob.parquet (169, 31) labels: {0: 65, 1: 104}",
        "pipeline/fixtures is up to date: 5 files reproduced byte for byte",
    ],
    "mixed_types": [
        "Features (kinds from the base data): island categorical, bill_length_mm numeric, bill_depth_mm numeric,",
        "flipper_length_mm numeric, body_mass_g numeric, sex categorical, year numeric",
        "data/contrib_alice.csv: 3 empty value(s) in column 'sex' (rows 2, 4, 5) kept: the estimator imputes them",
        "Valid: 90 of 90 rows would be used.",
        "flipper_length_mm numeric, body_mass_g numeric, sex categorical, year categorical",
        "Error: data/base.csv: column 'sex' is empty or infinite in row 27; fill or remove them.",
        "Task: multiclass (auto: 'species' holds 3 classes)",
        "│ accuracy * │ 0.9500 │ 0.9917 │ +417 bps │ [+0, +833] │",
        "│ f1 │ 0.9336 │ 0.9928 │ +592 bps │ │",
        "DeltaOne 4.17 pp (417 bps) on accuracy: gate failed",
        "ci_low_bps > 0: 0 vs 0 FAILED",
        "f1 >= 0.9: 9928 vs 9000 ok",
        "two_proportion_z (proportion, reported, not gating): one-sided p = 0.026626",
        "│ 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 │ 90 │ 208.50 bps │ 0.00 bps │ 5000 bps │",
        "│ 0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC │ 94 │ 208.50 bps │ 0.00 bps │ 5000 bps │",
    ],
    "parquet_contribution": [
        "demo/incoming/pooled.parquet: 174 rows, 33 columns",
        "│ data/contrib_alice.csv │ (no wallet) │ 180 │ 180 │ 0 │ 0 │ 0 │",
        "│ incoming/pooled.parquet │ 0x3C44…93BC │ 100 │ 100 │ 0 │ 0 │ 0 │",
        "│ incoming/pooled.parquet │ 0x90F7…b906 │ 74 │ 69 │ 5 │ 0 │ 0 │",
        "incoming/pooled.parquet: extra column(s) dropped (the model does not use them): 'exported_at'",
        "Valid: 349 of 354 rows would be used.",
        "DeltaOne 7.00 pp (700 bps) on accuracy: gate passed",
        "│ 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 │ 180 │ 191.67 bps │ 50.00 bps │ 2738 bps │",
        "│ 0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC │ 100 │ 241.67 bps │ 50.00 bps │ 3452 bps │",
        "│ 0x90F79bf6EB2c4f870365E785982E1f101E93b906 │ 69 │ 266.67 bps │ 100.00 bps │ 3810 bps │",
        "Contributors (exact_shapley); value, leave-one-out (LOO) and weight in bps",
        "│ 0x90F79bf6EB2c4f870365E785982E1f101E93b906 │ incoming/pooled.pa │ 69/74 │ 0x49ae…8d6e │ 266.67 │ 100.00 │ 3810 │",
        "Candidate: trained on 369 rows, sha256 0x…",
    ],
    "regression": [
        "Task: regression (auto: 'target' holds 46 different numbers in 50 rows, a quantity)",
        "│ r2 * │ 0.3362 │ 0.3986 │ +624 bps │ [-142, +1387] │",
        "│ rmse │ 58.5500 │ 55.7309 │ +481 bps │ │",
        "│ mae │ 48.1246 │ 44.7791 │ +695 bps │ │",
        "DeltaOne 6.24 pp (624 bps) on r2: gate failed",
        "ci_low_bps > 0: -142 vs 0 FAILED",
        "welch_t (continuous, reported, not gating): one-sided p = 0.264688",
        "│ 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 │ 120 │ 387.50 bps │ 172.00 bps │ 6210 bps │",
        "│ 0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC │ 122 │ 236.50 bps │ 21.00 bps │ 3790 bps │",
        "│ r2 * │ 0.1634 │ 0.3086 │ +1452 bps │ [+204, +2663] │",
        "DeltaOne 14.52 pp (1452 bps) on r2: gate passed",
        "│ 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 │ 120 │ 1157.00 bps │ 498.00 bps │ 7968 bps │",
        "│ 0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC │ 122 │ 295.00 bps │ -364.00 bps │ 2032 bps │",
    ],
}


def example_names() -> list[str]:
    return sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
                  and p.name not in GENERATED)


def blocks(text: str, language: str) -> list[str]:
    """The bodies of the fenced blocks of one language, in order."""
    return [body for lang, body in FENCE.findall(text) if lang == language]


def normalise(line: str) -> str:
    for pattern, placeholder in MASKS:
        line = pattern.sub(placeholder, line)
    return " ".join(line.split())


def expected_chunks(text: str) -> list[list[str]]:
    """The README's expected output as runs of consecutive lines: a line of only `…` and the
    start of every ```text block separate runs."""
    chunks: list[list[str]] = []
    for body in blocks(text, "text"):
        chunks.append([])
        for line in body.splitlines():
            if line.strip() == "…":
                chunks.append([])
            else:
                chunks[-1].append(normalise(line))
    return [c for c in chunks if c]


def line_pattern(expected: str) -> re.Pattern[str]:
    """`…` inside a line stands for any text (also none)."""
    return re.compile(".*".join(re.escape(part) for part in expected.split("…")))


def unmatched(chunks: list[list[str]], output: str) -> str | None:
    """None when every chunk matches consecutive output lines, chunks in order; else the
    first expected line that could not be placed, with what was there."""
    actual = [normalise(line) for line in output.splitlines()]
    position = 0
    for chunk in chunks:
        patterns = [line_pattern(line) for line in chunk]
        for start in range(position, len(actual) - len(chunk) + 1):
            if all(p.fullmatch(actual[start + i]) for i, p in enumerate(patterns)):
                position = start + len(chunk)
                break
        else:
            best, at = 0, position  # report how far the chunk got at its best start
            for start in range(position, len(actual)):
                n = 0
                while n < len(chunk) and start + n < len(actual) and patterns[n].fullmatch(actual[start + n]):
                    n += 1
                if n > best:
                    best, at = n, start
            got = actual[at + best] if at + best < len(actual) else "(end of output)"
            return f"expected line {chunk[best]!r} after {best} matching line(s), got {got!r}"
    return None


def run_readme(name: str, tmp_path: Path, timeout: float) -> str:
    """Run the README's ```bash blocks from a copy of examples/ in tmp_path; the combined
    stdout and stderr."""
    readme = (EXAMPLES / name / "README.md").read_text()
    workdir = WORKDIR.search(readme)
    assert workdir, f"examples/{name}/README.md: say where to run, as 'Run every command below from `examples/{name}/`'"
    shutil.copytree(EXAMPLES, tmp_path / "examples", ignore=shutil.ignore_patterns(*GENERATED))
    cwd = tmp_path / workdir.group(1)
    assert cwd.is_dir(), f"examples/{name}/README.md: no folder {workdir.group(1)}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOKUSAI_")}  # no overrides of settings
    env.setdefault("METAFLOW_USER", "hokusai-tests")
    env["COLUMNS"] = "120"  # the width the READMEs were captured at
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # this python, this hokusai
    script = "\n".join(blocks(readme, "bash"))
    process = subprocess.Popen(["bash", "-e", "-c", script], cwd=cwd, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except BaseException:  # a timeout or pytest-timeout: end the whole group (hokusai, Metaflow tasks)
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    assert process.returncode == 0, f"examples/{name}: exit {process.returncode}\n{output[-4000:]}"
    return output


# --- every folder is an example -----------------------------------------------------------

@pytest.mark.parametrize("name", example_names())
def test_every_example_has_a_readme_with_commands_output_and_key_lines(name):
    readme = EXAMPLES / name / "README.md"
    assert readme.is_file(), f"examples/{name}/ has no README.md"
    text = readme.read_text()
    assert blocks(text, "bash"), f"examples/{name}/README.md has no ```bash block"
    assert expected_chunks(text), f"examples/{name}/README.md shows no expected output (```text block)"
    assert WORKDIR.search(text), f"examples/{name}/README.md does not say where to run its commands"
    assert f"]({name}/)" in (EXAMPLES / "README.md").read_text(), f"examples/README.md does not list {name}/"
    assert name in KEY_LINES, f"add the key lines of examples/{name}/README.md to KEY_LINES"
    shown = "\n".join("\n".join(normalise(line) for line in body.splitlines()) for body in blocks(text, "text"))
    missing = [line for line in KEY_LINES[name] if normalise(line) not in shown]
    assert missing == [], f"examples/{name}/README.md no longer shows: {missing}"
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    broken = [link for link in links if "://" not in link and not (readme.parent / link).exists()]
    assert broken == [], f"examples/{name}/README.md links to missing files: {broken}"


def test_every_path_into_examples_exists():
    """README.md, docs/, pipeline/ and tests/ name example files by path: each must exist."""
    files = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *EXAMPLES.rglob("*.md"), *EXAMPLES.rglob("*.py"),
             *(ROOT / "pipeline").rglob("*.py"), *(p for p in (ROOT / "tests").rglob("*.py") if p.name != "test_examples.py")]
    missing = sorted({f"{f.relative_to(ROOT)}: {m}" for f in files
                      for m in re.findall(r"(?<![\w/.])examples/[\w./-]*\w", f.read_text(errors="replace"))
                      if not (ROOT / m).exists()})
    assert missing == []


def test_the_matcher_sees_a_changed_number_and_a_dropped_line():
    text = "```text\nDeltaOne 7.00 pp (700 bps)\nRun: HokusaiEvaluationFlow/1795792109649885\n…\nend …\n```\n"
    output = "x\nDeltaOne  7.00 pp (700 bps)\nRun: HokusaiEvaluationFlow/1111111111111111\ny\nend 3.2s\n"
    assert unmatched(expected_chunks(text), output) is None
    assert "700" in unmatched(expected_chunks(text), output.replace("700", "701"))
    assert "Run:" in unmatched(expected_chunks(text), output.replace("(700 bps)\n", "(700 bps)\nextra\n"))
    rules = "```text\n└──────┴─────┘\n```\n"
    assert unmatched(expected_chunks(rules), "└────────┴─────┘\n") is None
    assert unmatched(expected_chunks(rules), "└────────┴─────┴──┘\n") is not None


# --- the examples, run ----------------------------------------------------------------------

@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", example_names())
def test_example_runs_as_its_readme_says(name, tmp_path):
    text = (EXAMPLES / name / "README.md").read_text()
    output = run_readme(name, tmp_path, timeout=840)
    problem = unmatched(expected_chunks(text), output)
    assert problem is None, f"examples/{name}/README.md: {problem}\n--- output ---\n{output[-6000:]}"
    printed = {normalise(line) for line in output.splitlines()}
    absent = [line for line in KEY_LINES.get(name, []) if not any(line_pattern(normalise(line)).fullmatch(p) for p in printed)]
    assert absent == [], f"examples/{name}: not printed: {absent}"


# --- what the custom_metric README says about hokusai.toml ------------------------------------

def test_custom_metric_config_and_the_edit_its_readme_describes():
    """The example's hokusai.toml is valid with the metric primary, and the README's recipe for
    an init-written hokusai.toml (append the table, set the primary metric) works as written:
    init leaves the empty `custom_metrics` commented out, so the table does not clash."""
    from pipeline.config import Settings
    from pipeline.scaffold import EXAMPLES as INIT_EXAMPLES, config_text

    example = (EXAMPLES / "custom_metric" / "hokusai.toml").read_text()
    settings = Settings.model_validate(tomllib.loads(example))
    assert settings.model.primary_metric == "top_class_recall"
    assert settings.evaluation.custom_metrics["top_class_recall"].function == "custom_metric:top_class_recall"

    readme = " ".join((EXAMPLES / "custom_metric" / "README.md").read_text().split())
    written = config_text(INIT_EXAMPLES["breast-cancer"])
    assert "`# custom_metrics = {}` commented out" in readme
    assert re.search(r"^# custom_metrics = \{\}\s+#", written, re.M)
    assert not re.search(r"^custom_metrics =", written, re.M)

    table = example[example.index("[evaluation.custom_metrics.top_class_recall]"):]
    edited = re.sub(r'^primary_metric = "auto"', 'primary_metric = "top_class_recall"', written, flags=re.M) + "\n" + table
    settings = Settings.model_validate(tomllib.loads(edited))
    assert settings.model.primary_metric == "top_class_recall"
    assert list(settings.evaluation.custom_metrics) == ["top_class_recall"]
