"""The learned claim verifier: shipped weights load only when their SHA-256 matches, and it tells
supported from unsupported claims of each error kind on small hand-checked pairs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agent.faithfulness.checker import FaithfulnessChecker
from agent.faithfulness.verifier import PACKAGED_DIR, Verifier, VerifierError, get_verifier, read_manifest
from agent.settings import Settings


@pytest.fixture(scope="module")
def verifier() -> Verifier:
    return get_verifier(None)


def test_packaged_manifest_names_model_data_and_checksums() -> None:
    info = read_manifest(PACKAGED_DIR)
    assert info.name and info.version.startswith("verifier-")
    assert 0 < info.threshold < 1 and info.max_length >= 64
    assert set(info.sha256) == {"model.onnx", "tokenizer.json"}
    assert (PACKAGED_DIR / "model.onnx").stat().st_size < 50 * 2**20


def test_missing_weights_file_is_a_clear_error(tmp_path: Path) -> None:
    copy = tmp_path / "v"
    shutil.copytree(PACKAGED_DIR, copy)
    (copy / "model.onnx").unlink()
    with pytest.raises(VerifierError, match="missing.*model.onnx"):
        Verifier(copy)
    with pytest.raises(VerifierError, match="not found"):
        Verifier(tmp_path / "nowhere")


def test_corrupt_weights_are_refused(tmp_path: Path) -> None:
    copy = tmp_path / "v"
    shutil.copytree(PACKAGED_DIR, copy)
    data = bytearray((copy / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(VerifierError, match="corrupt"):
        Verifier(copy)


EVIDENCE = (
    "We evaluate on 12 of 16 benchmark tasks. Our model reaches 91.2% top-1 accuracy on ImageNet, "
    "13x faster than the baseline, while the baseline is 10x smaller. The method does not require labelled data."
)


def verifier_checker() -> FaithfulnessChecker:
    return FaithfulnessChecker(Settings().with_overrides(**{"faithfulness.engine": "verifier"}))


def test_scores_are_probabilities_in_input_order(verifier: Verifier) -> None:
    pairs = [(EVIDENCE, "The model reaches 91.2% top-1 accuracy on ImageNet."), ("", "x"), (EVIDENCE, "Cats purr.")]
    probs = verifier.score(pairs)
    assert probs.shape == (3,) and ((probs >= 0) & (probs <= 1)).all()
    # batching and sorting keep the order (int8 dynamic quantization scales per batch: equal up to ~0.01)
    assert probs[0] == pytest.approx(verifier.score(pairs[:1])[0], abs=0.02)
    assert verifier.score([]).shape == (0,)


def test_verifier_engine_keeps_the_sentence_shape_and_its_reasons() -> None:
    result = verifier_checker().check(
        "The model reaches 91.2% top-1 accuracy on ImageNet [p1]. Protein folding depends on contact order [p1].",
        {"p1": ("A fast image model", EVIDENCE)},
    )
    assert len(result.sentences) == 2
    for s in result.sentences:
        assert s.score is not None and 0 <= s.score <= 1 and s.reason and s.evidence is not None
        assert ("verifier" in s.reason) or not s.supported


def test_number_absent_from_evidence_stays_a_deterministic_flag() -> None:
    result = verifier_checker().check(
        "The model reaches 95.0% top-1 accuracy on ImageNet [p1].", {"p1": ("A fast image model", EVIDENCE)}
    )
    assert not result.sentences[0].supported and "number" in result.sentences[0].reason
