"""Sentence splitting, citation markers and marker stripping (agent.sentences)."""

from __future__ import annotations

import pytest

from agent.sentences import cited_sentences, marker_ids, split_sentences, strip_markers


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "Prior work (e.g., SimCLR) uses pairs, i.e. views. It works.",
            ["Prior work (e.g., SimCLR) uses pairs, i.e. views.", "It works."],
        ),
        (
            "Zimmermann et al. (2021) show this. Smith et al. found it too. Next one.",
            ["Zimmermann et al. (2021) show this.", "Smith et al. found it too.", "Next one."],
        ),
        (
            "The model reaches 4.6% vs. 3.2% for the baseline. See Fig. 3 for details.",
            ["The model reaches 4.6% vs. 3.2% for the baseline.", "See Fig. 3 for details."],
        ),
        (
            "It was tested in the U.S. Food and Drug Administration trial. It passed.",
            ["It was tested in the U.S. Food and Drug Administration trial.", "It passed."],
        ),
        ("A. madagascariensis makes holes. They grow.", ["A. madagascariensis makes holes.", "They grow."]),
        ("The answer is no. The rest is yes! Really? Yes.", ["The answer is no.", "The rest is yes!", "Really?", "Yes."]),
        ("It took approx. 300 steps. Done.", ["It took approx. 300 steps.", "Done."]),
        ("Gains were 2.5x. Costs fell by .5 points.", ["Gains were 2.5x.", "Costs fell by .5 points."]),
        ("Classes (cats, dogs, etc.) are used. Then more.", ["Classes (cats, dogs, etc.) are used.", "Then more."]),
        ("We used 3 datasets etc. The end.", ["We used 3 datasets etc.", "The end."]),
        ("", []),
        ("   \n ", []),
        ("No final period", ["No final period"]),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_numbered_and_bulleted_lists() -> None:
    text = "The method has steps:\n1. Collect data.\n2. Train the model.\n- a bullet\n* another bullet"
    assert split_sentences(text) == [
        "The method has steps:",
        "1. Collect data.",
        "2. Train the model.",
        "- a bullet",
        "* another bullet",
    ]


def test_inline_numbered_items_do_not_become_sentences() -> None:
    out = split_sentences("It has two steps. 1. Collect data. 2. Train it.")
    assert out == ["It has two steps.", "1. Collect data.", "2. Train it."]
    assert "1." not in out and "2." not in out


def test_markers_after_the_period_stay_with_their_sentence() -> None:
    text = "X improves recall. [p1][p2] Y reduces cost [p3]. Z is fast.[p4] W is slow. [p5, p6]"
    assert split_sentences(text) == [
        "X improves recall. [p1][p2]",
        "Y reduces cost [p3].",
        "Z is fast.[p4]",
        "W is slow. [p5, p6]",
    ]


def test_markers_on_their_own_line_join_the_previous_sentence() -> None:
    assert split_sentences("X improves recall.\n\n[p1]") == ["X improves recall. [p1]"]


def test_cited_sentences_ids_in_order_without_repeats() -> None:
    answer = "A does B [p04eba747, p2]. C does D.[p3][p1] E does F [p3] and G [p3]. No cite here."
    out = cited_sentences(answer)
    assert [s.citations for s in out] == [["p04eba747", "p2"], ["p3", "p1"], ["p3"], []]
    assert out[0].text == "A does B [p04eba747, p2]."  # markers kept in text
    assert all(s.supported is None for s in out)


def test_marker_ids_accepts_the_documented_id_alphabet() -> None:
    assert marker_ids("x [arXiv:2101.0001] y [a_b-c.d] z [p1; p2]") == ["arXiv:2101.0001", "a_b-c.d", "p1", "p2"]
    assert marker_ids("no markers [not an id] here") == []


def test_strip_markers() -> None:
    assert strip_markers("A does B [p1, p2]. C [x] does D [p3][p4].") == "A does B. C does D."
    # a verbatim quote keeps its own brackets, which cite nothing
    quoted = "“It uses the [CLS] token and [1-8] as shown.” [p1] Then [p2]."
    assert strip_markers(quoted) == "“It uses the [CLS] token and [1-8] as shown.” Then."
    assert marker_ids(quoted) == ["p1", "p2"]
    assert strip_markers("Nothing to strip.") == "Nothing to strip."


def test_a_stop_after_citation_markers_ends_the_sentence_before_a_lowercase_name() -> None:
    text = "It learns phonemes without supervision [pd60436d8]. cpl-mixVAE uses a consensus constraint [pff515039]."
    assert split_sentences(text) == [
        "It learns phonemes without supervision [pd60436d8].",
        "cpl-mixVAE uses a consensus constraint [pff515039].",
    ]
    # without a marker before the stop, a lowercase word still continues the sentence (abbreviation-like)
    assert len(split_sentences("It uses approx. three views [p1].")) == 1
