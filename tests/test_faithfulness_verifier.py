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

# (claim, supported?) — each unsupported claim carries one error of a different kind.
PAIRS = [
    ("The model reaches 91.2% top-1 accuracy on ImageNet.", True),
    ("The method works without labelled data.", True),
    ("The method requires labelled data.", False),  # negation
    ("The model is evaluated on all 16 benchmark tasks.", False),  # quantifier escalation
    ("The model is 10x faster than the baseline.", False),  # numbers bound to the wrong thing
    ("The model reaches 91.2% accuracy because it uses a transformer encoder.", False),  # unsupported cause
    ("Protein folding rates depend on contact order in small proteins.", False),  # another paper's finding
]


def test_verifier_separates_hand_checked_pairs(verifier: Verifier) -> None:
    probs = verifier.score([(EVIDENCE, claim) for claim, _ in PAIRS])
    got = {claim: bool(p >= verifier.threshold) for (claim, _), p in zip(PAIRS, probs)}
    wrong = [c for c, ok in PAIRS if got[c] != ok]
    assert len(wrong) <= 1, f"verifier disagrees with the hand labels on {wrong}"
    assert probs[0] > probs[-1]


def test_checker_uses_the_verifier_by_default_and_flags_the_wrong_sentence() -> None:
    checker = FaithfulnessChecker(Settings())
    assert checker.config.engine == "verifier"
    answer = (
        "The model reaches 91.2% top-1 accuracy on ImageNet [p1]. "
        "It was evaluated on all 16 benchmark tasks [p1]."
    )
    result = checker.check(answer, {"p1": ("A fast image model", EVIDENCE)})
    assert [s.supported for s in result.sentences] == [True, False]
    assert result.verdict.verdict == "unfaithful"
    assert "verifier" in result.sentences[0].reason
    assert result.sentences[1].evidence is not None


def test_number_absent_from_evidence_stays_a_deterministic_flag() -> None:
    checker = FaithfulnessChecker(Settings())
    result = checker.check("The model reaches 95.0% top-1 accuracy on ImageNet [p1].", {"p1": ("A fast image model", EVIDENCE)})
    assert not result.sentences[0].supported and "number" in result.sentences[0].reason
