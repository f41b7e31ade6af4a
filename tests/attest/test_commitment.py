"""`mlflow-merkle-v1` (issue 24, item 6): upstream's `sha256-merkle-v1` over an MLflow model
folder, checked on a fixed folder against a root computed here step by step, and pinned."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from pipeline.attest.commitment import folder_commitment, merkle_root
from pipeline.errors import InputError


def h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@pytest.fixture
def model_folder(tmp_path: Path) -> Path:
    """Five committed files (one in a subfolder, one non-ASCII name) and four left out."""
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "metadata").mkdir()
    files = {"model.skops": b"weights", "conda.yaml": b"name: env\n", "requirements.txt": b"scikit-learn==1.9.1",
             "sub/x.bin": bytes(range(256)), "\u00e9t\u00e9.txt": b"summer"}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / "MLmodel").write_text("run_id: changes every save\n")
    (folder / "metadata" / "MLmodel").write_text("copy\n")
    (folder / "sub" / "registered_model_meta").write_text("name: m\n")
    os.symlink(folder / "model.skops", folder / "link.skops")
    return folder


def test_the_root_is_upstreams_rule_computed_step_by_step(model_folder):
    # leaves in the byte order of their POSIX paths: "conda.yaml" < "model.skops" < "requirements.txt"
    # < "sub/x.bin" < "été.txt" (0xc3 sorts after every ASCII byte)
    leaves = [h(b"name: env\n"), h(b"weights"), h(b"scikit-learn==1.9.1"), h(bytes(range(256))), h(b"summer")]
    level1 = [h(leaves[0] + leaves[1]), h(leaves[2] + leaves[3]), h(leaves[4] + leaves[4])]  # odd: last paired with itself
    level2 = [h(level1[0] + level1[1]), h(level1[2] + level1[2])]
    expected = "0x" + h(level2[0] + level2[1]).hex()

    found = folder_commitment(model_folder)
    assert found.root == expected == "0xa3550cb27f104196b3e2a73e05544b9a4b7c54fdb0a805f4e70007894f2571f9"
    assert [f[0] for f in found.files] == ["conda.yaml", "model.skops", "requirements.txt", "sub/x.bin", "\u00e9t\u00e9.txt"]
    assert found.excluded == ("MLmodel", "link.skops", "metadata/MLmodel", "sub/registered_model_meta")


def test_volatile_files_do_not_move_the_root_and_content_does(model_folder):
    before = folder_commitment(model_folder).root
    (model_folder / "MLmodel").write_text("run_id: another save\n")
    assert folder_commitment(model_folder).root == before
    (model_folder / "model.skops").write_bytes(b"weightz")
    assert folder_commitment(model_folder).root != before


def test_a_single_file_is_its_own_root_and_an_empty_folder_is_refused(tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "model.skops").write_bytes(b"weights")
    assert folder_commitment(tmp_path / "one").root == "0x" + h(b"weights").hex()
    assert merkle_root([h(b"a")]) == h(b"a")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "MLmodel").write_text("x")
    with pytest.raises(InputError) as error:
        folder_commitment(tmp_path / "empty")
    assert str(error.value) == (f"{tmp_path / 'empty'} holds no file to commit (MLmodel and metadata/ are left out); "
                                "give the folder of a saved MLflow model.")
