"""Continued multilingual MLM as one more task of the training loop (the control of Phang et al., arXiv 2005.13013).

A recipe with ``mlm_corpus`` set trains a pseudo-task ``mlm`` beside (or, with no English tasks, instead
of) the English tasks: same loop, sampler, budget, optimizer and frozen parts, so an MLM run and a task
run differ only in the objective and the text. Its head is the architecture's own MLM head tied to the
word embeddings (``xit.mlm.build_mlm_head``); its corpus holds no sentence of any evaluation target.
"""

from __future__ import annotations

from typing import Any

from xit.training.config import TrainConfig
from xit.training.data import TaskData

#: The pseudo-task's name in train logs, dev metrics and task mixes.
MLM_TASK = "mlm"


def mlm_task_data(config: TrainConfig, encoder_model: Any, tokenizer: Any) -> TaskData:
    """The MLM pseudo-task of a run: corpus split into train and fixed-mask dev sentences, head type tied to the encoder."""
    from xit.mlm import MLMCorpusSpec, MLMHeadType, MLMTaskSpec, load_mlm_corpus

    spec = MLMCorpusSpec.from_dict(config.mlm_corpus, "train.mlm_corpus")
    corpus = load_mlm_corpus(config.data_dir, seed=config.seed, spec=spec)
    train_sentences, dev_sentences = corpus.split(config.mlm_dev_sentences)
    caps = config.max_train_examples
    cap = caps.get(MLM_TASK, caps.get("*")) if isinstance(caps, dict) else caps
    if config.max_steps:  # no sentence is needed twice: featurise only what the budget can reach
        reach = config.max_steps * config.batch_size * config.gradient_accumulation
        cap = reach if cap is None else min(cap, reach)
    if cap is not None:
        train_sentences = train_sentences[:cap]
    head_type = MLMHeadType(encoder_model, seed=config.seed, mlm_probability=config.mlm_probability)
    task = TaskData(MLMTaskSpec(), head_type, train_sentences, dev_sentences)
    task.train_features = head_type.featurize(task.spec, train_sentences, tokenizer, config.max_length)
    dev = head_type.featurize(task.spec, dev_sentences, tokenizer, config.max_length)
    task.dev_features = head_type.mask_once(dev, tokenizer, seed=config.seed + 1)
    return task


def is_mlm(task: TaskData) -> bool:
    """True for the MLM pseudo-task."""
    return getattr(task.spec, "head", None) == "mlm"
