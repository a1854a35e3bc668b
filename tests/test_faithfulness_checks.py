"""Each deterministic faithfulness check on its own (no model)."""

from __future__ import annotations

from agent.faithfulness import checks
from agent.faithfulness.text import Number, names, number_supported, numbers

EVID = (
    "Smoothie: Label Free Language Model Routing. We propose Smoothie, a weak supervision-inspired routing "
    "approach that requires no labeled data. Smoothie outperforms baselines for routing by up to 10 points "
    "accuracy and identifies the optimal model on 9/14 tasks. Accuracy rose to 6.4% on MMLU."
)
OTHER = {
    "pB": "LatentLM. LatentLM outperforms VALL-E 2 while requiring 10x fewer decoding steps on LibriSpeech.",
}


# --------------------------------------------------------------- numbers
def test_number_extraction_skips_names_and_keeps_units() -> None:
    got = {(n.value, n.unit) for n in numbers("GPT-3 and S2S use 4.6% more, 10x fewer, 1,000 runs, three sets")}
    assert got == {(4.6, "%"), (10.0, "x"), (1000.0, ""), (3.0, "")}


def test_number_rounding_and_percent_fraction() -> None:
    assert number_supported(Number(68.0, "%", "68%"), [Number(68.1, "%", "68.1%")])
    assert not number_supported(Number(68.5, "%", "68.5%"), [Number(68.1, "%", "68.1%")])
    assert number_supported(Number(50.0, "%", "50%"), [Number(0.5, "", "half")])


def test_changed_number_reports_what_the_evidence_says() -> None:
    issues = checks.check_numbers("Accuracy rose to 4.6% on MMLU.", EVID, "Accuracy rose to 6.4% on MMLU.", OTHER, 0.1)
    assert len(issues) == 1
    assert issues[0].kind == "number"
    assert issues[0].reason == "number 4.6% not in evidence; evidence says 6.4%"
    assert issues[0].cap == 0.1


def test_supported_numbers_pass() -> None:
    claim = "Smoothie beats baselines by up to 10 points and finds the best model on 9/14 tasks."
    assert checks.check_numbers(claim, EVID, None, OTHER, 0.1) == []


def test_number_found_only_in_another_paper() -> None:
    issues = checks.check_numbers("Smoothie needs 10x fewer steps.", "Smoothie routes queries.", None, OTHER, 0.1)
    assert issues and "[pB]" in issues[0].reason and issues[0].paper_id == "pB"


def test_number_words_are_checked() -> None:
    assert checks.check_numbers("It was tested on five tasks.", "It was tested on three tasks.", None, {}, 0.1)
    assert not checks.check_numbers("It was tested on three tasks.", "It was tested on 3 tasks.", None, {}, 0.1)
    # Fractions in words are exact: a quarter is not half (digits may round, words may not).
    quarter = checks.check_numbers("It uses a quarter of the batches.", "It uses half of the batches.", None, {}, 0.1)
    assert quarter and "quarter not in evidence; evidence says half" in quarter[0].reason
    assert not checks.check_numbers("It uses half of the batches.", "It uses 50% of the batches.", None, {}, 0.1)


def test_a_number_the_evidence_uses_to_count_something_else_is_flagged() -> None:
    """"Smoothie routed between 14 LLMs" (the 1.5B, on q074) passed: 14 is in the abstract, but there it counts
    tasks ("9/14 tasks"). A count followed by a plural noun must count the same thing near one of the evidence's
    occurrences of that number; spelling variants (metres / meters), added words ("14 benchmark tasks") and numbers
    that count nothing (years, "age 57") pass."""
    evid = "It identifies the optimal model on 9/14 tasks. The plant lies 230 meters under ground, built in 2016."
    issue = checks.check_numbers("Smoothie routed between 14 LLMs.", evid, None, {}, 0.1)
    assert issue and "counts 'tasks'" in issue[0].reason
    for fine in ["It was tested on 14 benchmark tasks.", "The plant is 230 metres below the surface.",
                 "The 2016 plant works.", "It picks the best of 14 tasks."]:
        assert checks.check_numbers(fine, evid, None, {}, 0.1) == [], fine


# --------------------------------------------------------------- names
def test_name_extraction() -> None:
    got = names("Smoothie beats GFlowNet-EM and word2vec on ImageNet, like Transformers and LLMs do.")
    assert "GFlowNet-EM" in got and "word2vec" in got and "ImageNet" in got and "Transformers" in got
    assert "Smoothie" not in got  # first word: any word is capitalized there
    assert "LLMs" in got


def test_unsupported_entity() -> None:
    issues = checks.check_names("Smoothie was evaluated on ImageNet.", EVID, OTHER, ["pA"], 0.2, 0.1)
    assert [i.kind for i in issues] == ["entity"]
    assert "ImageNet" in issues[0].reason


def test_name_in_another_paper_is_an_attribution_error() -> None:
    issues = checks.check_names("It routes queries like LatentLM.", EVID, OTHER, ["pA"], 0.2, 0.1)
    assert [i.kind for i in issues] == ["attribution"]
    assert issues[0].reason.startswith("claim found in [pB], cited to [pA]")


def test_names_tolerate_plurals_possessives_and_acronym_expansions() -> None:
    evid = "We study large language models (LLMs) and a variational autoencoder."
    assert checks.check_names("The LLM's outputs and VAEs are compared.", evid, {}, ["pA"], 0.2, 0.1) == []
    assert checks.check_names("MMLU accuracy rose.", EVID, {}, ["pA"], 0.2, 0.1) == []
    # a name with digits may be spaced or hyphenated differently
    evid = "Preoperative CA 19-9 levels were normal, as were GPT 4 outputs."
    assert checks.check_names("Postoperative CA19-9 levels and GPT-4 outputs normalized.", evid, {}, ["pA"], 0.2, 0.1) == []
    assert checks.check_names("GPT-4-based augmentation helps.", evid, {}, ["pA"], 0.2, 0.1) == []
    for name in ("CA-125", "GPT-5", "GPT-5-based"):  # ... but its digits must match
        issues = checks.check_names(f"{name} levels normalized.", evid, {}, ["pA"], 0.2, 0.1)
        assert issues and f"'{name}'" in issues[0].reason


# --------------------------------------------------------------- citations
def test_citation_to_unknown_paper() -> None:
    issues = checks.check_citations(["pA", "pZ"], {"pA": ("t", "a")}, 0.05)
    assert len(issues) == 1 and "[pZ]" in issues[0].reason and issues[0].kind == "uncited_paper"
    assert checks.check_citations(["pA"], {"pA": ("t", "a")}, 0.05) == []


def test_uncited_specific_claim_is_flagged_but_meta_sentences_pass() -> None:
    assert checks.check_uncited("Smoothie improves accuracy by 10 points.", 0.2, None, 0.7, 0.2)
    assert checks.check_uncited("It also uses LatentLM.", 0.2, None, 0.7, 0.2)
    assert checks.check_uncited("Routing needs no labels at all.", 0.8, "pA", 0.7, 0.2)[0].paper_id == "pA"
    assert checks.check_uncited("The abstracts do not mention the 2 datasets.", 0.9, "pA", 0.7, 0.2) == []
    assert checks.check_uncited("Several approaches exist.", 0.3, "pA", 0.7, 0.2) == []


# --------------------------------------------------------------- attribution by similarity
def test_attribution_by_similarity_margin() -> None:
    hit = checks.check_attribution(0.40, 0.80, "pB", 0.3, 0.9, ["pA"], 0.12, 0.55, 0.1)
    assert hit and hit[0].reason.startswith("claim found in [pB], cited to [pA]")
    assert checks.check_attribution(0.75, 0.80, "pB", 0.9, 0.9, ["pA"], 0.12, 0.55, 0.1) == []
    assert checks.check_attribution(0.20, 0.50, "pB", 0.2, 0.9, ["pA"], 0.12, 0.55, 0.1) == []


# --------------------------------------------------------------- negation
def test_negation_mismatch() -> None:
    unit = "We propose Smoothie, a routing approach that requires no labeled data."
    dropped = checks.check_negation("Smoothie is a routing approach that requires labeled data.", unit, 0.25)
    assert dropped and dropped[0].kind == "negation" and "drops the evidence's negation of 'label'" in dropped[0].reason
    added = checks.check_negation("Smoothie does not outperform baselines.", "Smoothie outperforms baselines.", 0.25)
    assert added and "claim negates 'outperform'" in added[0].reason
    added = checks.check_negation(
        "ICV outperformed in-context learning but not fine-tuning.", "ICV outperforms in-context learning and fine-tuning.", 0.25
    )
    assert added and "negates 'fine'" in added[0].reason
    # A negation of another well-aligned sentence, dropped when the claim joins two sentences: the whole
    # negated phrase reappears ("relies" meets "rely"); one shared word is not enough.
    unit = "We propose a debiasing mechanism that incorporates NBLS instances."
    nearby = [unit, "Our method, which does not rely on external datasets, reduces bias scores."]
    claim = "Its mechanism incorporates NBLS instances and relies on external datasets to reduce bias scores."
    dropped = checks.check_negation(claim, unit, 0.25, " ".join(nearby), nearby)
    assert dropped and "drops the evidence's negation of 'rely'" in dropped[0].reason
    assert checks.check_negation("Its mechanism incorporates NBLS instances and reduces bias.", unit, 0.25, " ".join(nearby), nearby) == []
    other = ["Earlier embeddings fail to clearly separate truthful and hallucinated content."]
    assert checks.check_negation("TSV separates truthful from hallucinated outputs.", "TSV steers the latent space.", 0.25, "", other) == []


def test_equivalent_negations_pass() -> None:
    unit = "We propose Smoothie, a routing approach that requires no labeled data."
    assert checks.check_negation("Smoothie does not require labeled data.", unit, 0.25) == []
    assert checks.check_negation("SAVs use no finetuning.", "SAVs are a finetuning-free method.", 0.25) == []
    # A negation's scope ends at a preposition: "without supervision in three steps" does not negate "three".
    unit = "LLM2Vec is an unsupervised approach that consists of three simple steps."
    assert checks.check_negation("LLM2Vec builds an encoder without supervision in three steps.", unit, 0.25) == []
    # "not only ... but also" is not a negation
    assert checks.check_negation("NCL not only aligns with NMF but also keeps it interpretable.", "NCL aligns with NMF.", 0.25) == []
    # a negation elsewhere in the cited evidence licenses the claim's negation
    assert checks.check_negation(
        "It works without enlarging the input data.", "It improves pair quality.", 0.25, "It never enlarges the input data."
    ) == []


def test_cues_that_negate_nothing() -> None:
    """"with or without", "whether or not" and litotes are not negations (false alarms on PubMedQA dev)."""
    unit = "Virtual planning with or without prebent plates is becoming common."
    assert checks.check_negation("Virtual planning including prebent plates is becoming common.", unit, 0.25) == []
    unit = "We test whether mastery can be reached in a clerkship with and without general surgery."
    assert checks.check_negation("Mastery can be reached in a clerkship with general surgery.", unit, 0.25) == []
    unit = "It is not unusual for a primary eyelid tumour to metastasise to the parotid gland."
    assert checks.check_negation("A primary eyelid tumour can metastasise to the parotid gland.", unit, 0.25) == []
    unit = "We ask whether or not early feeding is tolerated."
    assert checks.check_negation("Early feeding is tolerated.", unit, 0.25) == []
    assert checks.negation_count("whether or not it is usual, with or without labels, not unusual") == 0
    # ... while a plain negation still counts, and is still caught when dropped.
    unit = "Virtual planning without prebent plates is becoming common."
    issues = checks.check_negation("Virtual planning with prebent plates is becoming common.", unit, 0.25)
    assert issues and "drops the evidence's negation of 'prebent'" in issues[0].reason
    issues = checks.check_negation("The tumour is not unusual.", "The tumour is common.", 0.25)
    assert issues == []  # the litote is no negation either way


def test_negation_through_light_verbs_and_non_prefixes() -> None:
    unit = "It also makes the model tractable by using negative sampling."
    issues = checks.check_negation("The model stays tractable without resorting to negative sampling.", unit, 0.25)
    assert issues and "claim negates 'negative'" in issues[0].reason
    assert checks.check_negation("The model is tractable by resorting to negative sampling.", unit, 0.25) == []
    unit = "A non-auto-regressive generation paradigm is proposed for reconstructing non-sequential reports."
    issues = checks.check_negation("It uses an auto-regressive paradigm to reconstruct non-sequential reports.", unit, 0.25)
    assert issues and "claim says 'auto-regressive' where the evidence says 'non-auto-regressive'" in issues[0].reason
    assert checks.check_negation("It reconstructs non-sequential reports non-auto-regressively.", unit, 0.25) == []
    issues = checks.check_negation("It reconstructs non-sequential reports.", "It reconstructs sequential reports.", 0.25)
    assert issues and "claim says 'non-sequential'" in issues[0].reason


def test_antonym_mismatch() -> None:
    issues = checks.check_negation("The method decreases accuracy.", "The method increases accuracy.", 0.25)
    assert issues and "'decrease'" in issues[0].reason
    issues = checks.check_negation(
        "The term encourages information sharing.", "A strategy to prevent information leakage.", 0.25
    )
    assert issues and "'encourage'" in issues[0].reason and "'prevent'" in issues[0].reason
    assert checks.check_negation("The method increases accuracy.", "The method increases accuracy.", 0.25) == []


# --------------------------------------------------------------- quantifiers
def test_quantifier_escalation() -> None:
    issues = checks.check_quantifiers("Smoothie always outperforms all baselines.", None, EVID, 0.3)
    assert {i.reason.split("'")[1] for i in issues} == {"always", "all"}
    # a title's capitalised word quantifies nothing; the same word as a claim's own still does
    unit = "LLMs can perform well. We add a cheap querying method."
    title = "Making LLMs Worth Every Penny: “We add a cheap querying method.” [p1]"
    assert checks.check_quantifiers(title, unit, f"Making LLMs Worth Every Penny. {unit}", 0.3) == []
    assert checks.check_quantifiers("Every LLM performs well.", unit, unit, 0.3)  # "every" of the claim's own
    assert checks.check_quantifiers("Smoothie outperforms baselines.", None, EVID, 0.3) == []
    assert checks.check_quantifiers("It is the only method.", None, "It is the only method that works.", 0.3) == []
    assert checks.check_quantifiers("The first stage learns pairs.", None, "Stage one learns pairs.", 0.3) == []


def test_first_and_only_that_claim_nothing() -> None:
    """"first" as an ordinal and a hedged or "not only" "only" are not universal claims."""
    evid = "Stage one learns pairs, and the decoder then generates text."
    for claim in (
        "It first learns pairs and then generates text.",
        "Time to first antibiotic administration did not change.",
        "The pH is measured without first adding saline.",
    ):
        assert checks.check_quantifiers(claim, None, evid, 0.3) == [], claim
    for claim in ("It is the first method to learn pairs.", "It learns pairs for the first time.", "It was first to learn pairs."):
        issues = checks.check_quantifiers(claim, None, evid, 0.3)
        assert issues and "'first'" in issues[0].reason, claim
    evid = "The association was partly mediated by birth weight, and nurses can measure blood pressure."
    assert checks.check_quantifiers("The association was only partly mediated by birth weight.", None, evid, 0.3) == []
    assert checks.check_quantifiers("Nurses are useful not only for diagnosis but also for follow-up.", None, evid, 0.3) == []
    issues = checks.check_quantifiers("Only nurses can measure blood pressure.", None, evid, 0.3)
    assert issues and "'only'" in issues[0].reason


def test_universal_claim_over_hedged_evidence() -> None:
    unit = "Most existing CL methods only perform hand-crafted augmentation."
    evid = unit + " Not all pairs are informative."  # "all" occurs, but not about the methods
    issues = checks.check_quantifiers("All existing CL methods use hand-crafted augmentation.", unit, evid, 0.3)
    assert issues and "claim says 'all', evidence says 'most'" in issues[0].reason
    unit = "Community semantics has not been well explored by most previous GCL methods."
    issues = checks.check_quantifiers("No previous GCL method has used communities.", unit, unit, 0.3)
    assert issues and issues[0].kind == "quantifier"
    assert checks.check_quantifiers("Most previous GCL methods ignore communities.", unit, unit, 0.3) == []
    # "consistently" over "occasionally" escalates; the modal "can" is not the hedge that is named.
    unit = "The derived model's conditionals can even occasionally outperform the original MLM's conditionals."
    issues = checks.check_quantifiers("The derived model's conditionals consistently outperform the MLM's.", unit, unit, 0.3)
    assert issues and "claim says 'consistently', evidence says 'occasionally'" in issues[0].reason
    unit = "The derived model's conditionals consistently outperform those of the MLM in most settings."
    assert checks.check_quantifiers("The derived conditionals consistently beat the MLM.", unit, unit, 0.3) == []


def test_universal_claim_judged_sentence_by_sentence() -> None:
    """A hedged sentence about the same thing is not licensed by a universal word in another sentence."""
    near = (
        "Most primary MLLMs are only trained on single-image datasets. "
        "We evaluate all tasks with every demonstration."
    )
    issues = checks.check_quantifiers("All mainstream MLLMs are trained only on single-image datasets.", near, near, 0.3)
    assert issues and "claim says 'all', evidence says 'most'" in issues[0].reason
    assert "Most primary MLLMs" in issues[0].reason
    # ... but a hedged sentence about something else does not count against the claim.
    near = "Most users prefer short answers. We evaluate all tasks with every demonstration."
    assert checks.check_quantifiers("All tasks are evaluated with every demonstration.", near, near, 0.3) == []


def test_coverage() -> None:
    assert checks.coverage("Smoothie requires no labeled data.", EVID) == 1.0
    assert checks.coverage("Bananas grow quickly.", EVID) == 0.0
