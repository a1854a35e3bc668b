"""The ``hf:`` backend on a tiny random Llama the test builds and saves itself (no downloads)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.llm import LLMError, ModelFileError, load_llm
from agent.settings import Settings

pytestmark = pytest.mark.slow  # imports torch + transformers: several seconds on 2 cores

SENTENCES = [
    "dense retrieval uses two encoders",
    "sparse retrieval uses bm25 scores",
    "the abstracts do not say",
    "papers report accuracy on benchmarks",
]
SPECIALS = ["[UNK]", "[PAD]", "[EOS]"]
TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }} says {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}assistant says{% endif %}"
)


def build_tiny_model(directory: Path, *, chat_template: str | None) -> Path:
    """Train a word-level tokenizer on a few sentences and save it with a 2-layer random Llama."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    raw = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    raw.train_from_iterator(SENTENCES + ["user system assistant says :"], trainers.WordLevelTrainer(special_tokens=SPECIALS))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]")
    if chat_template:
        tokenizer.chat_template = chat_template

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=raw.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        eos_token_id=None,  # never stop early: generation always runs to max_new_tokens
    )
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # special tokens get logit 0, below the (almost surely positive) best word
        for token in SPECIALS:
            model.lm_head.weight[tokenizer.convert_tokens_to_ids(token)] = 0.0
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def plain_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-plain"), chat_template=None)


@pytest.fixture(scope="module")
def templated_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-chat"), chat_template=TEMPLATE)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, llm={"max_tokens": 6, "n_ctx": 4096})


MESSAGES = [{"role": "system", "content": "dense retrieval"}, {"role": "user", "content": "sparse retrieval uses"}]


def test_streams_greedy_tokens_from_local_directory(plain_model: Path, settings: Settings):
    llm = load_llm(f"hf:{plain_model}", settings)
    assert llm.context_window == 128
    assert llm.format_prompt(MESSAGES) == "system: dense retrieval\nuser: sparse retrieval uses\nassistant:"
    pieces = list(llm.stream(MESSAGES))
    text = "".join(pieces)
    assert len(pieces) >= 2 and text.strip()
    assert llm.last_usage.tokens_out == 6
    assert llm.last_usage.tokens_in == llm.count_tokens(llm.format_prompt(MESSAGES))
    assert llm.complete(MESSAGES) == text  # greedy is deterministic
    assert llm.count_tokens("dense retrieval uses two encoders") == 5

    early = llm.stream(MESSAGES)
    assert next(early) == pieces[0]
    early.close()  # stops the worker thread; the model is usable again at once
    assert llm.complete(MESSAGES, max_tokens=1) == pieces[0]
    llm.close()
    llm.close()
    with pytest.raises(LLMError, match="closed"):
        llm.complete(MESSAGES)


def test_stop_strings_and_max_tokens(plain_model: Path, settings: Settings):
    llm = load_llm(f"hf:{plain_model}", settings)
    words = llm.complete(MESSAGES).split()
    assert len(words) == 6
    assert llm.complete(MESSAGES, max_tokens=2).split() == words[:2]
    stop_word = words[2]
    expected = " ".join(words[: words.index(stop_word)])
    assert llm.complete(MESSAGES, stop=[stop_word]).strip() == expected


def test_uses_chat_template_when_present(templated_model: Path, settings: Settings):
    llm = load_llm(f"hf:{templated_model}", settings)
    assert llm.format_prompt(MESSAGES) == "system says dense retrieval user says sparse retrieval uses assistant says"
    assert llm.complete(MESSAGES).strip()


def test_unloadable_directory_is_model_file_error(tmp_path: Path, settings: Settings):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelFileError):
        load_llm(f"hf:{tmp_path}", settings)


def test_choice_logprobs_agree_with_greedy_generation(plain_model: Path, settings: Settings):
    import math

    llm = load_llm(f"hf:{plain_model}", settings)
    first = llm.complete(MESSAGES, max_tokens=1)
    other = "dense" if first.strip() != "dense" else "sparse"
    probs = llm.choice_logprobs(MESSAGES, [first.strip(), other])
    assert probs is not None and probs[first.strip()] >= probs[other]
    assert sum(math.exp(v) for v in probs.values()) <= 1 + 1e-6
    assert llm.last_usage.tokens_out == 1
