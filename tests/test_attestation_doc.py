"""docs/attestation.md cannot drift from the code: its worked example is run for real.

The ```bash blocks between `<!-- worked-example: begin -->` and `<!-- worked-example: end -->`
run, in order and in one shell (as a reader types them), in a folder that holds the session's
demo dry-runs (`demo_runs`); each block's output must be the ```text block after it. The
values that depend on the run id (the message's pipelineRunId, hence the digest, hashStruct
and signatures) are mapped from this session's run to the run quoted in the doc, each pair
computed by hokusai's own code, so the doc's digest is checked as well. The type strings,
type hashes, domain separators and refusal sentences the page quotes are checked against the
code."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import invoke
from tests.runs.test_flow import DEMO_ATTESTATION_HASH

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "attestation.md"
SEPARATOR = "@@@ end of block @@@"
#: The signing keys of the worked example: Hardhat's published test keys #2 and #1.
KEYS = ("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
        "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
DEADLINE = "4102444800"


def between(text: str, name: str) -> str:
    """The part of the page between `<!-- name: begin -->` and `<!-- name: end -->`."""
    match = re.search(rf"<!-- {name}: begin -->\n(.*?)<!-- {name}: end -->", text, re.S)
    assert match, f"docs/attestation.md has no `<!-- {name}: begin/end -->` section"
    return match.group(1)


def fenced(text: str) -> list[tuple[str, str]]:
    """Every fenced block of `text` as (info string, body)."""
    return re.findall(r"^```(\w*)\n(.*?)^```$", text, re.S | re.M)


def block_after(text: str, marker: str) -> str:
    """The body of the first fenced block after an HTML comment marker."""
    return fenced(text.split(f"<!-- {marker} -->", 1)[1])[0][1]


def commands_and_outputs(example: str) -> list[tuple[str, str]]:
    """Each ```bash block with the ```text block that follows it (its expected output)."""
    blocks = [(info, body) for info, body in fenced(example) if info in ("bash", "text")]
    pairs = []
    for (info, body), (next_info, next_body) in zip(blocks, blocks[1:]):
        if info == "bash":
            assert next_info == "text", f"a ```bash block of the worked example has no ```text output:\n{body}"
            pairs.append((body, next_body))
    assert len(pairs) == sum(info == "bash" for info, _ in blocks)
    return pairs


def doc_run() -> str:
    """The run the doc quotes (its dry-run output: `Run: HokusaiEvaluationFlow/… (dry-run)`)."""
    match = re.search(r"^Run: (HokusaiEvaluationFlow/\d+) \(dry-run\)$", DOC.read_text(), re.M)
    assert match, "docs/attestation.md quotes no `Run: HokusaiEvaluationFlow/<id> (dry-run)` line"
    return match.group(1)


def run_dependent(typed: dict, run: str) -> list[tuple[str, str]]:
    """(this session's value, the doc's value) of everything that depends on pipelineRunId:
    the run, the digest, hashStruct and the example's signatures, by hokusai's own code."""
    from pipeline.attest.eip712 import digest, sign, struct_hash

    ours = copy.deepcopy(typed)
    ours["message"]["payload"]["pipelineRunId"] = run
    functions = [digest, struct_hash, *(lambda t, key=key: sign(t, key) for key in KEYS)]
    return [(typed["message"]["payload"]["pipelineRunId"], run), *((f(typed), f(ours)) for f in functions)]


def shell_env() -> dict[str, str]:
    """A reader's shell: no Metaflow or hokusai variable left by the in-process CLI, this
    interpreter's `python` and `hokusai` first on PATH, a fixed width, $REPO the repository."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("METAFLOW_", "HOKUSAI_"))}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}", COLUMNS="120",
               REPO=str(ROOT), METAFLOW_USER="hokusai-tests")
    return env


@pytest.fixture(scope="module")
def attestation(demo_runs):
    """`hokusai attest` of the session's first demo run with the example's deadline."""
    result = invoke("attest", demo_runs["first"]["run_id"], "--project", str(demo_runs["project"]),
                    "--deadline", DEADLINE)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.timeout(600)
def test_the_worked_example_prints_what_the_doc_shows(demo_runs, tmp_path):
    missing = [tool for tool in ("bash", "jq", "sha256sum") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"the worked example needs {', '.join(missing)} on PATH")
    example = between(DOC.read_text(), "worked-example")
    pairs = commands_and_outputs(example)
    assert pairs[0][0].strip() == f"hokusai attest --deadline {DEADLINE} > attestation.json"
    demo = tmp_path / "demo"  # the reader's `demo` folder: the session's demo runs, read in place
    demo.mkdir()
    for name in (".metaflow", ".hokusai"):
        (demo / name).symlink_to(Path(demo_runs["project"]) / name, target_is_directory=True)
    script = "".join(f"{command}echo '{SEPARATOR}'\n" for command, _ in pairs)

    done = subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=demo, env=shell_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=540)

    assert done.returncode == 0, done.stdout[-4000:]
    outputs = done.stdout.split(f"{SEPARATOR}\n")
    assert outputs[-1] == "" and len(outputs) == len(pairs) + 1, done.stdout[-4000:]
    real = json.loads((demo / "attestation.json").read_text())
    from pipeline.attest.eip712 import digest

    assert real["attestationHash"] == DEMO_ATTESTATION_HASH
    assert real["digest"] == digest(real["typedData"])
    replacements = run_dependent(real["typedData"], doc_run())
    for (command, expected), output in zip(pairs, outputs):
        for mine, quoted in replacements:
            output = output.replace(mine, quoted)
        assert output.splitlines() == expected.splitlines(), f"docs/attestation.md, the output of:\n{command}"


def test_the_quoted_hashes_are_the_pinned_demo_hash():
    example = between(DOC.read_text(), "worked-example")
    quoted = set(re.findall(r"Attestation (0x[0-9a-f]{64}) digest", example))
    quoted |= set(re.findall(r"^Attestation hash: (0x[0-9a-f]{64})$", DOC.read_text(), re.M))
    assert quoted == {DEMO_ATTESTATION_HASH}


@pytest.mark.timeout(600)
def test_the_dry_run_output_quoted_is_what_dry_run_prints(demo_runs):
    text = DOC.read_text()
    excerpt = fenced(text.split("hokusai dry-run\n```", 1)[1])[0][1]
    printed = [line.rstrip() for line in demo_runs["stderr"].splitlines()]
    run = f"HokusaiEvaluationFlow/{demo_runs['first']['run_id']}"
    missing = [line for line in excerpt.replace(doc_run(), run).splitlines() if line not in printed]
    assert missing == [], "\n".join(printed[-20:])


@pytest.mark.timeout(600)
def test_the_evidence_excerpt_is_the_evidence_with_lines_left_out(attestation):
    text = DOC.read_text()
    excerpt = block_after(text, "evidence-excerpt").splitlines()
    lines = json.dumps(attestation["evidence"], indent=2).splitlines()
    position = 0
    for line in excerpt:  # in order: a subsequence of the real lines, `…` standing for any number
        if line.strip() == "…":
            continue
        assert line in lines[position:], f"evidence excerpt line not found (in order): {line!r}"
        position = lines.index(line, position) + 1


def encode_type(name: str) -> str:
    from pipeline.attest.eip712 import MINT_REQUEST_TYPES as types

    def referenced(struct: str, found: set[str]) -> set[str]:
        for field in types[struct]:
            kind = field["type"].removesuffix("[]")
            if kind in types and kind not in found:
                found.add(kind)
                referenced(kind, found)
        return found

    def one(struct: str) -> str:
        return struct + "(" + ",".join(f"{f['type']} {f['name']}" for f in types[struct]) + ")"

    return one(name) + "".join(one(n) for n in sorted(referenced(name, set()) - {name}))


def test_the_type_strings_and_type_hashes_are_the_code_s():
    from eth_utils import keccak

    from pipeline.attest.eip712 import MINT_REQUEST_TYPES

    text = DOC.read_text()
    assert block_after(text, "type-strings").splitlines() == [encode_type(n) for n in MINT_REQUEST_TYPES]
    rows = re.findall(r"^\| `(\w+)` \| `(0x[0-9a-f]{64})` \|$", text.split("<!-- type-hashes -->")[1], re.M)
    assert dict(rows) == {n: "0x" + keccak(text=encode_type(n)).hex() for n in MINT_REQUEST_TYPES}


def test_the_domain_separators_are_the_networks():
    from eth_account.messages import encode_typed_data

    from pipeline.attest.eip712 import build_typed_data
    from pipeline.attest.networks import NETWORKS

    table = DOC.read_text().split("<!-- domain-separators -->")[1].split("\n\n")[0]
    rows = re.findall(r"^\| `(\w+)` \| (\d+) \| `(0x[0-9a-fA-F]{40})` \| `(0x[0-9a-f]{64})` \|$", table, re.M)
    message = json.loads((ROOT / "tests" / "vectors" / "deltaverifier-mint-request.json").read_text())["message"]
    expected = []
    for net in NETWORKS.values():
        typed = build_typed_data(chain_id=net.chain_id, verifying_contract=net.verifying_contract, message=message)
        separator = "0x" + encode_typed_data(full_message=typed).header.hex()
        expected.append((net.name, str(net.chain_id), net.verifying_contract, separator))
    assert rows == expected


def joined_source() -> str:
    """The package's source with implicitly concatenated string literals joined (as in
    tests/test_docs.py)."""
    text = "\n".join(p.read_text() for d in ("pipeline", "hokusai_cli") for p in (ROOT / d).rglob("*.py"))
    return re.sub(r"""["']\s*\n\s*(?:\+\s*)?[rfb]*["']""", "", text)


def test_every_refusal_sentence_quoted_is_in_the_code():
    section = between(DOC.read_text(), "refusals")
    sentences = [double or single for double, single in re.findall(r"``(.+?)``|`([^`]+)`", section)]
    sentences = [s for s in sentences if " " in s and s.rstrip().endswith(".")]
    assert len(sentences) >= 25
    source = joined_source()
    missing = [(sentence, part) for sentence in sentences for part in re.split(r"<[^<>]*>", sentence)
               if part.strip() and part not in source]
    assert missing == []
