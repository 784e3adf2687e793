"""`TaskSpec`: one small declarative entry per English intermediate task."""

from __future__ import annotations

from dataclasses import dataclass, field

#: The head types a task can declare; each has one canonical example schema (docs/contracts.md).
HEAD_NAMES = ("classification", "regression", "span", "multiple_choice", "tagging", "ner")
#: The canonical split names every task answers to.
SPLITS = ("train", "dev")


@dataclass(frozen=True)
class HubSource:
    """One Hugging Face hub split that feeds a canonical split (``datasets.load_dataset(hub_id, config, split=split)``)."""

    hub_id: str
    config: str | None
    split: str


@dataclass(frozen=True)
class Carve:
    """Offline rule for dev-only data: the files of ``source`` are split by group into train and a held-out dev.

    Groups (article, context, activity ...) are ordered by a salted sha1 of their key and the first
    ``heldout_fraction`` of them (rounded up) are held out, so the split depends only on the data,
    never on ``max_examples`` or file order.
    """

    group: str
    heldout_fraction: float = 0.2
    #: A fixed list of held-out groups instead of the hashed fill (used to align SQuAD v1.1 with v2.0's dev).
    heldout_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class TaskSpec:
    """Everything xit needs to know about one task: data (hub and local), reader, head, labels, metric, license."""

    name: str
    head: str
    description: str
    reader: str
    license: str
    non_commercial: bool = False
    #: Label names in id order (classification, tagging, ner); empty for span / regression / multiple choice.
    labels: tuple[str, ...] = ()
    num_choices: int | None = None
    #: Metric names computed by `xit.tasks.metrics.compute_metrics`; ``main_metric`` is the one reported alone.
    metrics: tuple[str, ...] = ()
    main_metric: str = ""
    #: Hub id shown to users, and the hub splits that make each canonical split (concatenated).
    hub_id: str | None = None
    hub_config: str | None = None
    hub_splits: dict[str, tuple[HubSource, ...]] = field(default_factory=dict)
    #: Local files relative to the data root, per canonical split; with ``carve`` the key is "pool".
    local_files: dict[str, tuple[str, ...]] = field(default_factory=dict)
    carve: Carve | None = None
    #: The offline definition in words (which files make train and dev, and how).
    offline_rule: str = ""
    #: The name to use in results when the offline data differ from the hub task (e.g. "ANLI+ (R1-R3 + SNLI)").
    offline_name: str = ""

    def __post_init__(self) -> None:
        if self.head not in HEAD_NAMES:
            raise ValueError(f"task {self.name!r}: head {self.head!r} is not one of {', '.join(HEAD_NAMES)}")
        if self.main_metric and self.main_metric not in self.metrics:
            raise ValueError(f"task {self.name!r}: main_metric {self.main_metric!r} is not in metrics {self.metrics}")
        if self.head == "multiple_choice" and not self.num_choices:
            raise ValueError(f"task {self.name!r}: multiple_choice needs num_choices")
        if self.carve is not None and "pool" not in self.local_files:
            raise ValueError(f"task {self.name!r}: a carved task lists its files under local_files['pool']")

    @property
    def num_labels(self) -> int:
        """Output size of the head: number of labels, choices, or 1 for regression / span."""
        if self.head == "multiple_choice":
            return int(self.num_choices or 0)
        return len(self.labels) if self.labels else 1

    @property
    def has_offline_data(self) -> bool:
        """True if the task defines local files (whether they are present is checked at load time)."""
        return bool(self.local_files)

    def label_id(self, name: str) -> int:
        """The stable id of a label name; an unknown name fails naming the label set."""
        try:
            return self.labels.index(name)
        except ValueError:
            raise ValueError(f"task {self.name!r}: label {name!r} is not one of {list(self.labels)[:20]}") from None
