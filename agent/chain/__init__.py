"""The answer chain: question planning, evidence, generation and citations."""

from agent.chain.checking import faithfulness_hook
from agent.chain.classify import QuestionPlan, Turn
from agent.chain.engine import AnswerEngine, Conversation
from agent.chain.events import DoneEvent, Event, RetrievalEvent, ScreenEvent, SideEvent, TokenEvent

__all__ = [
    "AnswerEngine",
    "Conversation",
    "DoneEvent",
    "Event",
    "QuestionPlan",
    "RetrievalEvent",
    "ScreenEvent",
    "SideEvent",
    "TokenEvent",
    "Turn",
    "faithfulness_hook",
]
