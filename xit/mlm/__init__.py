"""Continued multilingual masked-language modelling: the control of Phang et al. (arXiv 2005.13013).

``build_mlm_head`` / ``MLMHeadType`` (the MLM head tied to the encoder's embeddings, and MLM as a
training-loop task) and ``load_mlm_corpus`` / ``MLMCorpusSpec`` (non-English text free of every
evaluation target's sentences). See docs/training.md, "Continued MLM (control)".
"""

from xit.mlm.corpus import UNEVALUATED, MLMCorpus, MLMCorpusSpec, evaluation_sentences, load_mlm_corpus
from xit.mlm.head import (
    MLM_PROBABILITY, MLMHeadType, MLMTaskSpec, build_mlm_head, head_state_dict, load_head_state, masked_token_metrics,
)

__all__ = [
    "MLM_PROBABILITY", "UNEVALUATED", "MLMCorpus", "MLMCorpusSpec", "MLMHeadType", "MLMTaskSpec", "build_mlm_head",
    "evaluation_sentences", "head_state_dict", "load_head_state", "load_mlm_corpus", "masked_token_metrics",
]
