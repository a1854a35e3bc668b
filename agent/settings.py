"""One typed settings object for all of Citewise.

Values come, lowest priority first, from field defaults, a ``.env`` file,
environment variables with the ``CITEWISE_`` prefix (nested groups use a double
underscore: ``CITEWISE_RETRIEVAL__K=20``), and finally CLI flags, which call
:meth:`Settings.with_overrides`. A few much-used variables also have short
names that the issues and README promise: ``CITEWISE_CHROMA_URL``,
``CITEWISE_OPENAI_BASE_URL`` and ``CITEWISE_MODEL``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

#: Short environment names mapped onto their nested settings path.
SHORTCUT_ENV: dict[str, tuple[str, str]] = {
    "CITEWISE_CHROMA_URL": ("index", "chroma_url"),
    "CITEWISE_OPENAI_BASE_URL": ("llm", "openai_base_url"),
    "CITEWISE_MODEL": ("llm", "model"),
}


def _default_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "citewise"


class IndexSettings(BaseModel):
    """Where and how papers are stored and embedded."""

    path: Path | None = Field(
        default=None,
        description="Directory of the persistent Chroma store; defaults to <home>/chroma.",
    )
    chroma_url: str | None = Field(
        default=None,
        description="URL of a Chroma server (started with `chroma run`). When set, the HTTP client is used instead of the on-disk store.",
    )
    collection: str = Field(
        default="citewise-papers",
        min_length=3,
        max_length=512,
        description="Chroma collection name (3-512 characters).",
    )
    embed_model: str = Field(
        default="citewise:embedder-v2",
        description="Sentence-transformers model that embeds papers and queries for dense search: 'citewise:embedder-v2' "
        "(all-MiniLM-L6-v2 fine-tuned here on scientific claims, questions and title-abstract pairs, shipped in agent/models/embedder, "
        "SHA-256 checked; evals/train_embedder.py), 'packaged:all-MiniLM-L6-v2' (the offline PyPI wheel) or a local "
        "model directory. Changing it needs a re-embed: `citewise index` does it.",
    )
    sentence_model: str = Field(
        default="packaged:all-MiniLM-L6-v2",
        description="Sentence-transformers model for sentence-level similarity: picking quotes and evidence sentences, "
        "and the faithfulness checker's alignment (its thresholds were tuned on this model's cosines).",
    )
    embed_runtime: Literal["auto", "onnx", "torch"] = Field(
        default="auto",
        description="How embeddings are computed: 'onnx' (ONNX Runtime on an fp32 export of embed_model, made once "
        "at set-up or first use and cached in onnx_cache; no torch import, so a cold search starts ~5 s sooner), "
        "'torch' (sentence-transformers) or 'auto' (onnx, falling back to torch when the model cannot be exported). "
        "Both give the same vectors (export checks cosine >= 0.9999), so an index built by one is searched by the other.",
    )
    onnx_cache: Path | None = Field(
        default=None, description="Where ONNX exports of the embedder are cached; defaults to <home>/models/onnx."
    )
    embed_batch_size: int = Field(default=32, ge=1, description="Texts embedded per batch while indexing.")
    add_batch_size: int = Field(
        default=64, ge=1, description="Papers written to Chroma per batch; a killed run loses at most one batch."
    )
    max_file_mb: float = Field(
        default=50.0, gt=0, description="Largest input file read at once, in MiB (a bigger JSONL/CSV file is streamed)."
    )
    stream_above_mb: float = Field(
        default=50.0,
        gt=0,
        description="JSONL/CSV files bigger than this (MiB) are read line by line and written chunk by chunk "
        "(index.page_size papers at a time) instead of being loaded whole; they must be UTF-8. The default equals "
        "max_file_mb, so every file read at once before still is (with its encoding detection).",
    )
    embed_device: str = Field(
        default="cpu",
        description="Device the embedding model runs on: 'cpu', 'cuda', 'cuda:1', 'mps' (`citewise index --device`). "
        "CPU embedding is the slow part of indexing a large corpus (README, 'Large corpora').",
    )
    store_documents: bool = Field(
        default=False,
        description="Also store each paper's text as a Chroma document. Citewise never reads it (papers come from "
        "the metadata); Chroma's full-text index over documents doubled the CPU cost of a write and the disk.",
    )
    page_size: int = Field(
        default=2000,
        ge=1,
        description="Papers read from (or looked up in) Chroma per request when paging through the store: building "
        "the lexical index, checking which papers a sync changes, listing papers.",
    )
    lexical_path: Path | None = Field(
        default=None,
        description="Directory of the persisted BM25 and name indexes (one per store and collection, rebuilt when the "
        "store changed); defaults to <home>/lexical.",
    )


class RetrievalSettings(BaseModel):
    """Hybrid lexical + dense search."""

    k: int = Field(default=10, ge=1, description="Papers returned by a search.")
    candidates: int = Field(default=50, ge=1, description="Candidates each retriever contributes before fusion.")
    fusion: Literal["rrf", "convex"] = Field(
        default="convex",
        description="How the BM25, dense and name rankings are fused: 'convex' (weighted sum of min-max normalized "
        "scores; score-aware) or 'rrf' (weighted reciprocal rank fusion; rank-only). convex with weights 1/2/0.3 "
        "was best on the sets the fine-tuned embedder never saw (the dev questions, PubMedQA's test split; "
        "evals/bench_retrieval.py --sweep); on our held-out SciFact queries nDCG@10 0.735 vs BM25 0.659, dense 0.695.",
    )
    rerank: bool = Field(
        default=False,
        description="Re-rank the top candidates (agent/retrieval/rerank.py) with retrieval.reranker; costs one "
        "cross-encoder call per candidate.",
    )
    reranker: Literal["cross-encoder", "verifier"] = Field(
        default="verifier",
        description="What re-ranks: 'verifier' (the claim verifier's best score over each paper's sentences; ~10 calls "
        "per paper; held-out SciFact nDCG@10 0.738 vs 0.735 without) or 'cross-encoder' (reranker-v1 in "
        "agent/models/reranker, one call per paper; 0.729 there: undertrained, see evals/train_reranker.py).",
    )
    reranker_path: Path | None = Field(
        default=None, description="Directory of a re-ranker model (manifest.json, model.onnx, tokenizer.json); None = the packaged one."
    )
    rerank_top: int = Field(default=20, ge=1, description="Candidates re-ranked when retrieval.rerank is on.")
    rerank_weight: float = Field(
        default=0.5, ge=0, le=1, description="Weight of the re-ranker's score in the re-ranked score (the rest: the fusion score, normalized)."
    )
    paper_cache: int = Field(
        default=4096, ge=0, description="Papers kept in memory per process after being fetched from the store by id."
    )
    background_rebuild_above: int = Field(
        default=50_000, ge=0,
        description="When the store changed since the lexical snapshot and holds at least this many papers, a "
        "process answers at once from the previous snapshot (dense search and paper fetches already see the "
        "change) and rebuilds it in a background thread, swapping it in when done; below, it rebuilds first. "
        "One process builds at a time (a lock file); the others wait for its snapshot instead of building their own.",
    )
    rrf_k: int = Field(default=10, ge=1, description="Reciprocal-rank-fusion constant (higher flattens rank differences; 10 was best on evals/questions.jsonl).")
    lexical_weight: float = Field(default=1.0, ge=0, description="Weight of the BM25 ranking in the fusion.")
    dense_weight: float = Field(
        default=2.0, ge=0, description="Weight of the dense (embedding) ranking in the fusion (0.7 suited the packaged MiniLM)."
    )
    name_match_weight: float = Field(
        default=0.3, ge=0, description="Weight of direct title/acronym/method-name matches in the fusion (2 suits 'rrf')."
    )
    mention_depth: int = Field(
        default=50, ge=1,
        description="How many BM25 hits for a name are read to find every paper that mentions it (a question naming "
        "a name only one paper's title holds, and no other paper mentions, is answered from that paper alone).",
    )
    prf_weight: float = Field(
        default=0.0, ge=0,
        description="Dense pseudo-relevance feedback (Rocchio): the query vector is moved toward the mean vector of the "
        "first fusion's top retrieval.prf_depth papers by this weight, and the dense search runs again (0 = off; one "
        "more vector search per query).",
    )
    prf_depth: int = Field(default=3, ge=1, description="Top papers of the first fusion whose vectors feed retrieval.prf_weight.")


class LLMSettings(BaseModel):
    """Which model answers, and how it is called."""

    model: str = Field(
        default="local:qwen2.5-coder-1.5b",
        description="Model string: 'local:<name-or-gguf-path>', 'openai:<model>', 'hf:<path>' or 'fake'.",
    )
    openai_base_url: str | None = Field(
        default=None, description="Base URL of an OpenAI-compatible endpoint (None = api.openai.com)."
    )
    openai_api_key_env: str = Field(
        default="OPENAI_API_KEY", description="Name of the environment variable holding the API key (never stored)."
    )
    timeout_s: float = Field(default=60.0, gt=0, description="Per-request timeout for hosted endpoints, in seconds.")
    max_retries: int = Field(default=3, ge=0, description="Retries with exponential backoff for hosted endpoints.")
    temperature: float = Field(default=0.0, ge=0, le=2, description="Sampling temperature (0 = greedy).")
    max_tokens: int = Field(default=400, ge=1, description="Most tokens generated for one answer.")
    n_ctx: int = Field(default=4096, ge=512, description="Context window used for local llama.cpp models.")
    n_threads: int | None = Field(default=None, description="CPU threads for local models (None = all cores).")
    prefix_cache: bool = Field(
        default=True,
        description="Keep llama.cpp's state after the fixed system prompt on disk (<home>/cache/kv, ~7 MB per model "
        "and prompt) so a fresh process does not read it again (~5 s for the 1.5B model on 2 cores).",
    )
    flash_attn: bool = Field(
        default=True,
        description="llama.cpp flash attention for local models: 7-13% faster prompt reading on 2 cores, same outputs "
        "up to rounding.",
    )
    cpu_extra_buffers: bool | None = Field(
        default=None,
        description="Let llama.cpp use its CPU 'extra buffer types' (AMX tiles, repacked weights) for local models. "
        "None (default) = yes, except where the CPU advertises AMX and a one-time probe in a child process crashed "
        "(virtual machines that advertise AMX without the hypervisor enabling it: running a model there kills the "
        "process); the result is cached in <home>/cache. true/false forces it.",
    )
    seed: int = Field(default=0, description="Sampling seed for local models, for reproducible runs.")
    model_cache: Path | None = Field(
        default=None, description="Where assembled GGUF files are cached; defaults to <home>/models."
    )


class AnswerSettings(BaseModel):
    """How the answer chain gathers evidence."""

    papers: int = Field(default=6, ge=1, description="Most papers given to the model as evidence for one answer.")
    list_papers: int = Field(default=8, ge=1, description="Most papers given as evidence for 'which papers ...' questions.")
    sentences_per_paper: int = Field(
        default=3, ge=1, description="Most abstract sentences quoted per paper in compact evidence."
    )
    evidence_budget_tokens: int = Field(
        default=340,
        ge=32,
        description="Tokens of compact evidence in one answer prompt (single-paper and comparison questions): each "
        "paper's best sentence in rank order, then the next best sentences of any paper, until spent; lower-ranked "
        "papers that do not fit are left out. The 1.5B model reads ~47 prompt tokens/s on 2 cores (the fixed system "
        "prompt is cached between answers), so 340 keeps the first token under ~9 s.",
    )
    list_evidence_budget_tokens: int = Field(
        default=350,
        ge=32,
        description="The same budget for list and summary questions, which need more papers. On the list and "
        "summary questions of evals/questions.jsonl it keeps 0.68 of their gold papers in the evidence (0.70 at "
        "420 tokens, 0.64 at 320) and brought the median first token from over 11 s to under 10 s; the 1.5B "
        "model's answers did not get worse (key points 0.25 -> 0.31, refusals correct 0.82 -> 0.93).",
    )
    context_budget_tokens: int = Field(
        default=2200,
        ge=256,
        description="Hard limit on evidence in one prompt. Papers the user named are all kept even past "
        "evidence_budget_tokens; over this limit their evidence is condensed by the model first (map-reduce).",
    )
    soft_max_tokens: int = Field(
        default=160,
        ge=0,
        description="Once an answer is this many tokens long, generation stops at the end of the sentence or list "
        "item in progress (llm.max_tokens stays the hard limit, which can cut mid-sentence). The 1.5B model "
        "writes ~8 tokens/s on 2 cores: answers of 300-400 tokens took 40-60 s, most of them copying evidence "
        "or listing papers at length. 0 turns it off.",
    )
    max_question_chars: int = Field(default=2000, ge=10, description="Longest question accepted, in characters.")
    history_turns: int = Field(default=3, ge=0, description="Previous turns used to resolve follow-up questions.")
    auto_cite_min_similarity: float = Field(
        default=0.5,
        ge=-1,
        le=2,
        description="An answer sentence the model left without a marker is cited to the evidence paper it is "
        "closest to (MiniLM cosine) when that is at least this; below it the sentence stays uncited and the "
        "checker flags it. Set above 1 to turn automatic citation off.",
    )
    withhold_unsupported: bool = Field(
        default=True,
        description="When the faithfulness check finds no sentence of an answer supported by its cited abstracts, "
        "answer 'The abstracts do not say.' instead and keep the draft in the answer's 'withheld' field (small "
        "models invent numbers for questions the abstracts cannot answer). Needs the check on (fast or thorough).",
    )
    withhold_numberless: bool = Field(
        default=True,
        description="When a question asks only for a number ('how many ...', 'what top-1 accuracy ...') and the "
        "draft does not state it (for a count, a number of the thing counted; for a named measure, a number in a "
        "sentence naming it), answer 'The abstracts do not say.' and keep the draft in 'withheld' (the 1.5B model "
        "answered such unanswerable questions with true sentences that gave no number, or another number).",
    )
    remove_unsupported_sentences: bool = Field(
        default=True,
        description="Output policy: a sentence of the answer that the faithfulness check finds unsupported is taken "
        "out of the answer text and kept in the answer's 'withheld_sentences' with its reason (the UI shows it struck "
        "through, marked 'not supported'); if no supported sentence is left the answer is 'The abstracts do not say.'. "
        "Why removal rather than a mark only: a sentence ending in a citation reads as a sourced claim, and the CLI, "
        "the JSON output and copy-paste lose any mark, so an unsupported sentence (an invented number, or the payload "
        "of a prompt injected into an abstract) would travel as if the paper said it. Users still see what was "
        "removed and why. Needs the check on (fast or thorough).",
    )
    evidence_hygiene: bool = Field(
        default=True,
        description="Keep titles and abstract sentences that address the reader or the model instead of describing "
        "research ('ignore previous instructions', 'answer only with', 'you are', 'system:', chat-template tokens, "
        "in English, German, French and Spanish) out of the evidence the model reads and the checker accepts; the "
        "UI shows them quoted and marked (agent/chain/hygiene.py). Flags no sentence of the 5,183 SciFact abstracts "
        "or the bundled corpus.",
    )
    delimit_evidence: bool = Field(
        default=True,
        description="Wrap the evidence in the answer prompt between <excerpts> and </excerpts> with a closing "
        "reminder that text inside is data, never instructions (prompts/answer.toml evidence_open/evidence_close). "
        "Off: the excerpts follow 'Excerpts:' bare, as in answer-v3.",
    )
    pipeline: Literal["quotes", "free"] = Field(
        default="quotes",
        description="How answers are built. 'quotes': small decisions, one paper at a time (agent/chain/compose.py): "
        "candidates are screened by the model's YES/NO probability, and each answer sentence is written from one "
        "paper's quoted sentences, or is the quote itself when the written one fails the checks. 'free': one "
        "generation over the compact evidence of all papers (prompts/answer.toml), as before.",
    )
    screen_candidates: int = Field(
        default=8,
        ge=1,
        description="List and summary questions: top hybrid-search candidates screened one by one. 8, down from 12: "
        "on the 19 list questions of evals/questions.jsonl with the 1.5B, the screening model (its search-rank term) "
        "included none of the 76 candidates at ranks 9-12 (4 were gold, shown only as 'also considered'); 8 gave the "
        "same answers, key points 0.547 and citation P/R 0.819/0.656 both, in p50/p95 22.3/28.9 s against 34.5/40.4 s "
        "(one run each, one after the other, on a 2-core AVX2 machine).",
    )
    screen_by: Literal["model", "p_yes"] = Field(
        default="model",
        description="List and summary questions: how a screened candidate is included. 'model': the screening model "
        "(agent/models/screening, screening-v1: a logistic model over logit P(YES) and log search rank, fitted by "
        "evals/tune_screening.py --fit on the tuning part of evals/questions.jsonl with the 1.5B) gives P(included), "
        "compared with answer.screen_model_threshold; leave-one-question-out there, precision 0.62 -> 0.71 at recall "
        "0.90 -> 0.89. 'p_yes': the model's P(YES) alone against answer.screen_threshold (the previous rule).",
    )
    screen_model_threshold: float | None = Field(
        default=None, ge=0, le=1, description="answer.screen_by=model: include at P(included) >= this (None = the model manifest's threshold)."
    )
    screening_path: Path | None = Field(
        default=None, description="Directory of a screening model (manifest.json, model.json); None = the packaged one."
    )
    screen_threshold: float = Field(
        default=0.55,
        ge=0,
        le=1,
        description="List and summary questions with answer.screen_by=p_yes: a candidate is included when the model's P(YES) is at least this. "
        "Chosen on the tuning part of evals/questions.jsonl (evals/tune_screening.py, 1.5B, quotes-v2; the screening prompts are unchanged in v3): 25 questions, "
        "280 candidates, AUC 0.88; at 0.55 precision 0.59, recall 0.89 of the gold papers (0.50: 0.45 / 0.90; "
        "0.65: 0.73 / 0.74).",
    )
    single_threshold: float = Field(
        default=0.45,
        ge=0,
        le=1,
        description="Single-paper questions: a candidate's quotes answer the question when P(YES) is at least this; "
        "with none, the answer is a refusal. On the tuning part (28 questions, AUC 0.78): 1 of 18 answerable "
        "questions refused, 10 of 10 unanswerable ones refused (0.40: 1/18 and 9/10; 0.55: 2/18 and 10/10).",
    )
    screen_stop_after: int = Field(
        default=0,
        ge=0,
        description="Stop screening after this many candidates in a row are rejected, once screen_min_checked have "
        "been checked (0: check every candidate). On the tuning questions 5-after-8 checked 10 of 12 on average "
        "but lost 3 of 67 gold papers, so it is off by default.",
    )
    screen_min_checked: int = Field(default=8, ge=1, description="Candidates always checked before screen_stop_after applies.")
    near_miss_p: float = Field(
        default=0.1, ge=0, le=1, description="Rejected candidates whose screening probability (P(included) or P(YES), by "
        "answer.screen_by) is at least this are listed as 'also considered' (0.1 with the screening model: 1.2 per list "
        "question of evals/questions.jsonl with 8 candidates screened, 1.4 with 12; 0.2 suited P(YES) alone)."
    )
    quotes_per_paper: int = Field(default=2, ge=1, description="Quoted sentences per paper when screening and writing list/summary answers.")
    name_in_header: bool = Field(
        default=True,
        description="Each step's paper header reads 'Name: Title' when the paper has a short name its title does not "
        "hold ('SwAV: Unsupervised Learning of Visual Features ...'), so the small model can tell that a question "
        "naming SwAV is about this paper.",
    )
    role_weight: float = Field(
        default=0.2,
        ge=0,
        description="Quote picking: added to a sentence's match score times P(it states the paper's own work, not its "
        "background), from the shipped sentence-role model (agent/models/roles, roles-v1). 0 turns the prior off. "
        "Chosen on the tuning part of SciFact's rationale sentences (evals/bench_quotes.py: best hit@2, the list "
        "quotes); held-out hit@1 0.514 -> 0.570, hit@2 0.748 -> 0.804.",
    )
    single_candidates: int = Field(default=3, ge=1, description="Single-paper questions: top candidates screened.")
    single_quotes: int = Field(default=3, ge=1, description="Quoted sentences a single-paper candidate is screened and answered from (the screening threshold was tuned with 3).")
    single_sentences: int = Field(default=3, ge=1, description="Most sentences of a single-paper answer.")
    single_fill_quotes: bool = Field(
        default=True,
        description="Single-paper answers: when the model wrote fewer than answer.single_sentences sentences, the "
        "paper's quotes that say what they left out follow them, verbatim (best match first).",
    )
    list_write: bool = Field(
        default=False,
        description="List answers: the model writes each bullet's first sentence from the paper's quotes (True), or "
        "the bullet is the paper's best-matching quote, verbatim (False: the model only screens, so the answer is "
        "complete when screening ends). On the 19 list questions of evals/questions.jsonl with the 1.5B, quotes vs "
        "written: key points 0.547 vs 0.528, faithful 1.0 both, citations the same, total p50/p95 12.8/14.1 s vs "
        "23.6/33.6 s.",
    )
    list_fallback_single: bool = Field(
        default=True,
        description="List questions whose screening includes no paper are answered as a single question from the top "
        "answer.single_candidates (the single screening prompt and answer.single_threshold), with a note, before refusing. "
        "'What loss functions / datasets / augmentations are used for X?' asks for items that abstracts state in passing, "
        "and the list prompt ('does this paper directly address the question?') rejects such papers.",
    )
    list_fill_quotes: bool = Field(
        default=True,
        description="List answers: a bullet's first sentence (the best quote, or the written one with answer.list_write) "
        "is followed by the paper's other quote, verbatim, when that quote says something the sentence does not. On the 19 list questions of evals/questions.jsonl "
        "with the 1.5B (written bullets): key points 0.446 -> 0.528, citations and faithfulness unchanged, no extra model call.",
    )
    compare_write: bool = Field(
        default=False,
        description="Comparisons: the model writes each side's first sentence from its paper's quotes (True), or the "
        "side opens with the paper's best-matching quote, verbatim (False); the table cells and the contrast are "
        "written either way. On the 19 compare questions of evals/questions.jsonl and evals/compare_questions.jsonl "
        "with the 1.5B, quotes vs written: key points 0.810 vs 0.837 (2 questions better, 2 worse), faithful 0.895 "
        "vs 0.789, citations the same, total p50/p95 15.7/21.4 s vs 25.5/35.0 s.",
    )
    compare_fill_quotes: bool = Field(
        default=True,
        description="Comparisons: each side's first sentence (the best quote, or the written one with answer.compare_write) "
        "is followed by one more of its paper's quotes, verbatim, "
        "when that quote says something the sentence does not. On the 19 compare questions of evals/questions.jsonl "
        "and evals/compare_questions.jsonl with the 1.5B (written sides): key points 0.721 -> 0.837, citations and faithfulness unchanged.",
    )
    fill_mmr_lambda: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="The quotes added after a paper's first sentence(s) (answer.single_fill_quotes, list_fill_quotes, "
        "compare_fill_quotes, summary_min_sentences) are chosen by maximal marginal relevance: this weight x the quote's "
        "match score minus the rest x its highest MiniLM cosine to what is already said (LangChain's default 0.5, not tuned). "
        "Against the rule before it (best match first, >= 50% new content words), one run each with the 1.5B: single "
        "key points 0.689 -> 0.735 (34 questions, 6 better, none worse), compare 0.837 -> 0.850, lists 0.547 and "
        "summaries 0.559 unchanged; citations and faithfulness the same. 0.7 was replayed on the single answers: "
        "0.770 against 0.798 for 0.5.",
    )
    fill_max_similarity: float = Field(
        default=0.9,
        ge=0,
        le=1,
        description="A fill quote whose MiniLM cosine to a sentence already said is above this restates it and is not added (set once, not tuned).",
    )
    fill_new_share: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="With a value above 0, a fill quote is also passed over unless at least this share of its content "
        "words (stemmed) is in neither the text so far nor a quote added before it (the rule before MMR, 0.5; with MMR "
        "it lowered the replayed single-answer key points 0.798 -> 0.774).",
    )
    summary_write: bool = Field(
        default=False,
        description="Topic summaries: the model writes each included paper's sentence from its quotes (True), or the "
        "sentence is the paper's best-matching quote, verbatim (False: the model only screens). On the 9 summary "
        "questions of evals/questions.jsonl with the 1.5B, one run after the other, alone: written (no fill, no stop) "
        "36.2/46.1 s p50/p95, key points 0.493; quotes with answer.summary_min_sentences 3 and "
        "answer.summary_stop_after 3: 17.6/25.1 s, 0.559; citations and faithfulness the same.",
    )
    summary_min_sentences: int = Field(
        default=3,
        ge=1,
        description="A topic summary of fewer sentences than this (one or two papers included: 'Summarize the X paper') "
        "is filled to this many with the included papers' other quotes that say something new (answer.fill_new_share), "
        "verbatim: a summary is three to six sentences, not one quote.",
    )
    summary_stop_after: int = Field(
        default=3,
        ge=0,
        description="Topic summaries stop screening after this many candidates in a row are rejected, once "
        "answer.screen_min_checked have been checked (0: check every candidate). A summary needs a few papers that are "
        "about the topic, not every one (a list keeps answer.screen_stop_after); each read is about 2 s of the 1.5B "
        "on 2 cores.",
    )
    summary_papers: int = Field(
        default=5, ge=1, description="Most papers (one sentence each) in a topic summary; screening stops once this many are included."
    )
    summary_group_similarity: float = Field(
        default=0.45, ge=-1, le=1, description="Summary sentences at least this similar (MiniLM cosine) share a paragraph."
    )
    compare_papers: int = Field(
        default=2, ge=2, description="Papers compared when the question's sides do not resolve to papers (the first hits)."
    )
    compare_max_papers: int = Field(
        default=3, ge=2, description="Most papers one comparison covers: one per side the question names ('CLAIF, SynCSE and MultiCSR')."
    )
    within_side_share: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="A comparison whose sides no paper is named for ('Does rural or urban residence make a difference "
        "to X?') is answered as a single question when the best hit mentions every side: at least this share of each "
        "side's content words in its title and abstract (the study that compares them). 0.5 was set before measuring.",
    )
    compare_side_candidates: int = Field(
        default=10,
        ge=1,
        description="Hits of each side's own query (the question with the other sides taken out) among which that "
        "side's paper is chosen (agent/retrieval/sides.py).",
    )
    compare_quotes: int = Field(default=3, ge=1, description="Quoted sentences per compared paper.")
    compare_aspects: list[str] = Field(
        default_factory=lambda: ["Problem", "Method", "Result"], description="Columns of the comparison table."
    )
    write_max_tokens: int = Field(default=70, ge=8, description="Token limit of one written sentence (quote-built answers).")
    single_max_tokens: int = Field(
        default=120,
        ge=8,
        description="Token limit of a single-paper answer's two or three written sentences (quote-built answers). "
        "At 70 (answer.write_max_tokens) the 1.5B ran into the limit in 2 of 4 sampled single answers, cutting a "
        "sentence mid-way; a sentence cut off at the limit is never shown.",
    )
    max_question_echo_words: int = Field(
        default=3,
        ge=0,
        description="Quote-built answers: a written sentence with this many content words taken from the question that "
        "the paper's title and abstract never use restates the question, not the paper, and is replaced by the paper's "
        "quote (0 = not checked).",
    )
    aspect_max_tokens: int = Field(default=60, ge=8, description="Token limit of one paper's table cells.")
    contrast_max_tokens: int = Field(default=70, ge=8, description="Token limit of the comparison's contrast sentences.")
    min_relevance: float = Field(
        default=0.25,
        ge=-1,
        le=1,
        description="Below this best question-to-sentence cosine no paper is about the question, and it is refused "
        "without a model call (off-topic questions scored 0.11-0.20, the lowest in-scope one 0.32).",
    )
    refuse_unwritten_names: bool = Field(
        default=True,
        description="Refuse, without a model call, a single question about a name ('What does DiffCSE use ...?', 'Does "
        "BYOL ...?') or a comparison with a side ('Compare SimCSE and DiffCSE.') that no indexed paper defines, writes "
        "(any spelling) or spells out: no abstract can say anything about it, and the answer would put another "
        "paper's method under its name. Fired on 0 of PubMedQA's 1,000 questions and 4 of SciFact's 809 training "
        "claims before statements were left out (0 after); on the dev sets only on unanswerable questions.",
    )
    min_dense_relevance: float = Field(
        default=0.185,
        ge=-1,
        le=1,
        description="Below this best question-to-paper cosine of the retrieval embedder (embedder-v2) no paper is about "
        "the question either, unless a paper's name matched: a second, paper-level gate, since one sentence of an "
        "unrelated abstract can pass min_relevance ('COCONUT' for a banana-bread recipe). With embedder-v2, dev questions "
        "in scope scored from 0.205 (a named paper 0.34), fourteen off-topic ones 0.07-0.27, twelve of them under 0.17; "
        "0.185 sits mid-gap (embedder-v1 had 0.2: in scope from 0.23).",
    )


class FaithfulnessSettings(BaseModel):
    """Offline per-sentence checking.

    Thresholds were tuned on development data only: evals/faithfulness_dev.jsonl and the PubMedQA
    development split (align_low/align_high/similarity_weight: lowered from 0.35/0.65/0.6, which failed
    half of PubMedQA's own conclusions against their own abstracts, with no loss on the dev set).
    """

    mode: Literal["fast", "thorough"] = Field(
        default="fast", description="'fast' = deterministic + embedding checks; 'thorough' adds the local LLM judge."
    )
    engine: Literal["learned", "verifier", "rules"] = Field(
        default="rules",
        description="What decides whether cited evidence supports a claim: 'verifier' = the learned cross-encoder "
        "(agent/models/verifier, trained on SciFact, Citation-Integrity, HealthVer, COVID-Fact, AttributionBench, "
        "WiCE and synthetic errors) plus the deterministic number/name/citation checks; 'rules' = the older "
        "similarity thresholds and negation/quantifier word lists; 'learned' = gradient-boosted trees "
        "(agent/models/learned, evals/train_learned.py) over the rule signals, MiniLM similarity, coverage and the "
        "cross-encoder's scores, with the deterministic number/name/citation checks (opt-in: better than the rules "
        "on SciFact, Citation-Integrity whole-text, COVID-Fact and AttributionBench held-out slices, worse on "
        "HealthVer and WiCE).",
    )
    verifier_path: Path | None = Field(
        default=None, description="Directory of a verifier model (manifest.json, model.onnx, tokenizer.json); None = the packaged one."
    )
    verifier_threshold: float | None = Field(
        default=None, ge=0, le=1,
        description="P(support) at or above which the verifier accepts a claim; None = the threshold in the model's manifest.",
    )
    learned_path: Path | None = Field(
        default=None, description="Directory of a learned feature model (manifest.json, model.json) for engine 'learned'; None = the packaged one."
    )
    learned_threshold: float | None = Field(
        default=None, ge=0, le=1,
        description="P(support) at or above which the learned model accepts a claim; None = the threshold in its manifest.",
    )
    verifier_windows: int = Field(
        default=4, ge=1,
        description="Best-aligned sentences of the cited abstracts the verifier reads for a claim, one by one and joined.",
    )
    judge_band: float = Field(
        default=0.25, ge=0, le=1,
        description="Thorough mode with the verifier: the LLM judge is asked only about claims whose verifier "
        "P(support) is within this distance of the threshold (the verifier is unsure).",
    )
    judge_model: str | None = Field(
        default="local:qwen2.5-coder-1.5b",
        description="Model string of the claim judge in thorough mode (None = local:qwen2.5-coder-1.5b).",
    )
    support_threshold: float = Field(
        default=0.5, ge=0, le=1, description="Sentence score at or above which a sentence counts as supported."
    )
    align_low: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="Blend of claim-to-evidence cosine and word coverage at or below which the base score is 0.",
    )
    align_high: float = Field(
        default=0.35,
        ge=0,
        le=2,
        description="Blend of cosine and word coverage at or above which the base score is 1 (linear in between).",
    )
    similarity_weight: float = Field(
        default=0.8,
        ge=0,
        le=1,
        description="Weight of the MiniLM cosine in that blend; the rest is the share of claim words in the cited abstracts.",
    )
    lexical_weight: float = Field(
        default=0.5,
        ge=0,
        description="Weight of IDF word overlap added to the cosine when ranking evidence sentences to quote and judge.",
    )
    attribution_margin: float = Field(
        default=0.12,
        ge=0,
        le=1,
        description="A claim is misattributed when another retrieved paper beats the cited one by this cosine margin.",
    )
    attribution_min_score: float = Field(
        default=0.55,
        ge=0,
        le=1,
        description="Least cosine with the other paper before a claim can be reported as misattributed to it.",
    )
    uncited_min_score: float = Field(
        default=0.7,
        ge=0,
        le=1,
        description="An uncited sentence at least this similar to a retrieved paper states its content and needs a citation.",
    )
    judge_top_k: int = Field(
        default=3, ge=1, description="Evidence sentences of the cited papers shown to the judge with each claim."
    )
    judge_max_base: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="The judge's NO overrules only claims whose base score is at most this (1 = always).",
    )
    judge_threshold: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="The judge's P(YES) (from first-token log-probabilities) below which a supported claim is "
        "flagged. 0.5 = the model's greedy answer, which flagged 39-69% of faithful dev answers with the 1.5B; "
        "0.05 (with judge_rescue_min 0.7) was best on the dev sets and again on the tuning side of the shared "
        "sources (evals/tune_judge.py); the judge's own calibrated 0.21 was worse there (pooled 0.690 vs 0.723).",
    )
    judge_rescue_min: float = Field(
        default=0.7,
        ge=0,
        le=1.01,
        description="A claim flagged only by checks listed in judge_rescue_kinds is accepted when the judge's "
        "P(YES) is at least this (chosen on the dev sets with evals/tune_judge.py). Above 1 = never (the judge is "
        "not asked about flagged claims).",
    )
    judge_rescue_kinds: list[Literal["alignment", "negation", "quantifier"]] = Field(
        default=["alignment", "negation"],
        description="Issue kinds the judge may overrule with judge_rescue_min: 'alignment' (weak similarity/word "
        "overlap), 'negation' (its word lists misread paraphrases such as 'label-free' vs 'requires no labels'), "
        "'quantifier'. Numbers, names, attribution and citations are never overruled.",
    )


class AuditSettings(BaseModel):
    """``citewise audit``: checking the citations of a draft against the library."""

    candidates: int = Field(
        default=5,
        ge=1,
        description="Papers retrieved (hybrid search) for an unsupported or uncited sentence and checked one by one "
        "as a better source.",
    )
    max_suggestions: int = Field(default=3, ge=1, description="Most better-source suggestions listed per sentence.")
    support_threshold: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Checker score at or above which the cited paper supports a sentence; None = the checker's own "
        "verdict (faithfulness.support_threshold).",
    )
    unconfirmed_suggestions: bool = Field(
        default=True,
        description="For an uncited sentence, fill the suggestions up to max_suggestions with the closest retrieved "
        "papers the checker did not confirm (listed as such in the reason), confirmed ones first: a paper to "
        "consider citing. Off = only confirmed supporting papers are suggested.",
    )
    min_claim_words: int = Field(
        default=4, ge=1, description="A sentence with fewer words than this states no claim (not checkable)."
    )
    own_work_not_checkable: bool = Field(
        default=True,
        description="An uncited sentence about the draft's own work ('We propose ...', 'Our method ...') needs no "
        "citation: not checkable instead of an uncited claim.",
    )
    max_draft_mb: float = Field(default=10.0, gt=0, description="Largest draft file accepted, in MiB.")


class UISettings(BaseModel):
    """The Gradio chat."""

    host: str = Field(default="127.0.0.1", description="Address the UI binds to (loopback unless told otherwise).")
    port: int = Field(default=7860, ge=1, le=65535, description="Port the UI listens on.")
    max_upload_mb: float = Field(default=10.0, gt=0, description="Largest corpus upload accepted, in MiB.")
    concurrency: int = Field(default=2, ge=1, description="Chat requests processed at once.")
    startup_poll_s: float = Field(
        default=1.0, gt=0, description="How often the page refreshes its progress while the index opens (first run: indexing the bundled corpus)."
    )
    auth: str | None = Field(
        default=None, description="Optional 'user:password' login for shared deployments (set it via the environment)."
    )


class Settings(BaseSettings):
    """All settings; build with ``Settings()`` and override with :meth:`with_overrides`."""

    model_config = SettingsConfigDict(
        env_prefix="CITEWISE_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    home: Path = Field(default_factory=_default_home, description="Directory for the index, model cache and state.")
    index: IndexSettings = Field(default_factory=IndexSettings, description="Storage and embedding.")
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings, description="Hybrid search.")
    llm: LLMSettings = Field(default_factory=LLMSettings, description="Answering model.")
    answer: AnswerSettings = Field(default_factory=AnswerSettings, description="Answer chain.")
    faithfulness: FaithfulnessSettings = Field(default_factory=FaithfulnessSettings, description="Checker.")
    audit: AuditSettings = Field(default_factory=AuditSettings, description="Draft citation audit.")
    ui: UISettings = Field(default_factory=UISettings, description="Web UI.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, _ShortcutEnvSource(settings_cls), env_settings, dotenv_settings, file_secret_settings)

    @property
    def index_path(self) -> Path:
        """The on-disk Chroma directory."""
        return self.index.path or (self.home / "chroma")

    @property
    def lexical_path(self) -> Path:
        """Where the persisted BM25 and name indexes live."""
        return self.index.lexical_path or (self.home / "lexical")

    @property
    def model_cache(self) -> Path:
        """Where assembled model files live."""
        return self.llm.model_cache or (self.home / "models")

    def with_overrides(self, **dotted: Any) -> "Settings":
        """Return a copy with ``group.field`` values replaced; ``None`` values are ignored.

        CLI flags use this so that a flag left unset keeps the environment's value.
        """
        data = self.model_dump()
        for key, value in dotted.items():
            if value is None:
                continue
            group, _, field = key.partition(".")
            if field:
                data[group][field] = value
            else:
                data[group] = value
        return type(self).model_validate(data)


class _ShortcutEnvSource(PydanticBaseSettingsSource):
    """Maps the documented short variables (e.g. CITEWISE_CHROMA_URL) onto nested fields."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover - unused
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        out: dict[str, dict[str, str]] = {}
        for env, (group, field) in SHORTCUT_ENV.items():
            value = os.environ.get(env)
            if value:
                out.setdefault(group, {})[field] = value
        return out
