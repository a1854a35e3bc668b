"""Splitting answer sentences into atomic claims."""

from __future__ import annotations

from agent.faithfulness.claims import split_claims


def test_mid_sentence_markers_split_claims_with_their_own_citations() -> None:
    claims = split_claims("SCAV contrasts sequences of frames [p1], while CLEF uses text labels for faces [p2].")
    assert [(c.text, c.citations) for c in claims] == [
        ("SCAV contrasts sequences of frames.", ["p1"]),
        ("CLEF uses text labels for faces.", ["p2"]),
    ]


def test_coordinated_clauses_with_new_subject_split_and_share_citations() -> None:
    claims = split_claims("Smoothie requires no labeled data, and it outperforms routing baselines by 10 points [p3].")
    assert [c.text for c in claims] == [
        "Smoothie requires no labeled data.",
        "It outperforms routing baselines by 10 points.",
    ]
    assert all(c.citations == ["p3"] for c in claims)


def test_semicolons_and_contrast_split() -> None:
    texts = [c.text for c in split_claims("LatentLM needs 10x fewer steps; it also unifies generation and understanding [p5].")]
    assert texts == ["LatentLM needs 10x fewer steps.", "It also unifies generation and understanding."]
    texts = [c.text for c in split_claims("ICV beats in-context learning on many tasks, but it is slower than fine-tuning [p1].")]
    assert len(texts) == 2


def test_lists_and_short_fragments_are_not_split() -> None:
    s = "VIS is applied to mixture models, variational auto-encoders, and partially observable models [p4]."
    assert [c.text for c in split_claims(s)] == [
        "VIS is applied to mixture models, variational auto-encoders, and partially observable models."
    ]
    assert len(split_claims("It works well, and fast [p1].")) == 1


def test_sentence_without_markers_and_marker_only_sentence() -> None:
    claims = split_claims("Several papers study routing.")
    assert len(claims) == 1 and claims[0].citations == []
    claims = split_claims("It works. [p1][p2]", sentence_index=4)
    assert claims[0].citations == ["p1", "p2"] and claims[0].sentence_index == 4


def test_abbreviations_and_decimals_do_not_split_claims() -> None:
    claims = split_claims("Contrastive methods (e.g., SimCLR, MoCo) reach 4.6% higher accuracy [p1].")
    assert [(c.text, c.citations) for c in claims] == [
        ("Contrastive methods (e.g., SimCLR, MoCo) reach 4.6% higher accuracy.", ["p1"])
    ]
    claims = split_claims("Smith et al. report 3.5x faster training on 1.2M images, and they release the training code publicly [p2].")
    assert [c.text for c in claims] == [
        "Smith et al. report 3.5x faster training on 1.2M images.",
        "They release the training code publicly.",
    ]
    claims = split_claims("VIS gains 1.2 nats (i.e., a tighter bound) [p1], while IWAE uses 5 samples per input [p2].")
    assert [(c.text, c.citations) for c in claims] == [
        ("VIS gains 1.2 nats (i.e., a tighter bound).", ["p1"]),
        ("IWAE uses 5 samples per input.", ["p2"]),
    ]
