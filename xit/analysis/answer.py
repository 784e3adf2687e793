"""The answer the report opens with: every finding computed once, the primary endpoint's effect sizes in the order
the report tells them, and a few sentences written from those numbers (markdown)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from xit.analysis import controls, findings, stats
from xit.analysis.inputs import AnalysisInputs
from xit.analysis.multiplicity import holm
from xit.analysis.results import describe_missing, missing_runs


@dataclass(frozen=True)
class Findings:
    """The tables of findings (1)-(7) for one results table (see xit.analysis.findings and xit.analysis.controls)."""

    primary_label: str
    primary_source: str
    endpoint: pd.DataFrame
    training: pd.DataFrame
    task_effects: pd.DataFrame
    k_effect: pd.DataFrame
    all_vs_best: pd.DataFrame
    spread: pd.DataFrame
    seeds: pd.DataFrame
    languages: pd.DataFrame
    layers: pd.DataFrame
    worst_items: pd.DataFrame
    controls: pd.DataFrame
    interpolation: pd.DataFrame
    interpolation_peaks: pd.DataFrame
    drift: pd.DataFrame
    mlm: pd.DataFrame


def compute_findings(inputs: AnalysisInputs, n_boot: int = 2000, n_perm: int = 999, seed: int = 0,
                     worst_items: bool = True) -> Findings:
    """Every finding of the report, in order, from one set of inputs (seeded: the same table gives the same numbers).
    worst_items=False skips the per-run worst-language item bootstrap, which the answer paragraph does not use."""
    fit = findings.task_count_effect(inputs, n_perm=n_perm, n_boot=n_boot, seed=seed)
    return Findings(
        primary_label=inputs.primary.label, primary_source=inputs.primary.source,
        endpoint=findings.endpoint_table(inputs),
        training=findings.training_vs_none(inputs, n_boot=n_boot, seed=seed),
        task_effects=findings.task_effects_table(fit, inputs),
        k_effect=findings.k_effect_table(fit, inputs),
        all_vs_best=findings.paired_all_vs_best(inputs, n_boot=n_boot, seed=seed),
        spread=findings.spread_vs_additive(inputs, n_sim=n_boot, seed=seed),
        seeds=findings.seed_spread(inputs),
        languages=findings.language_spread(inputs, n_boot=n_boot, seed=seed),
        layers=findings.layers_table(inputs),
        worst_items=(findings.worst_language_items(inputs, n_boot=n_boot, seed=seed) if worst_items
                     else pd.DataFrame({"note": ["not computed (worst_items=False)"]})),
        controls=controls.controls_table(inputs),
        interpolation=(curve := controls.interpolation_curve(inputs)),
        interpolation_peaks=controls.interior_peaks(inputs, curve, n_boot=n_boot, seed=seed),
        drift=controls.drift_table(inputs),
        mlm=controls.mlm_comparison(inputs, n_boot=n_boot, seed=seed),
    )


def _get(table: pd.DataFrame, column: str, default=np.nan):
    return table[column].iloc[0] if column in table.columns and len(table) else default


def _primary_row(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["endpoint"] == "primary"] if "endpoint" in table.columns else table


def effect_sizes(found: Findings) -> pd.DataFrame:
    """The primary endpoint's effect sizes (points) in the report's order: section, effect, estimate, interval, note.
    Rows without an estimate keep their note (the figure leaves them out)."""
    rows = []

    def add(section: str, effect: str, table: pd.DataFrame, estimate: str, low: str = "ci_low", high: str = "ci_high"):
        rows.append({"section": section, "effect": effect, "estimate": float(_get(table, estimate)),
                     "ci_low": float(_get(table, low)), "ci_high": float(_get(table, high)), "note": str(_get(table, "note", "") or "")})

    add("2 training vs none", "trained − untrained (mean over task runs)", _primary_row(found.training), "difference")
    for _, row in found.task_effects.iterrows():
        if "task" in row and pd.notna(row.get("task")):
            add("3 per-task effects", f"task {row['task']} ({row['estimate']})", row.to_frame().T, "effect")
    k = _primary_row(found.k_effect)
    if pd.notna(_get(k, "k_effect_fixed_total")):  # both budget policies: more tasks and more steps apart
        add("4 k beyond composition", "log2(k) term at the same steps per task: points per doubling of k", k, "k_effect",
            "k_ci_low", "k_ci_high")
        add("4 k beyond composition", "log2(k) term at the same total steps: points per doubling of k", k,
            "k_effect_fixed_total", "k_total_ci_low", "k_total_ci_high")
        add("4 k beyond composition", "log2(steps per task) term on the same tasks: points per doubling", k,
            "budget_effect", "budget_ci_low", "budget_ci_high")
    else:
        add("4 k beyond composition", "log2(k) term: points per doubling of k", k, "k_effect", "k_ci_low", "k_ci_high")
    for language, text in (("mean", "largest-k run − best single task (paired items)"),
                           ("worst", "worst language: largest-k run − best single task (paired items)")):
        part = found.all_vs_best[found.all_vs_best["language"] == language] if "language" in found.all_vs_best else found.all_vs_best
        add("4 k beyond composition" if language == "mean" else "5 robustness", text, part, "difference")
    spread = found.spread.dropna(subset=["excess"]) if "excess" in found.spread else found.spread.iloc[:0]
    for _, row in spread.iterrows():
        add("5 robustness", f"subset spread beyond additive at k={int(row['k'])} (SD points)", row.to_frame().T, "excess",
            "excess_ci_low", "excess_ci_high")
    shown = found.controls["kind"].notna() & (found.controls["kind"] != "interpolation")  # alpha_curve draws those
    for _, row in found.controls[shown].iterrows():
        alpha = f" α={row['alpha']:g}" if pd.notna(row.get("alpha")) else ""
        seed = f" seed {int(row['seed'])}" if pd.notna(row.get("seed")) else ""  # one row per seed: say which
        add("6 controls", f"{row['kind']}{alpha} on {row['tasks']}{seed} − task run", row.to_frame().T, "control_minus_task",
            "ci_low", "ci_high")
    return pd.DataFrame(rows)


def _points(x: float) -> str:
    return f"{_signed(x)} points"


def _signed(x: float, digits: int = 1) -> str:
    """x with its sign; one more digit while it would round to a signed zero ("-0.0" hides which side of 0 it is)."""
    while x != 0 and round(abs(x), digits) == 0 and digits < 4:
        digits += 1
    return f"{x:+.{digits}f}"


def _interval(low: float, high: float, note: str, digits: int = 1) -> str:
    if pd.notna(low) and pd.notna(high):
        return f"95% CI {_signed(low, digits)} to {_signed(high, digits)}"
    return note or "no interval"


def _training_sentence(found: Findings) -> str:
    row = _primary_row(found.training)
    diff = float(_get(row, "difference"))
    if np.isnan(diff):
        return f"Training versus none could not be measured: {_get(row, 'note', '') or 'no trained runs'}."
    p = float(_get(row, "p_value"))
    p_text = f", p = {p:.3g}" if not np.isnan(p) else ""
    return (f"Intermediate-task training changed it by **{_points(diff)}** on average over {int(_get(row, 'n_runs'))} task runs "
            f"against the untrained encoder's {float(_get(row, 'untrained')):.1f} "
            f"({_interval(_get(row, 'ci_low'), _get(row, 'ci_high'), _get(row, 'note', ''))}{p_text}).")


def _describe_task(row: pd.Series) -> str:
    return f"{row['task']} ({_points(row['effect'])}, {_interval(row['ci_low'], row['ci_high'], 'no interval')}; {row['estimate']})"


def _task_effect_sentences(found: Findings) -> list[str]:
    """The range of per-task effects, over the tasks with an interval where some lack one (too few runs)."""
    effects = found.task_effects.dropna(subset=["effect"]) if "effect" in found.task_effects else found.task_effects.iloc[:0]
    if effects.empty:
        return []
    with_interval = effects[effects["ci_low"].notna()]
    scarce = effects[effects["ci_low"].isna()] if len(with_interval) else effects.iloc[:0]
    ranked = (with_interval if len(with_interval) else effects).sort_values("effect", ascending=False)
    best, worst = ranked.iloc[0], ranked.iloc[-1]
    which = "Per-task effects" if scarce.empty else "Per-task effects of the tasks with an interval"
    # "Largest effect" would name the smallest loss when every task lowers the score: say which way they go.
    if len(ranked) == 1:
        out = [f"The one per-task effect{' with an interval' if len(scarce) else ''} is {_describe_task(best)}."]
    elif best["effect"] < 0:
        out = [f"{which} are all losses: the smallest is {_describe_task(best)}, the largest {_describe_task(worst)}."]
    elif worst["effect"] > 0:
        out = [f"{which} are all gains: the largest is {_describe_task(best)}, the smallest {_describe_task(worst)}."]
    else:
        out = [f"{which} range from {_describe_task(worst)} to {_describe_task(best)}."]
    if len(scarce):
        out.append(f"{', '.join(sorted(scarce['task']))} {'is' if len(scarce) == 1 else 'are'} in too few runs for an "
                   f"interval ({scarce['effect'].min():+.1f} to {scarce['effect'].max():+.1f} points).")
    return out


def _k_sentences(found: Findings) -> list[str]:
    """The k effect beyond composition; where the amount per task varies, at the same steps per task and at the same
    total (Holm over the two), and what doubling the steps per task does."""
    k = _primary_row(found.k_effect)
    if pd.isna(_get(k, "k_effect")):
        return [f"The effect of k beyond composition is {str(_get(k, 'note', 'not estimated')).rstrip('.')}."]
    note = _get(k, "note", "")
    estimate = lambda value, low, high, p: (f"{float(_get(k, value)):+.2f} points ({_interval(_get(k, low), _get(k, high), note, 2)}"
                                           + (f", permutation p = {float(_get(k, p)):.3g}" if pd.notna(_get(k, p)) else "") + ")")
    if pd.isna(_get(k, "k_effect_fixed_total")):
        out = [f"Beyond which tasks were chosen, doubling k changes the score by {estimate('k_effect', 'k_ci_low', 'k_ci_high', 'p_value')}."]
    else:
        pair = [float(_get(k, "p_value")), float(_get(k, "p_value_fixed_total"))]
        adjusted = holm(pair) if not np.isnan(pair).any() else None
        out = [f"Beyond which tasks were chosen, doubling k at the same steps per task (so twice the total) changes the "
               f"score by {estimate('k_effect', 'k_ci_low', 'k_ci_high', 'p_value')}; at the same total steps (half as "
               f"many per task) by {estimate('k_effect_fixed_total', 'k_total_ci_low', 'k_total_ci_high', 'p_value_fixed_total')}"
               + (f"; Holm over the two: {adjusted[0]:.3g} and {adjusted[1]:.3g}" if adjusted is not None else "") + ". "
               f"Doubling the steps per task on the same tasks changes it by {float(_get(k, 'budget_effect')):+.2f} points "
               f"({_interval(_get(k, 'budget_ci_low'), _get(k, 'budget_ci_high'), note, 2)})."]
    if str(_get(k, "runs_note", "") or ""):
        out.append(f"This k effect and the subset spread below use {_get(k, 'runs_note')}.")
    return out


def _task_sentences(found: Findings) -> list[str]:
    out = _task_effect_sentences(found) + _k_sentences(found)
    mean = found.all_vs_best[found.all_vs_best["language"] == "mean"] if "language" in found.all_vs_best else found.all_vs_best.iloc[:0]
    if len(mean):
        out.append(f"On the same items, the largest-k run ({_get(mean, 'run_a')}, k = {int(_get(mean, 'k_a'))}) scores "
                   f"{_points(float(_get(mean, 'difference')))} against the best single-task run ({_get(mean, 'run_b')}; paired "
                   f"{_interval(_get(mean, 'ci_low'), _get(mean, 'ci_high'), _get(mean, 'note', ''))}).")
    return out


def _robustness_sentences(found: Findings) -> list[str]:
    out = []
    languages = found.languages
    if len(languages):
        last = languages.sort_values("k").iloc[-1]
        out.append(f"At k={int(last['k'])}{_at_arm(languages)} the worst language ({last['most_often_worst']} most often) scores "
                   f"{last['worst']:.1f} and the bottom quartile {last['bottom_quartile']:.1f}, against a mean of {last['mean']:.1f}.")
    tested = found.spread.dropna(subset=["p_value"]) if "p_value" in found.spread else found.spread.iloc[:0]
    if len(tested):
        tested = tested.assign(p_holm=holm(tested["p_value"].to_numpy(dtype=float)))
        worst = tested.sort_values("p_value").iloc[0]
        # the p tests lack of fit of the subset means; the excess compares SDs: say which is which, and the verdict
        verdict = ("no k shows more spread between subsets than additive task effects and seed noise explain"
                   if tested["p_holm"].min() >= 0.05 else
                   "subsets differ beyond additive task effects at k = " + ", ".join(str(int(k)) for k in tested.loc[tested["p_holm"] < 0.05, "k"]))
        out.append(f"Subset spread against the additive model: {verdict} (lack-of-fit p smallest at k={int(worst['k'])}, "
                   f"{worst['p_value']:.3g}, {worst['p_holm']:.3g} after Holm's correction over {len(tested)} k values; there the SD "
                   f"over subsets is {worst['observed_sd']:.1f} points against {worst['predicted_sd']:.1f} predicted).")
    return out + [s for s in (_seed_sentence(found), _layer_sentence(found)) if s]


def _seed_sentence(found: Findings) -> str:
    seeds = found.seeds
    replicated = seeds[(seeds["n_seeds"] >= 2) & seeds["mean_seed_std"].notna()] if "n_seeds" in seeds else seeds.iloc[:0]
    if replicated.empty:
        return "No condition has two seeds yet, so there is no seed spread."
    parts = [f"k={int(row.k)}: SD {row.mean_seed_std:.1f} points on average, largest range {row.max_seed_range:.1f}"
             for row in replicated.itertuples()]
    return "Seeds of the same condition (tasks and budget) differ at " + "; ".join(parts) + "."


def _layer_sentence(found: Findings) -> str:
    layers = found.layers
    if "best_layer" not in layers or layers.empty:
        return ""
    parts = [f"k={int(row.k)} layer {int(row.best_layer)}"
             + (f" ({row.best_minus_deepest:+.1f} over layer {int(row.deepest_layer)})" if row.best_layer != row.deepest_layer else "")
             for row in layers.itertuples()]
    return f"Best layer for the primary target, mean over each k's runs{_at_arm(layers)}: " + ", ".join(parts) + "."


def _at_arm(table: pd.DataFrame) -> str:
    """' (60 steps per task)' for a table read along one amount arm (stats.main_arm); '' for a table without budgets."""
    return f" ({stats.arm_of(table)})" if stats.arm_of(table) else ""


#: How the answer names each drift metric (xit.retrieval.drift).
DRIFT_NAMES = {"cka": "CKA to the untrained representations", "alignment_gap": "cross-lingual alignment gap",
               "param_distance": "relative distance of the weights from the start"}


def _drift_sentence(found: Findings) -> str:
    drift = found.drift
    if "score" not in drift.columns:
        return ""
    association = controls.drift_association(drift)
    parts = [f"{DRIFT_NAMES[row.metric]} (median {row.median:.3f}; Spearman ρ = {row.spearman_rho:+.2f}, p = {row.p_value:.2g})"
             for row in association.itertuples() if pd.notna(row.spearman_rho)]
    if not parts:
        return ""
    base = drift["alignment_gap_base"].median() if "alignment_gap_base" in drift else np.nan
    before = f" The untrained encoder's alignment gap is {base:.3f}." if pd.notna(base) else ""
    return (f"Drift at layer {int(drift['drift_layer'].iloc[0])} against the primary score, over "
            f"{int(association['n_runs'].max())} trained task runs: " + "; ".join(parts) + "." + before)


def _controls_sentence(found: Findings) -> str:
    table = found.controls.dropna(subset=["kind"])
    table = table[table["kind"] != "interpolation"]  # one curve per source: _interpolation_sentence tells them
    if table.empty:
        return "No control runs were in the grid."
    parts = [f"{row.kind}{f' α={row.alpha:g}' if pd.notna(row.alpha) else ''} on {row.tasks}"
             f"{f' seed {int(row.seed)}' if pd.notna(row.seed) else ''}: {_points(row.control_minus_task)}"
             for row in table.itertuples() if pd.notna(row.control_minus_task)]
    return ("Controls minus the task run of the same tasks, budget and seed: " + "; ".join(parts) + ".") if parts else \
        "No control run has a matching task run."


def _interpolation_sentence(found: Findings) -> str:
    summary = controls.interpolation_summary(found.interpolation)
    if summary.empty:
        return ""
    ends = {0.0: " (the untrained end)", 1.0: " (the trained end)"}
    best = "; ".join(f"at α = {alpha:g}{ends.get(alpha, '')} for {' and '.join(group['tasks'])}"
                     for alpha, group in summary.groupby("best_alpha", sort=True))
    complete = int(summary["seeds_with_both_ends_complete"].sum())
    beats = int(summary["seeds_interior_beats_both_ends"].sum())
    return ("Weight interpolation θ(α) = (1 − α)·θ₀ + α·θ between the untrained encoder (α = 0) and a trained task run "
            f"(α = 1): the mean score over seeds peaks {best}; an α strictly between 0 and 1 beats both ends in "
            f"{beats} of {complete} per-seed curves{_peaks_clause(found.interpolation_peaks)}.")


def _peaks_clause(peaks: pd.DataFrame) -> str:
    """Each interior peak against the better end on the same items, so a peak inside item noise reads as such."""
    if "difference" not in peaks.columns or peaks.empty:
        return ""
    parts = [f"{row.tasks} seed {int(row.seed)} at α = {row.alpha:g} is {_signed(row.difference, 2)} points above "
             f"α = {row.end_alpha:g} (paired item interval {row.ci_low:+.2f} to {row.ci_high:+.2f}, Holm p {row.p_holm:.2f}"
             f"{': within item noise' if row.within_noise else ''})" for row in peaks.itertuples()]
    return ": " + "; ".join(parts)


def _mlm_sentence(found: Findings) -> str:
    verdict = controls.mlm_verdict(found.mlm)
    if verdict.empty:
        return ""
    replicated, single = verdict[verdict["seeds"] >= 2], verdict[verdict["seeds"] < 2]
    parts = [f"{row.task_tasks} at {int(row.total_steps)} steps {_points(row.mean_task_minus_mlm)} ({row.english_tasks}, "
             f"{row.seeds} seeds)" for row in replicated.itertuples()]
    if len(single):
        low, high = single["mean_task_minus_mlm"].min(), single["mean_task_minus_mlm"].max()
        parts.append(f"{len(single)} more task set{'s' if len(single) > 1 else ''} with one seed each, no verdict "
                     f"({low:+.1f} to {high:+.1f} points)" if len(single) > 1 else
                     f"{single.iloc[0]['task_tasks']} with one seed, no verdict ({_points(single.iloc[0]['mean_task_minus_mlm'])})")
    return ("English task runs minus continued multilingual MLM at equal steps (mean over seeds; the verdict needs every "
            "seed's item interval on one side of 0): " + "; ".join(parts) + ".")


def _secondary_sentence(found: Findings) -> str:
    training = found.training
    secondary = training[training["endpoint"] == "secondary"] if "endpoint" in training else training.iloc[:0]
    tested = secondary.dropna(subset=["p_adjusted"]) if "p_adjusted" in secondary else secondary.iloc[:0]
    if tested.empty:
        return f"The {len(secondary)} secondary endpoints (other targets, directions, layers) have no p-values (too few runs)."
    return (f"{int(tested['significant'].sum())} of {len(tested)} secondary endpoints differ from the untrained encoder after "
            "Holm's correction (counted only when the primary endpoint does).")


def answer_summary(found: Findings) -> str:
    """The report's opening paragraph in markdown, every number taken from the findings."""
    source = ("named in the grid's grid.json" if found.primary_source == "grid.json" else found.primary_source)
    sentences = [f"**Primary endpoint: {found.primary_label}** ({source}).", _training_sentence(found),
                 *_task_sentences(found), *_robustness_sentences(found), _controls_sentence(found),
                 _interpolation_sentence(found), _drift_sentence(found), _mlm_sentence(found), _secondary_sentence(found)]
    return " ".join(s for s in sentences if s)


def coverage_note(inputs: AnalysisInputs) -> str:
    """How many runs the table holds and which runs of its design are missing, in markdown ('' when none are)."""
    missing = missing_runs(inputs.results_path, inputs.all_results)
    if missing.empty:
        return ""
    present = inputs.all_results["run_id"].nunique()
    return (f"**Incomplete grid:** the table holds {present} runs, and every number below rests on them. "
            f"{describe_missing(missing)}")
