"""Comparisons: which questions are comparisons, what their sides are, and which paper each side is."""

from __future__ import annotations

import pytest

from agent.chain.classify import asks_about_several, compare_sides, plan_question
from agent.retrieval.names import NameIndex, spells_out
from agent.retrieval.sides import context_query, resolve_sides
from agent.types import Paper


def _paper(pid: str, title: str, abstract: str = "We study things.") -> Paper:
    return Paper(id=pid, title=title, abstract=abstract)


@pytest.fixture
def names() -> NameIndex:
    return NameIndex(
        [
            _paper("a", "COSMO: Contrastive Streamlined Multimodal Model"),
            _paper("b", "X-Former: Unifying Contrastive and Reconstruction Learning"),
            _paper("c", "Learning Things", "We propose a method (SwAV). It clusters."),
            _paper("d", "Deep Multiview Clustering", "We propose cross-view contrastive learning (CVCL)."),
            # Three papers define "LLM": a field's term, not one paper's name.
            *(_paper(f"l{i}", f"Paper {i} on LLM Training", "Large language models (LLM) are big.") for i in range(3)),
            _paper("v", "A Variational Study", "The variational autoencoder (VAE) ..."),
            _paper("v2", "Another Variational Study", "Variational autoencoders (VAEs) ..."),
            _paper("v3", "A Third Variational Study", "The VAE (VAE) is ..."),
        ]
    )


@pytest.mark.parametrize(
    ("question", "several"),
    [
        ("How do COSMO and X-Former combine contrastive and other objectives?", True),  # names joined by "and"
        ("How do SwAV and the clustering method CVCL each use cluster assignments?", True),  # "each"
        ("COSMO, X-Former: what objectives do they train with?", True),
        ("How does COSMO use X-Former features?", False),  # one paper's question that mentions another
        ("How do LLM and VAE models work together?", False),  # field terms name no paper
        ("What does COSMO propose?", False),
        ("Is COSMO's way of training better than X-Former's?", True),  # set against each other
        ("How much faster is COSMO than X-Former?", False),  # the figure one paper reports
    ],
)
def test_which_single_looking_questions_are_about_several_papers(names: NameIndex, question: str, several: bool) -> None:
    assert asks_about_several(question, names) is several
    assert (plan_question(question, [], names).qtype == "compare") is several


def test_a_question_about_one_paper_that_compares_things_is_single(names: NameIndex) -> None:
    assert plan_question("How does the paper on feature spaces compare learned features across models?", [], names).qtype == "single"
    assert plan_question("How do COSMO and X-Former compare?", [], names).qtype == "compare"
    assert plan_question("Compare the approaches to negative sampling", [], names).qtype == "compare"


@pytest.mark.parametrize(
    ("question", "qtype"),
    [
        # yes/no, nothing named to set side by side: asked of the study that measured it (PubMedQA's questions)
        ("Do risk factors for suicidal behavior differ by affective disorder polarity?", "single"),
        ("Does timing of initial surfactant treatment make a difference in mortality?", "single"),
        ("The clinical significance of bile duct sludge: is it different from bile duct stones?", "single"),
        # two sides, or asked how / what / as a request: still a comparison
        ("Is COSMO different from X-Former?", "compare"),
        ("How do contrastive methods differ in their negatives?", "compare"),
        ("Compare contrastive methods for recommendation", "compare"),
        ("What is the difference between COSMO and X-Former?", "compare"),
    ],
)
def test_a_yes_no_comparison_with_no_sides_is_single(names: NameIndex, question: str, qtype: str) -> None:
    assert plan_question(question, [], names).qtype == qtype


def test_sides_leave_out_field_terms_and_keep_quoted_titles_whole(names: NameIndex) -> None:
    assert compare_sides("How do COSMO and DELLA differ in combining LLM and VAEs for text generation?", names) == ["COSMO", "DELLA"]
    assert compare_sides("What is the difference between COSMO and the multi-objective contrastive topic model?", names) == [
        "COSMO",
        "the multi-objective contrastive topic model",
    ]
    either = "COSMO or the multi-objective contrastive topic model: which one handles short texts?"
    assert plan_question(either, [], names).qtype == "compare"
    assert compare_sides(either, names) == ["COSMO", "the multi-objective contrastive topic model"]
    quoted = "Decoupled Contrastive Learning and 'Integrating Prior Knowledge in Contrastive Learning with Kernel' both decouple the loss."
    assert compare_sides(quoted, names) == [
        "Decoupled Contrastive Learning",
        "Integrating Prior Knowledge in Contrastive Learning with Kernel",
    ]
    # one name and a described paper: the sides come from the words around "and", without the request's "do"
    described = "How do VQ-VAE and the 'Beyond Vanilla Variational Autoencoders' paper each relate to posterior collapse?"
    assert compare_sides(described, NameIndex([])) == ["VQ-VAE", "the 'Beyond Vanilla Variational Autoencoders' paper"]
    assert compare_sides("In what way do graph views and SVD views differ?", NameIndex([])) == ["graph views", "SVD views"]
    # "X differs from / compares with Y ...": Y is the other side, up to the aspect asked about
    svd = "How does the SVD-based graph recommender differ from the disentangled collaborative filtering one in building views?"
    assert compare_sides(svd, NameIndex([])) == ["the SVD-based graph recommender", "the disentangled collaborative filtering one"]
    assert compare_sides("How does dropout compare with token shuffling?", NameIndex([])) == ["dropout", "token shuffling"]
    assert compare_sides("Does laparoscopic surgery differ from open surgery in complication rates?", NameIndex([])) == [
        "laparoscopic surgery",
        "open surgery",
    ]
    # a field's term with a modifier is no paper's name: "LLM-generated" and "AI" are not the sides
    described = "How does the paper that learns from LLM-generated data differ from the one that uses AI feedback for embeddings?"
    assert compare_sides(described, names) == ["the paper that learns from LLM-generated data", "the one that uses AI feedback"]


@pytest.mark.parametrize(
    ("question", "sides"),
    [
        ("Which is faster to pre-train, CatLIP or the joint example selection method, and why?", ["CatLIP", "the joint example selection method"]),
        ("Which treatment, surgery or radiotherapy, works better?", ["surgery", "radiotherapy"]),
        ("How do VQ-VAE and Topic-VQ-VAE use discrete codebooks differently?", ["VQ-VAE", "Topic-VQ-VAE"]),
        ("Which works better, dropout or token shuffling?", ["dropout", "token shuffling"]),  # "works" is the verb
    ],
)
def test_which_of_two_and_differently_are_comparisons(question: str, sides: list[str]) -> None:
    assert plan_question(question, [], NameIndex([])).qtype == "compare"
    assert compare_sides(question, NameIndex([])) == sides


def test_papers_asked_for_with_alternatives_stay_a_list() -> None:
    assert plan_question("Which works study graphs, images or text?", [], NameIndex([])).qtype == "list"


def test_a_yes_no_question_about_one_thing_affected_differently_is_not_a_comparison() -> None:
    # PubMedQA's "Does X affect A differently than B?" asks what one study found
    question = "Does intra-abdominal desmoid disease affect patients with an ileal pouch differently than others?"
    assert plan_question(question, [], NameIndex([])).qtype == "single"


def test_acronyms_spelled_out_and_context_queries() -> None:
    assert spells_out("CPC", "Representation Learning with Contrastive Predictive Coding")
    assert not spells_out("CPC", "Contrastive Learning for Predictions")
    assert not spells_out("CL", "Contrastive Learning")  # two letters abbreviate too much to count
    q = "Compare LCD and CODE as decoding-time methods for reducing hallucination."
    assert context_query(q, "CODE", ["LCD"]) == "Compare and CODE as decoding-time methods for reducing hallucination."


def test_each_side_gets_its_own_paper_read_in_context(bundled_retriever) -> None:
    """Over the bundled corpus: a bare "CODE" search ranks a code-generation paper first; with the question as
    context the paper that defines CODE wins; DELLA, which its abstract introduces without parentheses ("we propose
    DELLA, a ..."), is found even with no context, and an undefined acronym is read from the words it abbreviates."""
    r = bundled_retriever
    assert not r.search("CODE", 1)[0].paper.title.startswith("CODE:")
    hits = resolve_sides(r, "Compare LCD and CODE as decoding-time methods for reducing hallucination in VLMs.", ["LCD", "CODE"], 10)
    assert [h.paper.title.split(":")[0] for h in hits][1] == "CODE"
    assert "Language-Contrastive Decoding" in hits[0].paper.title
    hits = resolve_sides(r, "How do AdaVAE and DELLA differ in combining Transformers with VAEs for text generation?", ["AdaVAE", "DELLA"], 10)
    assert hits[0].paper.title.startswith("AdaVAE") and hits[1].paper.id != hits[0].paper.id
    assert "Variational Transformer" in hits[1].paper.title
    hits = resolve_sides(r, "How is AdaVAE different from DELLA?", ["AdaVAE", "DELLA"], 10)  # a ModSCAN paper before
    assert hits[0].paper.title.startswith("AdaVAE") and "Variational Transformer" in hits[1].paper.title
    # CPC: no abstract defines it and its paper is far down the context query's hits; its title spells it out
    hits = resolve_sides(r, "CPC vs SupReMix: where do the positive and negative pairs come from in each?", ["CPC", "SupReMix"], 10)
    assert [h.paper.title for h in hits] == ["Representation Learning with Contrastive Predictive Coding", "Mixup Your Own Pairs"]
    hits = resolve_sides(r, "Compare CSD and CLER for continual learning.", ["CSD", "CLER"], 10)
    assert [h.paper.title for h in hits] == [
        "Contrastive Supervised Distillation for Continual Representation Learning",
        "On the Effectiveness of Equivariant Regularization for Robust Online Continual Learning",
    ]


@pytest.mark.parametrize(
    ("title", "abstract", "name"),
    [
        ("LightGCL: Simple Graph Learning", "", "LightGCL"),
        ("Contrastive Audio-Visual Masked Autoencoder", "Masked autoencoders are used.", "Contrastive Audio-Visual Masked Autoencoder"),
        ("Generative Pre-Trained Diffusion Paradigm for Forecasting", "We propose the Generative Pre-trained Diffusion (GPD) model.", "GPD"),
        ("A Latent Variable Model Approach to PMI-based Word Embeddings", "We study word embeddings.", "A Latent Variable Model Approach to PMI-based Word …"),
        ("Making LLMs Worth Every Penny", "Few-shot methods and LLMs.", "Making LLMs Worth Every Penny"),
        ("Deep Multiview Clustering", "We propose cross-view contrastive learning (CVCL).", "Deep Multiview Clustering"),
    ],
)
def test_display_names_are_names_of_one_paper(title: str, abstract: str, name: str) -> None:
    """A paper is called by the name it defines, never by a title-case compound or a plural acronym."""
    from agent.retrieval.names import display_name

    assert display_name(Paper(id="x", title=title, abstract=abstract)) == name


def test_cli_announces_the_compared_papers_before_the_answer(bundled_home) -> None:
    """`citewise ask` prints the compared papers (stderr) before the comparison is written (stdout)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "CITEWISE_HOME": str(bundled_home), "CITEWISE_ANSWER__PIPELINE": "quotes"}
    out = subprocess.run(
        [sys.executable, "-m", "agent", "ask", "How do IWAE and InfoVAE differ?", "--model", "fake", "--check", "off"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    at = next(i for i, line in enumerate(lines) if "Comparing 2 papers" in line)
    assert "IWAE" in lines[at + 1] or "Importance Weighted" in lines[at + 1]
    assert "InfoVAE" in lines[at + 2] and "“" in lines[at + 2]


def test_ui_renders_the_compared_papers() -> None:
    from agent.ui.render import render_sides

    html = render_sides([("p1", "IWAE", "We use <many> samples."), ("p2", "InfoVAE", "A new objective.")])
    assert html.startswith('<details class="cw-status cw-sides" open><summary>Comparing 2 papers</summary>')
    assert "&lt;many&gt;" in html and html.count("<li>") == 2 and render_sides([]) == ""


def test_display_names_pass_over_names_several_papers_define(names: NameIndex) -> None:
    """With the corpus' name index, "LLM" (defined by three papers) names none of them; a title's own head does."""
    from agent.retrieval.names import display_name

    llm_paper = Paper(id="l0", title="Paper 0 on LLM Training", abstract="Large language models (LLM) are big.")
    assert display_name(llm_paper) == "LLM"
    assert display_name(llm_paper, names.is_generic) == "Paper 0 on LLM Training"
    head = Paper(id="h", title="LLM: A Head Name", abstract="")
    assert display_name(head, names.is_generic) == "LLM"
    assert names.is_generic("LLMs") and names.is_generic("VAEs") and not names.is_generic("COSMO")
