"""The local LLM as a sentence-level judge (MiniCheck-style), and the whole-answer baseline.

:class:`ClaimJudge` asks one claim at a time, with only its best evidence
sentences, for a YES/NO verdict. :func:`judge_whole_answer` is the RAGAS-style
baseline the benchmark compares against: one question per answer with all the
abstracts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from agent.prompts import load_prompt

if TYPE_CHECKING:
    from agent.llm.base import LLM

DEFAULT_JUDGE_MODEL = "local:qwen2.5-coder-1.5b"

_YES = re.compile(r"^\W*(yes|supported|true)\b", re.I)
_NO = re.compile(r"^\W*(no|not|unsupported|false)\b", re.I)


def parse_yes_no(text: str) -> bool | None:
    """True for YES, False for NO, None when the reply is neither."""
    if _YES.match(text):
        return True
    if _NO.match(text):
        return False
    low = text.lower()
    has_yes, has_no = "yes" in low, re.search(r"\bno\b", low) is not None
    if has_yes != has_no:
        return has_yes
    return None


def claim_prompt(claim: str, title: str, evidence: list[str]) -> list[dict]:
    """A short MiniCheck-style prompt (``prompts/judge_claim.toml``): paper title, its best evidence sentences, one claim."""
    lines = "\n".join(f"- {e}" for e in evidence)
    return load_prompt("judge_claim").render(title=title, evidence=lines, claim=claim)


def yes_probability(logprobs: Mapping[str, float]) -> float | None:
    """P(YES) renormalised over YES and NO (the only replies the prompt allows); None if both are impossible."""
    yes, no = logprobs.get("YES", float("-inf")), logprobs.get("NO", float("-inf"))
    if yes == no == float("-inf"):
        return None
    top = max(yes, no)
    return math.exp(yes - top) / (math.exp(yes - top) + math.exp(no - top))


class ClaimJudge:
    """How likely a chat model finds one claim supported by its evidence; counts its calls.

    Returns P(YES) in [0, 1] from the model's first-token log-probabilities
    when the backend exposes them (llama.cpp, transformers), so that the
    checker can use a threshold tuned on labelled data: the greedy YES/NO of
    a 1.5B model is badly calibrated (it said NO to most faithful claims).
    Backends without log-probabilities give 1.0 / 0.0 from the reply's word,
    None when the reply is neither.
    """

    def __init__(self, llm: LLM, max_tokens: int = 3) -> None:
        self.llm = llm
        self.max_tokens = max_tokens
        self.calls = 0

    def __call__(self, claim: str, title: str, evidence: list[str]) -> float | None:
        self.calls += 1
        messages = claim_prompt(claim, title, evidence)
        logprobs = self.llm.choice_logprobs(messages, ["YES", "NO"])
        if logprobs is not None:
            return yes_probability(logprobs)
        verdict = parse_yes_no(self.llm.complete(messages, max_tokens=self.max_tokens, stop=["\n"]))
        return None if verdict is None else float(verdict)


def load_judge(model: str | None, settings) -> ClaimJudge:  # noqa: ANN001 - Settings
    """Build the judge for ``model`` (default: settings.faithfulness.judge_model, then the 1.5B)."""
    from agent.llm import load_llm

    spec = model or settings.faithfulness.judge_model or DEFAULT_JUDGE_MODEL
    return ClaimJudge(load_llm(spec, settings))


def whole_answer_prompt(answer: str, contexts: Mapping[str, tuple[str, str]]) -> list[dict]:
    """The baseline's prompt (``prompts/judge_answer.toml``): every abstract in full, then the whole answer."""
    blocks = "\n\n".join(f"[{pid}] {title}\n{abstract}" for pid, (title, abstract) in contexts.items())
    return load_prompt("judge_answer").render(abstracts=blocks, answer=answer)


def judge_whole_answer(llm: LLM, answer: str, contexts: Mapping[str, tuple[str, str]]) -> bool | None:
    """The RAGAS-style baseline: one YES/NO for the whole answer."""
    reply = llm.complete(whole_answer_prompt(answer, contexts), max_tokens=3, stop=["\n"])
    return parse_yes_no(reply)
