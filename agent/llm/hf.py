"""The ``hf:<dir>`` backend: a Hugging Face transformers causal LM from a local directory.

Loads ``AutoTokenizer`` and ``AutoModelForCausalLM`` with
``local_files_only=True`` on the CPU (nothing is ever downloaded). Prompts use
the tokenizer's chat template when it has one, else plain ``role: content``
lines ending in ``assistant:``. Generation is greedy at temperature 0 and
streams through ``TextIteratorStreamer`` from a worker thread; stop strings are
applied to the streamed text (:class:`~agent.llm.streaming.StopFilter`) and
also end generation early. Meant for small or experimental models; the
``local:`` GGUF backend is much faster on CPU.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.llm.base import LLM, ChatMessage, LLMError, ModelFileError, Usage, first_token_logprobs
from agent.llm.registry import register
from agent.llm.streaming import StopFilter

if TYPE_CHECKING:
    from agent.settings import Settings


class HFLLM(LLM):
    """A transformers model on the CPU; see the module docstring."""

    def __init__(self, path: Path, settings: Settings, name: str | None = None) -> None:
        if not path.is_dir():
            raise ModelFileError(f"hf model directory {path} does not exist (or is not a directory)")
        if not (path / "config.json").is_file():
            raise ModelFileError(f"{path} has no config.json: not a saved transformers model directory")
        cfg = settings.llm
        self.path = path
        self.temperature = cfg.temperature
        self.default_max_tokens = cfg.max_tokens
        self.seed = cfg.seed
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:  # pragma: no cover - core dependencies
            raise LLMError(f"the 'hf:' backend needs torch and transformers: {exc}") from exc
        if cfg.n_threads:
            torch.set_num_threads(cfg.n_threads)
        try:
            self.tokenizer: Any = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self.model: Any = AutoModelForCausalLM.from_pretrained(
                str(path), local_files_only=True, dtype=torch.float32
            )
        except (OSError, ValueError, KeyError) as exc:
            raise ModelFileError(f"transformers could not load the model in {path}: {exc}") from exc
        self.model.to("cpu").eval()
        window = getattr(self.model.config, "max_position_embeddings", None) or cfg.n_ctx
        super().__init__(name=name or f"hf:{path}", context_window=min(int(window), cfg.n_ctx))

    def format_prompt(self, messages: list[ChatMessage]) -> str:
        """The prompt text: the chat template if the tokenizer has one, else ``role: content`` lines."""
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(
                [dict(m) for m in messages], tokenize=False, add_generation_prompt=True
            )
        lines = [f"{m['role']}: {m['content']}" for m in messages]
        return "\n".join(lines + ["assistant:"])

    def stream(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        """Generate in a worker thread and yield decoded text as it arrives."""
        if self.model is None:
            raise LLMError(f"{self.name} was closed")
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        prompt = self.format_prompt(messages)
        has_template = bool(getattr(self.tokenizer, "chat_template", None))
        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=not has_template)
        usage = Usage(tokens_in=int(inputs["input_ids"].shape[-1]))
        self.last_usage = usage

        halt = threading.Event()

        class _Halt(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), halt.is_set(), dtype=torch.bool)

        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self.tokenizer.eos_token_id
        kwargs: dict[str, Any] = {
            **inputs,
            "max_new_tokens": max_tokens or self.default_max_tokens,
            "streamer": streamer,
            "stopping_criteria": StoppingCriteriaList([_Halt()]),
            "pad_token_id": pad,
        }
        if self.temperature > 0:
            kwargs.update(do_sample=True, temperature=self.temperature)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        failure: list[BaseException] = []

        def work() -> None:
            try:
                if self.temperature > 0:
                    torch.manual_seed(self.seed)
                with torch.no_grad():
                    self.model.generate(**kwargs)
            except BaseException as exc:  # surfaced in the consuming thread
                failure.append(exc)
                streamer.on_finalized_text("", stream_end=True)

        worker = threading.Thread(target=work, name="citewise-hf-generate", daemon=True)
        worker.start()
        stops = StopFilter(stop)
        pieces: list[str] = []
        try:
            for text in streamer:
                piece = stops.feed(text)
                if piece:
                    pieces.append(piece)
                    yield piece
                if stops.stopped:
                    break
            tail = stops.flush()
            if tail:
                pieces.append(tail)
                yield tail
        finally:
            halt.set()  # ends generation at the next token if we stopped reading early
            worker.join()  # the streamer's queue is unbounded, so the worker never blocks on it
            usage.tokens_out = self.count_tokens("".join(pieces))
        if failure:
            raise LLMError(f"{self.name}: generation failed: {failure[0]}") from failure[0]

    def choice_logprobs(self, messages: list[ChatMessage], choices: Sequence[str]) -> dict[str, float] | None:
        """Next-token log-probabilities of ``choices`` after the prompt: one forward pass, no sampling."""
        if self.model is None:
            raise LLMError(f"{self.name} was closed")
        import torch

        prompt = self.format_prompt(messages)
        has_template = bool(getattr(self.tokenizer, "chat_template", None))
        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=not has_template)
        with torch.no_grad():
            logits = self.model(**inputs).logits[0, -1].float().numpy()
        self.last_usage = Usage(tokens_in=int(inputs["input_ids"].shape[-1]), tokens_out=1)

        def first_token(text: str) -> int | None:
            ids = self.tokenizer.encode(text, add_special_tokens=False)
            return ids[0] if ids else None

        return first_token_logprobs(logits, choices, first_token)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` in this model's tokenizer (no special tokens)."""
        if not text:
            return 0
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def close(self) -> None:
        """Drop the model so its memory can be freed; safe to call twice."""
        self.model = None


@register("hf")
def _make_hf(spec: str, settings: Settings) -> LLM:
    if not spec.strip():
        raise ModelFileError("'hf:' needs the path of a saved transformers model directory")
    return HFLLM(Path(spec).expanduser(), settings, name=f"hf:{spec}")
