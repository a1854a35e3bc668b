"""PubMedQA (expert-labelled PQA-L) as an eval source: ``citewise eval pubmedqa:test``.

Data: ``ori_pqal.json`` (1,000 questions keyed by PubMed id, with CONTEXTS and
final_decision) and ``test_ground_truth.json`` (the official test split).

Splits, explicitly:

* ``test`` = exactly the ids in ``test_ground_truth.json`` (500), labelled by that file;
* ``dev``  = every other id of ``ori_pqal.json`` (500), labelled by its final_decision.

Use ``dev`` to tune; report ``test``. All 1,000 contexts are indexed (retrieval
runs over the whole pool, as in the retrieval benchmark), each as a paper
``pm<pmid>`` titled ``PubMed <pmid>`` (titles carry no answer), into a separate
home and collection (:func:`pubmedqa_settings`) — never the user's index.

Two label modes (``citewise eval --label-mode``): ``direct`` (default) plans,
retrieves and selects compact evidence as an answer does, from the top-ranked
abstract only (see :data:`DECIDE_PAPERS`), then asks the model for one word
with prompts/pubmedqa_decide.toml; ``answer`` writes the
full cited answer and maps it to yes / no / maybe with prompts/pubmedqa.toml
(about three times the model time: 500 test questions take hours on 2 cores).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agent.evaluation.questions import LABELS, EvalQuestion

if TYPE_CHECKING:
    from agent.chain import AnswerEngine
    from agent.chain.classify import QuestionPlan
    from agent.index.store import Progress, SyncReport
    from agent.settings import Settings
    from agent.types import Answer, Paper

SPLITS = ("dev", "test")
#: Source name prefix accepted by ``citewise eval`` (``pubmedqa:dev``, ``pubmedqa:test``).
SOURCE_PREFIX = "pubmedqa:"
#: Chroma collection of the PubMedQA index (distinct from the default ``citewise-papers``).
COLLECTION = "citewise-pubmedqa"
#: Where the data is looked for when no directory is given: <repo>/../shared/external/pubmedqa.
DEFAULT_DIR = Path(__file__).resolve().parents[3] / "shared" / "external" / "pubmedqa"


@dataclass
class PubMedQA:
    items: dict[str, dict]  # pmid -> ori_pqal entry
    test_labels: dict[str, str]  # pmid -> yes/no/maybe (the official test split)

    def split_ids(self, split: str) -> list[str]:
        """The pmids of ``split`` in file order: test = test_ground_truth.json's ids, dev = all others."""
        if split == "test":
            return [pid for pid in self.items if pid in self.test_labels]
        if split == "dev":
            return [pid for pid in self.items if pid not in self.test_labels]
        raise ValueError(f"unknown PubMedQA split {split!r} (use {' or '.join(SPLITS)})")

    def label(self, pmid: str) -> str:
        return self.test_labels.get(pmid) or self.items[pmid]["final_decision"]

    def papers(self) -> list[Paper]:
        """All contexts as papers (question text excluded, answer-bearing conclusion excluded)."""
        from agent.types import Paper

        out = []
        for pmid, item in self.items.items():
            title = f"PubMed {pmid}"
            abstract = " ".join(c.strip() for c in item["CONTEXTS"])
            year = int(item["YEAR"]) if str(item.get("YEAR", "")).isdigit() else None
            out.append(
                Paper(id=f"pm{pmid}", title=title, abstract=abstract, original_title=title, original_abstract=abstract, year=year, source="pubmedqa")
            )
        return out

    def questions(self, split: str) -> list[EvalQuestion]:
        return [
            EvalQuestion(
                qid=f"pm{pmid}",
                type="single",
                question=self.items[pmid]["QUESTION"],
                gold_titles=[f"PubMed {pmid}"],
                gold_ids=[f"pm{pmid}"],
                expected_label=self.label(pmid),
            )
            for pmid in self.split_ids(split)
        ]


def load_pubmedqa(directory: Path) -> PubMedQA:
    """Read and validate the two files (test ids must be a subset of the labelled questions)."""
    ori, truth = directory / "ori_pqal.json", directory / "test_ground_truth.json"
    for f in (ori, truth):
        if not f.is_file():
            raise FileNotFoundError(f"PubMedQA file not found: {f} (give --pubmedqa-dir)")
    items = json.loads(ori.read_text(encoding="utf-8"))
    test = json.loads(truth.read_text(encoding="utf-8"))
    unknown = set(test) - set(items)
    if unknown:
        raise ValueError(f"{truth}: {len(unknown)} test ids are not in {ori.name}")
    bad = {pid: v for pid, v in test.items() if v not in LABELS}
    if bad:
        raise ValueError(f"{truth}: labels other than yes/no/maybe for {sorted(bad)[:5]}")
    return PubMedQA(items=items, test_labels=test)


def parse_source(source: str) -> str | None:
    """The split of a ``pubmedqa:<split>`` source string, or None for a file path."""
    if not source.lower().startswith(SOURCE_PREFIX):
        return None
    split = source[len(SOURCE_PREFIX) :].strip().lower()
    if split not in SPLITS:
        raise ValueError(f"unknown PubMedQA split {split!r} in {source!r} (use pubmedqa:dev or pubmedqa:test)")
    return split


def pubmedqa_settings(settings: Settings, home: Path | None = None) -> Settings:
    """``settings`` pointed at the PubMedQA index: its own home (default <home>/eval-pubmedqa) and collection."""
    home = home or (settings.home / "eval-pubmedqa")
    return settings.with_overrides(home=home, **{"index.path": home / "chroma", "index.collection": COLLECTION})


def ensure_index(settings: Settings, data: PubMedQA, progress: Progress | None = None) -> SyncReport:
    """Index the 1,000 contexts (only what is missing or changed; a second call embeds nothing)."""
    from agent.index import open_store

    if settings.index.collection != COLLECTION:
        raise ValueError("refusing to index PubMedQA outside its own collection; use pubmedqa_settings()")
    return open_store(settings).sync(data.papers(), ["pubmedqa"], progress)


#: How a PubMedQA label is obtained: ``direct`` (one short call over the answer's evidence) or ``answer``
#: (the full cited answer, then prompts/pubmedqa.toml maps it to a label: ~3x the model time).
LABEL_MODES = ("direct", "answer")
#: Prompt of the ``direct`` mode.
DECIDE_PROMPT = "pubmedqa_decide"
#: Tokens the decision may generate (one word; a little slack for a leading space or "Answer:").
DECIDE_MAX_TOKENS = 4
#: Evidence of the direct decision: the top-ranked abstract's best sentences within this budget. Each PubMedQA
#: question is about one abstract (hybrid R@1 0.93); on the first 60 dev questions, top-1/300 tokens with
#: pubmedqa-decide-v2 scored 0.586 against 0.466 for the answer's default evidence (6 papers) with v1, and
#: took 4.2 s instead of 10.4 s a question.
DECIDE_PAPERS = 1
DECIDE_BUDGET_TOKENS = 300


@dataclass
class Decision:
    """A direct yes/no/maybe decision: the answer record, the engine's plan, the parsed label and the raw reply."""

    answer: Answer
    plan: QuestionPlan
    label: str | None
    reply: str


def decide_label(engine: AnswerEngine, question: str) -> Decision:
    """Answer a yes/no/maybe question in one short model call over retrieved evidence.

    Uses the answer's plan, hybrid retrieval and compact-evidence selection
    (:meth:`AnswerEngine.evidence_for`), narrowed to :data:`DECIDE_PAPERS`
    paper(s) and :data:`DECIDE_BUDGET_TOKENS`; retrieval is scored as usual. The answer's text is the raw reply; it cites nothing (the reply
    is one word), so citation metrics are left empty for these rows.
    """
    import time

    from agent.chain.evidence import render_blocks
    from agent.evaluation.scoring import parse_label
    from agent.prompts import load_prompt
    from agent.types import Answer, Citation, Timings

    t0 = time.perf_counter()
    plan, hits, blocks, retrieve_s = engine.evidence_for(question, papers=DECIDE_PAPERS, budget_tokens=DECIDE_BUDGET_TOKENS)
    prompt = load_prompt(DECIDE_PROMPT)
    llm = engine.model()
    reply = llm.complete(prompt.render(question=question, evidence=render_blocks(blocks)), max_tokens=DECIDE_MAX_TOKENS).strip()
    total = round(time.perf_counter() - t0, 4)
    answer = Answer(
        question=question,
        answer=reply,
        refused=False,
        model=llm.name,
        prompt_version=prompt.version,
        timings=Timings(retrieve_s=round(retrieve_s, 4), first_token_s=total, total_s=total),
        question_type=plan.qtype,
        retrieved=[Citation(id=h.paper.id, title=h.paper.title) for h in hits],
        tokens_in=llm.last_usage.tokens_in,
        tokens_out=llm.last_usage.tokens_out,
    )
    return Decision(answer=answer, plan=plan, label=parse_label(reply), reply=reply)
