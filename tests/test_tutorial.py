"""docs/tutorial.md cannot rot: its ```bash blocks are run, in order, as one `bash -e` script in
an empty folder (with HOME and the temporary folder inside it), and what it shows must be what
they print.

- Every line of a ```text block must appear in the output of the ```bash block before it, after
  normalising what changes from run to run (run ids, clock times, durations, MLflow ids, unix
  times, table padding); a `…` in the tutorial stands for anything (trimmed output).
- Every `N bps`, `N pp` and decimal number in the prose appears in some output.
- The story holds, read from `hokusai runs --json` / `hokusai inspect --json`: the helpful run
  passes the gate with the DeltaOne the tutorial quotes; the run with the shuffled file fails
  it, and the shuffled file's contributor is attributed less than the helpful one (weight 0);
  the attestation signs the helpful run.

To refresh the tutorial after a deliberate change, read each block's real output in
block-N.txt of the folder a failure names, or of HOKUSAI_TUTORIAL_OUTPUT=DIR when set.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ALICE

pytestmark = pytest.mark.timeout(900)

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "tutorial.md"
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
MARK = "@@tutorial-block"
WIDTH = "120"  # the terminal width the tutorial's outputs were captured at

#: What differs between two runs of the same tutorial, each replaced by a placeholder on both
#: sides before comparing (order matters: dates before clock times, ids before numbers).
VOLATILE = [
    (re.compile(r"(?<!\d)\d{4}-\d\d-\d\d(?!\d)"), "<date>"),  # also inside 2026-12-04T15:08:44Z
    (re.compile(r"(?<!\d)\d\d:\d\d(:\d\d(\.\d+)?)?(?!\d)"), "<time>"),
    (re.compile(r"(?<!\d)\d{16}(?!\d)"), "<run-id>"),  # Metaflow run ids
    (re.compile(r"\b[0-9a-f]{32}\b"), "<mlflow-id>"),
    (re.compile(r"(?<!\d)1\d{9}(?!\d)"), "<unix>"),  # deadlines and "now" in verify
    (re.compile(r"(?<![\w.])\d+m\d\ds\b"), "<secs>"),  # a duration of a minute or more (a loaded machine)
    (re.compile(r"(?<![\w.])-?\d+(\.\d+)?s\b"), "<secs>"),  # step and run durations
    (re.compile(r"[━─═]+"), "─"),  # table rules: their length follows the columns' width
    (re.compile(r"\s+"), " "),
]


def blocks(text: str) -> list[tuple[str, str]]:
    """The fenced blocks of a Markdown text: (language, body), in order."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(text)]


def prose(text: str) -> str:
    return FENCE.sub("", text)


def normalise(line: str) -> str:
    for pattern, placeholder in VOLATILE:
        line = pattern.sub(placeholder, line)
    return line.strip()


def expected_pattern(line: str) -> re.Pattern:
    """A ```text line as a pattern: normalised, `…` matching anything (spaces around it included:
    a trimmed line may end where rich wrapped it)."""
    parts = [re.escape(part.strip()) for part in normalise(line).split("…")]
    return re.compile(r"\s*.*\s*".join(parts))


def script(codes: list[str]) -> str:
    """One bash script: the blocks in order, each after a marker line, then the final folder."""
    lines = ["exec 2>&1"]
    for i, code in enumerate(codes):
        lines += [f"printf '\\n{MARK} {i}@@\\n'", code.rstrip("\n")]
    lines.append(f"printf '\\n{MARK} end@@ %s\\n' \"$PWD\"")
    return "\n".join(lines) + "\n"


def split_outputs(output: str, count: int) -> tuple[list[str], Path]:
    """Each block's output, and the folder the script ended in."""
    pieces = re.split(rf"^{MARK} (\d+|end)@@ ?(.*)$", output, flags=re.M)
    outputs, final = {}, None
    for label, extra, body in zip(pieces[1::3], pieces[2::3], pieces[3::3]):
        if label == "end":
            final = Path(extra.strip())
        else:
            outputs[int(label)] = body
    assert sorted(outputs) == list(range(count)) and final is not None, output[-3000:]
    return [outputs[i] for i in range(count)], final


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory):
    """Run the tutorial's bash blocks; return its text, blocks, each bash block's output and the
    folder the script ended in."""
    text = TUTORIAL.read_text()
    found = blocks(text)
    codes = [body for lang, body in found if lang == "bash"]
    assert codes, "docs/tutorial.md has no ```bash block to run"
    work = tmp_path_factory.mktemp("tutorial")
    (work / "home").mkdir()
    (work / "tmp").mkdir()
    (work / "tutorial").mkdir()
    bindir = str(Path(sys.executable).parent)  # `hokusai` and `python` of this interpreter
    env = {**os.environ, "HOME": str(work / "home"), "TMPDIR": str(work / "tmp"), "COLUMNS": WIDTH,
           "PATH": bindir + os.pathsep + os.environ.get("PATH", ""), "PYTHONUNBUFFERED": "1"}
    for name in list(env):
        if name.startswith("HOKUSAI_"):  # settings from the caller's environment would change the results
            del env[name]
    (work / "tutorial.sh").write_text(script(codes))
    done = subprocess.run(["bash", "-e", str(work / "tutorial.sh")], cwd=work / "tutorial", env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=840)
    dump = Path(os.environ.get("HOKUSAI_TUTORIAL_OUTPUT") or work / "outputs")
    dump.mkdir(parents=True, exist_ok=True)
    (dump / "all.txt").write_text(done.stdout)
    assert done.returncode == 0, f"the tutorial's script failed (exit {done.returncode}):\n{done.stdout[-6000:]}"
    outputs, final = split_outputs(done.stdout, len(codes))
    for i, out in enumerate(outputs):
        (dump / f"block-{i}.txt").write_text(f"$ {codes[i]}\n{out}")
    return {"text": text, "blocks": found, "outputs": outputs, "folder": final, "env": env, "dump": dump}


def hokusai_json(tutorial, *args: str) -> dict:
    done = subprocess.run(["hokusai", *args, "--json"], cwd=tutorial["folder"], env=tutorial["env"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_the_tutorial_has_commands_and_outputs():
    kinds = [lang for lang, _ in blocks(TUTORIAL.read_text())]
    assert kinds.count("bash") > 0, "docs/tutorial.md has no ```bash block to run"
    assert kinds.count("text") > 0, "docs/tutorial.md shows no ```text output"
    assert set(kinds) <= {"bash", "text", "toml"}, f"use ```bash for commands, ```text for outputs: {kinds}"


def test_the_finder_sees_bash_and_text_blocks():
    text = "a\n```bash\nhokusai init x\n```\nb\n```text\nout\n```\n```toml\nk = 1\n```\n"
    assert blocks(text) == [("bash", "hokusai init x\n"), ("text", "out\n"), ("toml", "k = 1\n")]
    assert prose(text).split() == ["a", "b"]
    assert expected_pattern("│ 1795791585951400 │ done │ 3.1s │ … │").fullmatch(
        normalise("│ 1795799999999999 │  done │ 11.4s │ anything │"))


def test_every_shown_output_is_what_the_commands_print(tutorial):
    stale = []
    last_bash = None
    for lang, body in tutorial["blocks"]:
        if lang == "bash":
            last_bash = 0 if last_bash is None else last_bash + 1
            continue
        if lang != "text":
            continue
        assert last_bash is not None, "a ```text block comes before any ```bash block"
        actual = [normalise(line) for line in tutorial["outputs"][last_bash].splitlines()]
        for line in body.splitlines():
            if line.strip() in ("", "…"):
                continue
            pattern = expected_pattern(line)
            if not any(pattern.fullmatch(got) for got in actual):
                stale.append(f"bash block {last_bash}: {line.strip()}")
    assert stale == [], (f"docs/tutorial.md shows lines its commands no longer print (real outputs: "
                         f"{tutorial['dump']}/block-N.txt):\n" + "\n".join(stale))


def test_numbers_in_the_prose_are_in_the_outputs(tutorial):
    """`+714 bps`, `7.14 pp` and decimals like `0.8857` or `2571.50` in the prose were printed."""
    everything = normalise("\n".join(tutorial["outputs"]))
    text = prose(tutorial["text"])
    quoted = [f"{n} {u}" for n, u in re.findall(r"(?<![\w.+-])([+-]?\d+(?:\.\d+)?) (bps|pp)\b", text)]
    quoted += re.findall(r"(?<![\w.])[+-]?\d+\.\d+(?![\d.]| ?(?:bps|pp)\b)", text)
    assert quoted, "the tutorial quotes no DeltaOne, score or value"
    missing = [q for q in quoted if not re.search(rf"(?<![\w.]){re.escape(q)}(?![\d.])", everything)]
    assert missing == [], f"numbers in docs/tutorial.md's prose that no command printed: {missing}"


def test_the_gate_and_the_attribution_reveal_the_shuffled_file(tutorial):
    text = tutorial["text"]
    shuffled_wallet = re.search(r"data/contrib_shuffled\.csv:(0x[0-9a-fA-F]{40})", text).group(1)
    assert f"data/contrib_alice.csv:{ALICE}" in text
    runs = hokusai_json(tutorial, "runs")["runs"]
    assert [(r["status"], r["dry_run"]) for r in runs] == [("successful", False)] * 2
    shuffled, helpful = (hokusai_json(tutorial, "inspect", r["run_id"]) for r in runs)  # newest first
    assert helpful["contrib_files"] == [f"data/contrib_alice.csv:{ALICE}"]

    # The helpful run: the DeltaOne and CI the tutorial quotes, and the gate passed.
    verdict = helpful["verdict"]
    assert verdict["passed"] is True and verdict["deltaone_bps"] >= 100
    quoted = re.search(r"DeltaOne ([\d.]+) pp \((\d+) bps\) on accuracy, CI \[\+(\d+), \+(\d+)\] bps: gate passed",
                       text)
    assert quoted, "the tutorial no longer shows the helpful run's verdict line"
    assert (quoted.group(1), int(quoted.group(2))) == (verdict["deltaone_pp"], verdict["deltaone_bps"])
    assert (int(quoted.group(3)), int(quoted.group(4))) == (verdict["ci"]["low_bps"], verdict["ci"]["high_bps"])
    assert [(c["wallet"], c["weight_bps"]) for c in helpful["contributors"]] == [(ALICE, 10000)]

    # With the shuffled file: the gate fails and attribution gives the shuffled file nothing.
    verdict = shuffled["verdict"]
    assert verdict["passed"] is False and verdict["weight_method"] == "exact_shapley"
    pp, bps = re.escape(verdict["deltaone_pp"]), verdict["deltaone_bps"]
    shown = rf"DeltaOne {pp} pp \({bps} bps\) on accuracy[^\n]*gate failed"
    assert re.search(shown, text), "the tutorial does not quote the shuffled run's verdict"
    failed = {g["name"] for g in verdict["gate"] if not g["passed"]}
    assert "delta_bps" in failed
    by_wallet = {c["wallet"]: c for c in shuffled["contributors"]}
    assert set(by_wallet) == {ALICE, shuffled_wallet}
    alice, garbage = by_wallet[ALICE], by_wallet[shuffled_wallet]
    assert float(garbage["value_bps"]) < 0 < float(alice["value_bps"])
    assert (alice["weight_bps"], garbage["weight_bps"]) == (10000, 0)
    for who in (alice, garbage):
        assert f"{who['value_bps']} bps" in text, f"the tutorial does not quote the value {who['value_bps']} bps"

    # The attestation signs the helpful run, once, and verifies.
    attestation = json.loads((tutorial["folder"] / "attestation.json").read_text())
    assert attestation["attestationHash"] == helpful["attestation_hash"]
    assert attestation["attestationHash"] in text
    assert len(attestation["signatures"]) == 1
    assert attestation["typedData"]["message"]["payload"]["pipelineRunId"] == helpful["pathspec"]
