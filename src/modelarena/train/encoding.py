"""Training examples as token ids and labels, exactly as the served model reads them.

The conversation is rendered and tokenized by the model's own chat template and
vocabulary (`engines.chat_tokens`, what the engine serves with), its configured system
prompt added as the engine adds it. Only the assistant's turns are learned: for each one,
the tokens after the prompt the engine would send for it (the messages before it, with
the generation prompt) up to the end of its turn — its text and the template's closing
markup, so the model learns to stop.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from modelarena.engines.chat_tokens import ChatTokens, NoChatTemplate
from modelarena.engines.llama_runtime import init_backend
from modelarena.train.preferences import Preference
from modelarena.train.sources import Example

IGNORED = -100  # the label of a token the loss leaves out


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]
    origin: str = ""

    @property
    def learned(self) -> int:
        return sum(1 for label in self.labels if label != IGNORED)

    @property
    def width(self) -> int:
        return len(self.input_ids)

    rows = 1


@dataclass(frozen=True)
class EncodedPair:
    """A preference pair: the same conversation ending in the chosen and the rejected
    answer, only the final answer learned in each."""

    chosen: Encoded
    rejected: Encoded
    origin: str = ""
    reference: tuple[float, float] | None = None  # the starting model's log-probabilities

    @property
    def width(self) -> int:
        return max(self.chosen.width, self.rejected.width)

    rows = 2


class TokenizerChat:
    """A Hugging Face checkpoint's own tokenizer and chat template, for a base with no
    GGUF. Unlike the engine's tokens, text in a message that spells a control token is not
    kept plain: transformers renders and tokenizes the whole chat at once."""

    def __init__(self, folder: Path) -> None:
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        if not self.tokenizer.chat_template:
            raise NoChatTemplate(f"the checkpoint in {folder} has no chat template")
        self.eos_id = self.tokenizer.eos_token_id

    def chat(self, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> list[int]:
        ids = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=add_generation_prompt, tokenize=True
        )
        return list(ids["input_ids"] if isinstance(ids, Mapping) else ids)


class Encoder:
    def __init__(
        self,
        gguf: Path | None,
        name: str,
        chat_template: str | None,
        system_prompt: str | None,
        max_length: int,
        folder: Path | None = None,
    ) -> None:
        """Encodes with the GGUF's vocabulary and template (what the engine serves with),
        or, with no GGUF, the tokenizer of the checkpoint `folder`."""
        import llama_cpp as llama

        self._model = None
        self.tokens: ChatTokens | TokenizerChat
        if gguf is None:
            if folder is None:
                raise ValueError("an encoder needs a GGUF or a checkpoint folder")
            self.tokens = TokenizerChat(folder)
        else:
            init_backend()
            params = llama.llama_model_default_params()
            params.vocab_only = True  # the vocabulary and metadata, no weights
            self._model = llama.llama_model_load_from_file(str(gguf).encode(), params)
            if not self._model:
                raise ValueError(f"llama.cpp cannot read the vocabulary of {gguf}")
            self.tokens = ChatTokens(self._model, name, chat_template)
        self.system_prompt = system_prompt
        self.max_length = max_length
        self.skipped: Counter = Counter()

    def encode_all(self, examples: list[Example]) -> list[Encoded]:
        encoded = [self.encode(example) for example in examples]
        return [e for e in encoded if e is not None]

    def encode(self, example: Example, last_only: bool = False) -> Encoded | None:
        """The example's tokens, its assistant turns learned (only the last with
        `last_only`); None, counted in `skipped`, when it cannot be used."""
        messages = [dict(m) for m in example.messages]
        if self.system_prompt and messages[0]["role"] != "system":
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        try:
            ids = self.tokens.chat(messages, add_generation_prompt=False)
        except Exception as exc:  # the template refused the dialogue (roles out of order)
            self.skipped[f"the chat template refused it ({type(exc).__name__})"] += 1
            return None
        labels = [IGNORED] * len(ids)
        answers = [i for i, message in enumerate(messages) if message["role"] == "assistant"]
        for index in answers[-1:] if last_only else answers:
            prompt = self.tokens.chat(messages[:index], add_generation_prompt=True)
            through = self.tokens.chat(messages[: index + 1], add_generation_prompt=False)
            if through[: len(prompt)] != prompt or ids[: len(through)] != through:
                self.skipped["its turns do not tokenize as prefixes of each other"] += 1
                return None
            labels[len(prompt) : len(through)] = ids[len(prompt) : len(through)]
        ids, labels = ids[: self.max_length], labels[: self.max_length]
        if all(label == IGNORED for label in labels):
            self.skipped[f"no answer within max_length {self.max_length}"] += 1
            return None
        return Encoded(ids, labels, example.origin)

    def encode_pairs(self, pairs: list[Preference]) -> list[EncodedPair]:
        """The pairs that encode; a pair left out counts once, for its first reason."""
        encoded = []
        for pair in pairs:
            before = Counter(self.skipped)
            prompt = tuple(pair.prompt)
            chosen = self.encode(Example((*prompt, _answer(pair.chosen)), pair.origin), True)
            rejected = self.encode(Example((*prompt, _answer(pair.rejected)), pair.origin), True)
            if chosen is not None and rejected is not None:
                encoded.append(EncodedPair(chosen, rejected, pair.origin))
            else:
                reason = next(iter(self.skipped - before))
                self.skipped = before
                self.skipped[reason] += 1
        return encoded

    def close(self) -> None:
        import llama_cpp as llama

        if self._model:
            llama.llama_model_free(self._model)
            self._model = None


def _answer(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}
