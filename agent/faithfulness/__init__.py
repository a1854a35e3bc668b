"""Offline faithfulness checking of cited answers.

    from agent.faithfulness import FaithfulnessChecker
    checker = FaithfulnessChecker(settings)            # fast mode: no LLM
    result = checker.check(answer, {"p1": (title, abstract)}, retrieved=all_contexts)
    result.verdict.verdict, [s.reason for s in result.sentences]

Thorough mode adds a local LLM judge: ``FaithfulnessChecker(settings,
judge=load_judge(None, settings))`` then ``check(..., mode="thorough")``.
Importing this package loads no model.
"""

from agent.faithfulness.answers import check_answer_into
from agent.faithfulness.checker import AnswerCheck, CheckerConfig, ClaimCheck, FaithfulnessChecker, check_answer
from agent.faithfulness.claims import Claim, split_claims
from agent.faithfulness.judge import ClaimJudge, load_judge

__all__ = [
    "AnswerCheck",
    "CheckerConfig",
    "Claim",
    "ClaimCheck",
    "ClaimJudge",
    "FaithfulnessChecker",
    "check_answer",
    "check_answer_into",
    "load_judge",
    "split_claims",
]
