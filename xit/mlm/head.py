"""The masked-language-model head and the MLM pseudo-task head type.

``build_mlm_head`` gives the head the architecture's own ``*ForMaskedLM`` class puts on the encoder
(transformers' ``BertOnlyMLMHead`` for BERT, ``XLMRobertaLMHead`` / ``RobertaLMHead`` for XLM-R and
RoBERTa), with its decoder weight tied to the encoder's word embeddings and its decoder bias tied to the
head's ``bias``, exactly as the ``_tied_weights_keys`` of ``BertForMaskedLM`` / ``XLMRobertaForMaskedLM``
tie them, and with the remaining weights initialised by the encoder's own ``_init_weights``: the
transform's dense N(0, initializer_range), LayerNorm weight 1 / bias 0, decoder bias 0. That is what
``BertForMaskedLM.from_pretrained`` does for a checkpoint that has no MLM head (the converted e5 models).

``MLMHeadType`` lets the training loop treat MLM as one more task: ``featurize`` tokenizes sentences,
``collate`` masks them with ``transformers.DataCollatorForLanguageModeling`` (15 %; 80/10/10) driven
by a seeded generator, ``loss`` is the masked-token cross entropy.

Frozen word embeddings (``TrainConfig.freeze_word_embeddings``): the decoder weight IS the embedding
tensor, so it stays frozen too; only the transform (dense + LayerNorm) and the output bias train.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from xit.errors import XitConfigError
from xit.tasks.heads import IGNORE_INDEX, Decoded, Feature, HeadType, encode, pad_inputs

#: Share of tokens the collator selects for prediction (Devlin et al. 2019; XLM-R, arXiv 1911.02116).
MLM_PROBABILITY = 0.15


def _head_classes() -> dict[str, type[nn.Module]]:
    """The transformers MLM head class of each supported encoder model type."""
    from transformers.models.bert.modeling_bert import BertOnlyMLMHead
    from transformers.models.roberta.modeling_roberta import RobertaLMHead
    from transformers.models.xlm_roberta.modeling_xlm_roberta import XLMRobertaLMHead

    return {"bert": BertOnlyMLMHead, "xlm-roberta": XLMRobertaLMHead, "roberta": RobertaLMHead}


def lm_prediction_module(head: nn.Module) -> nn.Module:
    """The module holding ``decoder`` and ``bias`` (``head.predictions`` for BERT, the head itself otherwise)."""
    return getattr(head, "predictions", head)


def build_mlm_head(encoder_model: nn.Module, seed: int | None = None) -> nn.Module:
    """The architecture's MLM head on ``encoder_model``, decoder tied to its word embeddings, initialised as *ForMaskedLM.

    ``seed``: initialise the head from this seed in a forked RNG (the global RNG is left untouched);
    None draws from the global RNG.
    """
    config = encoder_model.config
    classes = _head_classes()
    if config.model_type not in classes:
        raise XitConfigError(
            f"no MLM head for model type {config.model_type!r} ({type(encoder_model).__name__}); "
            f"continued MLM supports {', '.join(classes)} encoders (e.g. multilingual-e5, XLM-R)"
        )
    embeddings = encoder_model.get_input_embeddings().weight
    if tuple(embeddings.shape) != (config.vocab_size, config.hidden_size):
        raise XitConfigError(f"word embeddings of shape {tuple(embeddings.shape)} do not match config vocab_size x hidden_size {(config.vocab_size, config.hidden_size)}")
    # Built on the meta device and the decoder tensors dropped, so the vocab-sized decoder weight is never
    # allocated (the tie replaces it) and no cast or move below can touch the encoder's embedding tensor.
    with torch.device("meta"):
        head = classes[config.model_type](config)
    lm = lm_prediction_module(head)
    lm.decoder.weight, lm.decoder.bias = None, None
    head.to_empty(device="cpu")
    # Initialised on CPU so the seed alone fixes it, whatever device the encoder is on.
    with torch.random.fork_rng(devices=[]) if seed is not None else nullcontext():
        if seed is not None:
            torch.manual_seed(seed)
        for module in head.modules():
            encoder_model._init_weights(module)
    head.to(device=embeddings.device, dtype=embeddings.dtype)
    lm.decoder.weight = embeddings
    lm.decoder.bias = lm.bias
    return head


def head_state_dict(head: nn.Module) -> dict[str, torch.Tensor]:
    """The head's own weights (transform + bias), without the decoder tensors it shares with the encoder."""
    return {k: v for k, v in head.state_dict().items() if ".decoder." not in f".{k}"}


def load_head_state(encoder_model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """Rebuild a saved MLM head on ``encoder_model`` (tied again) from ``head_state_dict`` output."""
    head = build_mlm_head(encoder_model, seed=0)
    missing, unexpected = head.load_state_dict(state, strict=False)
    missing = [k for k in missing if ".decoder." not in f".{k}"]
    if missing or unexpected:
        raise XitConfigError(f"saved MLM head does not fit this encoder: missing {missing}, unexpected {unexpected}")
    return head


@dataclass(frozen=True)
class MLMTaskSpec:
    """The MLM pseudo-task as the training loop sees a task: a name, head type 'mlm' and its metrics."""

    name: str = "mlm"
    head: str = "mlm"
    metrics: tuple[str, ...] = ("accuracy", "nll")
    main_metric: str = "accuracy"


class MLMHeadType(HeadType):
    """Continued masked-language modelling as a task: sentences in, masked-token cross entropy out.

    ``collate`` masks dynamically (a fresh mask each time a sentence is batched, as RoBERTa) from one
    generator seeded with ``seed``; features masked once by ``mask_once`` (dev sets) keep their masks.
    """

    name = "mlm"
    label_keys = ("labels",)

    def __init__(self, encoder_model: nn.Module, seed: int = 0, mlm_probability: float = MLM_PROBABILITY):
        if not isinstance(mlm_probability, (int, float)) or not 0 < mlm_probability < 1:
            raise XitConfigError(f"mlm_probability={mlm_probability!r} must be in (0, 1); BERT and XLM-R use 0.15")
        self.encoder_model = encoder_model
        self.seed = int(seed)
        self.mlm_probability = float(mlm_probability)
        self._collator: Any = None

    def build(self, spec: Any, hidden_size: int, pooling: str = "first") -> nn.Module:
        if hidden_size != self.encoder_model.config.hidden_size:
            raise XitConfigError(f"hidden_size={hidden_size} differs from the encoder's {self.encoder_model.config.hidden_size}")
        return build_mlm_head(self.encoder_model, seed=self.seed)

    def featurize(self, spec: Any, examples: Any, tokenizer: Any, max_length: int) -> list[Feature]:
        """Sentences (strings, or dicts with 'text') -> unpadded token ids with their special-token mask."""
        texts = [ex if isinstance(ex, str) else ex["text"] for ex in examples]
        if not texts:
            return []
        enc = tokenizer(texts, truncation=True, max_length=max_length, return_special_tokens_mask=True)
        keys = [k for k in ("input_ids", "attention_mask", "token_type_ids", "special_tokens_mask") if k in enc]
        return [{**{k: enc[k][i] for k in keys}, "example_index": i} for i in range(len(texts))]

    def collator(self, tokenizer: Any, seed: int | None = None) -> Any:
        """A DataCollatorForLanguageModeling with its own seeded torch generator."""
        from transformers import DataCollatorForLanguageModeling

        if tokenizer.mask_token is None:
            raise XitConfigError(f"tokenizer {type(tokenizer).__name__} has no mask token; MLM needs one")
        return DataCollatorForLanguageModeling(
            tokenizer, mlm=True, mlm_probability=self.mlm_probability, seed=self.seed if seed is None else seed, return_tensors="pt"
        )

    def _mask(self, collator: Any, features: list[Feature], tokenizer: Any, pad_to: int | None) -> dict[str, torch.Tensor]:
        """Pad features (special-token mask padded with 1, so padding is never masked) and mask them."""
        keys = [k for k in ("input_ids", "attention_mask", "token_type_ids", "special_tokens_mask") if k in features[0]]
        rows = [{k: f[k] for k in keys} for f in features]
        if pad_to:
            rows = tokenizer.pad(rows, padding="max_length", max_length=pad_to)
            rows = [{k: rows[k][i] for k in keys} for i in range(len(features))]
        return dict(collator(rows))

    def collate(self, features: list[Feature], tokenizer: Any, pad_to: int | None = None) -> dict[str, torch.Tensor]:
        if all("labels" in f for f in features):  # masked once (dev): pad inputs and labels as they are
            batch = pad_inputs(tokenizer, features, pad_to)
            labels = torch.full(batch["input_ids"].shape, IGNORE_INDEX, dtype=torch.long)
            for i, f in enumerate(features):
                labels[i, : len(f["labels"])] = torch.tensor(f["labels"], dtype=torch.long)
            batch["labels"] = labels
            return batch
        if self._collator is None:
            self._collator = self.collator(tokenizer)
        return self._mask(self._collator, features, tokenizer, pad_to)

    def mask_once(self, features: list[Feature], tokenizer: Any, seed: int) -> list[Feature]:
        """Copies of ``features`` with one fixed mask each (input_ids masked, labels set): dev sets score the same masks every time."""
        collator = self.collator(tokenizer, seed=seed)
        out = []
        for f in features:
            batch = self._mask(collator, [f], tokenizer, None)
            n = len(f["input_ids"])
            out.append({**f, "input_ids": batch["input_ids"][0, :n].tolist(), "labels": batch["labels"][0, :n].tolist()})
        return out

    def rng_state(self) -> torch.Tensor | None:
        """The training collator's generator state (for checkpoints); None before the first batch."""
        generator = getattr(self._collator, "generator", None)
        return generator.get_state() if isinstance(generator, torch.Generator) else None

    def set_rng_state(self, tokenizer: Any, state: torch.Tensor) -> None:
        """Resume masking where a checkpoint left off."""
        self._collator = self.collator(tokenizer)
        self._collator.generator = torch.Generator().set_state(state)
        self._collator._generator_pid = os.getpid()  # the collator re-seeds when the pid differs

    def logits(self, encoder: nn.Module, head: nn.Module, batch: dict[str, torch.Tensor], input_keys: Sequence[str]) -> torch.Tensor:
        """Vocabulary logits at the masked positions only, (n_masked, vocab): the full (batch, seq, 250k) tensor is never built."""
        hidden = encode(encoder, batch, input_keys)
        return head(hidden[batch["labels"] != IGNORE_INDEX])

    def loss(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean cross entropy over the masked tokens (BertForMaskedLM's loss); 0 for a batch without any."""
        labels = batch["labels"]
        targets = labels[labels != IGNORE_INDEX]
        if targets.numel() == 0:
            return logits.sum() * 0.0
        return nn.functional.cross_entropy(logits.float(), targets)

    def feature_outputs(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> list[np.ndarray]:
        """Per feature, one row per masked token: (gold id, predicted id, negative log-likelihood of gold)."""
        labels = batch["labels"]
        targets = labels[labels != IGNORE_INDEX]
        logp = torch.log_softmax(logits.detach().float(), dim=-1)
        rows = torch.stack([targets.double(), logp.argmax(-1).double(), -logp.gather(1, targets[:, None])[:, 0].double()], dim=1)
        counts = (labels != IGNORE_INDEX).sum(dim=1).tolist()
        return [part.cpu().numpy() for part in torch.split(rows, counts)]

    def decode(self, spec: Any, examples: Any, features: list[Feature], outputs: list[np.ndarray]) -> Decoded:
        """Predictions {'tokens', 'nll'} and gold token ids per sentence."""
        ids = [str(f["example_index"]) for f in features]
        predictions = [{"tokens": out[:, 1].astype(int).tolist(), "nll": out[:, 2].tolist()} for out in outputs]
        references = [out[:, 0].astype(int).tolist() for out in outputs]
        return Decoded(ids, predictions, references)

    def metrics(self, decoded: Decoded) -> dict[str, float]:
        """Masked-token accuracy (0-100) and mean negative log-likelihood (nats) over all masked tokens."""
        return masked_token_metrics(decoded.predictions, decoded.references)

    def baseline_note(self) -> str:
        return "masked-token accuracy of the untrained head (near 0); nll near log(vocab size)"


def masked_token_metrics(predictions: Sequence[dict[str, list]], references: Sequence[list[int]]) -> dict[str, float]:
    """Accuracy (0-100) and mean nll over every masked token of every sentence."""
    if len(predictions) != len(references):
        raise XitConfigError(f"{len(predictions)} predictions for {len(references)} references")
    gold = np.concatenate([np.asarray(r, dtype=np.int64) for r in references]) if references else np.zeros(0, np.int64)
    pred = np.concatenate([np.asarray(p["tokens"], dtype=np.int64) for p in predictions]) if predictions else np.zeros(0, np.int64)
    nll = np.concatenate([np.asarray(p["nll"], dtype=np.float64) for p in predictions]) if predictions else np.zeros(0)
    if gold.size == 0:
        return {"accuracy": float("nan"), "nll": float("nan")}
    return {"accuracy": float(100.0 * np.mean(pred == gold)), "nll": float(np.mean(nll))}
