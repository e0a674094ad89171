"""The metric library against scikit-learn, SciPy and hand-computed values, plus row-order
invariance (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn import metrics as skm

from dojo_kernel.metrics import Metric, UndefinedMetric, UnknownMetric, get_metric, list_metrics, register_metric

rng = np.random.default_rng(0)
N = 200
y_binary = rng.integers(0, 2, N)
p_binary = np.clip(y_binary * 0.3 + rng.random(N) * 0.7, 0, 1)
y_multi = rng.integers(0, 4, N)
p_multi = rng.dirichlet(np.ones(4), N)
y_real = rng.normal(10, 3, N)
p_real = y_real + rng.normal(0, 1, N)
y_pos = rng.gamma(2, 3, N)
p_pos = y_pos * rng.uniform(0.5, 1.5, N)


@pytest.mark.parametrize(
    ("name", "answers", "predictions", "reference"),
    [
        ("accuracy", y_multi, (y_multi + (rng.random(N) < 0.3)) % 4, skm.accuracy_score),
        ("balanced_accuracy", y_multi, (y_multi + (rng.random(N) < 0.3)) % 4, skm.balanced_accuracy_score),
        ("f1", y_binary, (p_binary > 0.5).astype(int), skm.f1_score),
        ("f1_micro", y_multi, (y_multi + (rng.random(N) < 0.4)) % 4, lambda a, b: skm.f1_score(a, b, average="micro")),
        ("f1_macro", y_multi, (y_multi + (rng.random(N) < 0.4)) % 4, lambda a, b: skm.f1_score(a, b, average="macro")),
        (
            "f1_weighted",
            y_multi,
            (y_multi + (rng.random(N) < 0.4)) % 4,
            lambda a, b: skm.f1_score(a, b, average="weighted"),
        ),
        ("mcc", y_binary, (p_binary > 0.5).astype(int), skm.matthews_corrcoef),
        (
            "quadratic_weighted_kappa",
            y_multi,
            (y_multi + (rng.random(N) < 0.4)) % 4,
            lambda a, b: skm.cohen_kappa_score(a, b, weights="quadratic"),
        ),
        ("roc_auc", y_binary, p_binary, skm.roc_auc_score),
        ("log_loss", y_binary, p_binary, skm.log_loss),
        ("rmse", y_real, p_real, lambda a, b: math.sqrt(skm.mean_squared_error(a, b))),
        ("mse", y_real, p_real, skm.mean_squared_error),
        ("rmsle", y_pos, p_pos, lambda a, b: math.sqrt(skm.mean_squared_log_error(a, b))),
        ("mae", y_real, p_real, skm.mean_absolute_error),
        ("mape", y_pos, p_pos, skm.mean_absolute_percentage_error),
        ("r2", y_real, p_real, skm.r2_score),
        ("pearson", y_real, p_real, lambda a, b: stats.pearsonr(a, b)[0]),
        ("spearman", y_real, p_real, lambda a, b: stats.spearmanr(a, b)[0]),
        ("pinball", y_real, p_real, lambda a, b: skm.mean_pinball_loss(a, b, alpha=0.5)),
        ("poisson_deviance", np.round(y_pos), p_pos, skm.mean_poisson_deviance),
    ],
)
def test_metric_matches_reference_implementation(name, answers, predictions, reference):
    assert get_metric(name)(answers, predictions) == pytest.approx(reference(answers, predictions), rel=1e-9)


def test_multiclass_log_loss_matches_sklearn_on_labels_and_on_one_hot_answers():
    expected = skm.log_loss(y_multi, p_multi, labels=[0, 1, 2, 3])
    one_hot = np.eye(4)[y_multi]
    metric = get_metric("multiclass_log_loss")
    assert metric(one_hot, p_multi) == pytest.approx(expected)
    frame = pd.DataFrame(p_multi, columns=["a", "b", "c", "d"])
    assert metric(np.array(list("abcd"))[y_multi], frame) == pytest.approx(expected)


def test_multiclass_log_loss_normalises_rows_then_clips_like_kaggle():
    metric = get_metric("multiclass_log_loss")
    truth = np.array([[1, 0], [0, 1]])
    # rows summing to 2 are divided by 2 first: same score as the normalised rows
    assert metric(truth, np.array([[1.6, 0.4], [0.4, 1.6]])) == pytest.approx(-math.log(0.8))
    # a zero probability on the true class costs -log(1e-15), not infinity
    assert metric(np.array([[1, 0]]), np.array([[0.0, 1.0]])) == pytest.approx(-math.log(1e-15))


def test_binary_log_loss_clips_certain_mistakes():
    assert get_metric("log_loss")([1, 0], [0.0, 0.0]) == pytest.approx(-math.log(1e-15) / 2)


def test_multiclass_auc_is_macro_one_vs_rest():
    expected = skm.roc_auc_score(y_multi, p_multi / p_multi.sum(1, keepdims=True), multi_class="ovr", average="macro")
    assert get_metric("roc_auc_ovr")(np.eye(4)[y_multi], p_multi) == pytest.approx(expected)
    assert get_metric("roc_auc_ovr")(y_multi, p_multi) == pytest.approx(expected)


def test_columnwise_metrics_average_per_column_scores():
    answers = np.column_stack([y_pos, y_pos * 2])
    predictions = np.column_stack([p_pos, p_pos * 3])
    rmse = get_metric("rmse")
    rmsle = get_metric("rmsle")
    assert get_metric("mean_columnwise_rmse")(answers, predictions) == pytest.approx(
        (rmse(answers[:, 0], predictions[:, 0]) + rmse(answers[:, 1], predictions[:, 1])) / 2
    )
    assert get_metric("mcrmsle")(answers, predictions) == pytest.approx(
        (rmsle(answers[:, 0], predictions[:, 0]) + rmsle(answers[:, 1], predictions[:, 1])) / 2
    )
    labels = np.column_stack([y_binary, 1 - y_binary])
    probabilities = np.column_stack([p_binary, rng.random(N)])
    assert get_metric("mean_columnwise_auc")(labels, probabilities) == pytest.approx(
        (skm.roc_auc_score(labels[:, 0], probabilities[:, 0]) + skm.roc_auc_score(labels[:, 1], probabilities[:, 1]))
        / 2
    )


def test_normalized_gini_equals_two_auc_minus_one_for_binary_targets():
    assert get_metric("normalized_gini")(y_binary, p_binary) == pytest.approx(
        2 * skm.roc_auc_score(y_binary, p_binary) - 1
    )
    ties = np.round(p_binary, 1)  # many tied predictions
    assert get_metric("normalized_gini")(y_binary, ties) == pytest.approx(2 * skm.roc_auc_score(y_binary, ties) - 1)
    assert get_metric("gini")(y_real, y_real) == pytest.approx(1.0)


def test_exact_match_by_hand_accepts_any_text():
    answers = ["twelve", "", "Dr.", "ninety nine"]
    predictions = ["twelve", "", "doctor", "ninety-nine"]
    assert get_metric("exact_match")(answers, predictions) == 0.5


def test_smape_by_hand():
    # rows: |2-1|*2/(1+2) = 2/3; 0 and 0 -> 0; |0-4|*2/4 = 2 -> mean (2/3 + 0 + 2) / 3 * 100
    assert get_metric("smape")([1, 0, 4], [2, 0, 0]) == pytest.approx(100 * (2 / 3 + 0 + 2) / 3)


def test_map_at_k_by_hand():
    metric = get_metric("map@3")
    assert metric.kwargs == {"k": 3}
    # row 1: answer "a", predicted "b a c": hit at rank 2 -> precision 1/2, divided by min(1, 3) -> 0.5
    # row 2: answer "x y", predicted "x z y": hits at 1 and 3 -> (1 + 2/3) / 2 = 5/6
    # row 3: answer "q", predicted "q q q": the repeats do not count again -> 1
    assert metric(["a", "x y", "q"], ["b a c", "x z y", "q q q"]) == pytest.approx((0.5 + 5 / 6 + 1) / 3)
    # only the first k predictions count
    assert get_metric("map@k", k=1)(["a"], ["b a"]) == 0.0


def test_ndcg_at_k_by_hand():
    # answer {a, b}; predicted "a c b": DCG = 1 + 1/log2(4) = 1.5; ideal = 1 + 1/log2(3)
    expected = 1.5 / (1 + 1 / math.log2(3))
    assert get_metric("ndcg@3")(["a b"], ["a c b"]) == pytest.approx(expected)
    assert get_metric("ndcg@5")(["a"], ["a"]) == pytest.approx(1.0)


def test_pinball_uses_alpha_option():
    answers, predictions = [10.0, 10.0], [8.0, 12.0]
    # alpha 0.9: under-prediction by 2 costs 0.9*2, over-prediction costs 0.1*2
    assert get_metric("pinball", alpha=0.9)(answers, predictions) == pytest.approx((1.8 + 0.2) / 2)


def test_correlation_of_constant_values_is_undefined_and_says_which_side():
    """The definition divides by both standard deviations: constant predictions have none
    (the submission's fault), constant answers neither (the competition's). Never a silent 0."""
    for name in ("pearson", "spearman"):
        with pytest.raises(UndefinedMetric, match="constant predictions") as caught:
            get_metric(name)([1, 2, 3], [5, 5, 5])
        assert caught.value.side == "predictions"
        with pytest.raises(UndefinedMetric, match="answers are constant") as caught:
            get_metric(name)([2, 2, 2], [1, 2, 3])
        assert caught.value.side == "answers"


@pytest.mark.parametrize("name", ["roc_auc", "normalized_gini"])
def test_auc_and_gini_of_one_class_answers_are_undefined_on_the_answers_side(name):
    with pytest.raises(UndefinedMetric) as caught:
        get_metric(name)([1, 1, 1], [0.2, 0.5, 0.9])
    assert caught.value.side == "answers"
    assert "answers" in str(caught.value)


def test_columnwise_auc_with_a_one_class_column_is_undefined():
    with pytest.raises(UndefinedMetric, match="column 1") as caught:
        get_metric("mean_columnwise_auc")(np.array([[0, 1], [1, 1]]), np.array([[0.1, 0.2], [0.9, 0.3]]))
    assert caught.value.side == "answers"


def test_balanced_log_loss_by_its_published_definition():
    """ICR's evaluation page: (-1/N0 sum y0 log p0 - 1/N1 sum y1 log p1) / 2, rows rescaled
    to sum 1 and clipped to [1e-15, 1 - 1e-15]."""
    truth = np.array([0, 0, 1])
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]])
    expected = ((-math.log(0.9) - math.log(0.8)) / 2 + -math.log(0.7)) / 2
    assert get_metric("balanced_log_loss")(truth, probs) == pytest.approx(expected)
    assert get_metric("balanced_log_loss")(np.eye(2)[truth], probs * 3) == pytest.approx(expected)  # rescaled
    # class balance: the lone class-1 row weighs as much as both class-0 rows together
    plain = get_metric("multiclass_log_loss")(truth, probs)
    assert plain == pytest.approx((-math.log(0.9) - math.log(0.8) - math.log(0.7)) / 3) != expected
    frame = pd.DataFrame(probs, columns=["class_0", "class_1"])
    assert get_metric("balanced_log_loss")(np.array(["class_0", "class_0", "class_1"]), frame) == pytest.approx(expected)


def test_wmae_weighs_rows_by_the_answers_weight_column():
    # Walmart: holiday weeks weigh 5. |1-2|*5 + |2-2|*1 over 6
    metric = get_metric("wmae", weight_column="IsHoliday_weight")
    assert metric.weight_column == "IsHoliday_weight"
    assert metric([1, 2], [2, 2], weights=[5, 1]) == pytest.approx(5 / 6)
    assert get_metric("wmae")([1, 2], [2, 2]) == pytest.approx(0.5)  # no weights: plain MAE


def test_rmspe_leaves_out_rows_whose_answer_is_zero():
    # Rossmann: sqrt(mean(((y - p) / y)^2)) over days with sales; the 0-sales row is ignored
    assert get_metric("rmspe")([0, 2, 4], [1, 1, 4]) == pytest.approx(math.sqrt((0.25 + 0) / 2))
    with pytest.raises(UndefinedMetric):
        get_metric("rmspe")([0, 0], [1, 1])


def test_group_log_mae_averages_the_log_mae_of_each_group():
    # champs: type A errors 1, 0 -> MAE 0.5; type B errors 0, 2 -> MAE 1; mean(log 0.5, log 1)
    metric = get_metric("group_log_mae", group_column="type")
    assert metric.answer_columns == {"groups": "type"}
    assert metric([1, 2, 3, 5], [2, 2, 3, 3], groups=["A", "A", "B", "B"]) == pytest.approx(math.log(0.5) / 2)
    assert metric([1, 1], [1, 1], groups=["A", "B"]) == pytest.approx(math.log(1e-9))  # floored, not -inf


def test_bias_auc_by_its_published_definition():
    """jigsaw-unintended-bias: 0.25 overall AUC + 0.75 mean of the power means (p = -5) of
    subgroup, BPSN and BNSP AUCs over the identities."""
    y = np.array([0, 1, 0, 1, 0, 1, 0, 1, 0, 1.0])
    p = np.array([0.1, 0.9, 0.6, 0.4, 0.2, 0.8, 0.3, 0.7, 0.65, 0.35])
    groups = np.array([[1, 1, 1, 1, 0, 0, 0, 0, 1, 1], [0, 0, 1, 1, 1, 1, 0, 0, 0, 1]]).T
    t = y >= 0.5

    def aucs(member):
        bpsn, bnsp = (member & ~t) | (~member & t), (member & t) | (~member & ~t)
        return [skm.roc_auc_score(t[rows], p[rows]) for rows in (member, bpsn, bnsp)]

    table = np.array([aucs(groups[:, j] == 1) for j in range(2)])  # identity x (subgroup, bpsn, bnsp)
    power_means = (np.mean(table ** -5.0, axis=0)) ** (1 / -5.0)
    expected = 0.25 * skm.roc_auc_score(t, p) + 0.75 * power_means.mean()
    metric = get_metric("bias_auc", subgroup_columns=["male", "female"])
    assert metric.answer_columns == {"subgroups": ["male", "female"]}
    assert metric(y, p, subgroups=groups) == pytest.approx(expected)


def test_median_absolute_error_by_hand():
    assert get_metric("median_absolute_error")([1, 2, 3, 10], [1, 3, 5, 0]) == pytest.approx(1.5)
    assert get_metric("medae")([1, 2, 3], [1, 3, 5]) == 1.0


E1 = math.e - 1  # log1p(E1) == 1

# Every registered metric, checked on a small case against a value computed by hand (the
# comment shows the arithmetic) or against the reference implementation its docstring names.
EVERY_METRIC: dict[str, tuple] = {
    "accuracy": ([1, 2, 3, 1], [1, 2, 1, 1], 0.75),
    "balanced_accuracy": ([0, 0, 0, 1], [0, 0, 1, 1], (2 / 3 + 1) / 2),
    "balanced_log_loss": (
        [0, 0, 1], np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]]),
        ((-math.log(0.9) - math.log(0.8)) / 2 - math.log(0.7)) / 2,
    ),
    "exact_match": (["None", "NA"], ["None", "N/A"], 0.5),
    "f1": ([1, 1, 0, 0], [1, 0, 1, 0], 0.5),  # precision 1/2, recall 1/2
    "f1_macro": ([0, 0, 1, 1], [0, 1, 1, 1], (2 / 3 + 0.8) / 2),
    "f1_micro": ([0, 0, 1, 1], [0, 1, 1, 1], 0.75),
    "f1_weighted": ([0, 0, 0, 1], [0, 0, 1, 1], (3 * 0.8 + 2 / 3) / 4),
    "log_loss": ([1, 0], [0.8, 0.4], -(math.log(0.8) + math.log(0.6)) / 2),
    "mae": ([1, 2, 3], [2, 2, 5], 1.0),
    "map@k": (["a", "x y", "q"], ["b a c", "x z y", "q q q"], (0.5 + 5 / 6 + 1) / 3),  # k = 5
    "mape": ([1, 2, 4], [2, 2, 3], (1 + 0 + 0.25) / 3),
    "mcc": ([1, 1, 1, 0], [1, 1, 0, 0], 2 / math.sqrt(12)),  # tp 2, tn 1, fp 0, fn 1
    "mean_columnwise_auc": (
        np.array([[0, 0], [1, 0], [0, 1], [1, 1]]), np.array([[0.1, 0.6], [0.9, 0.4], [0.2, 0.5], [0.8, 0.7]]),
        (1.0 + 0.75) / 2,
    ),
    "mean_columnwise_rmse": (np.array([[1, 0], [3, 0]]), np.array([[2, 0], [3, 2]]), (math.sqrt(0.5) + math.sqrt(2)) / 2),
    "mean_columnwise_rmsle": (np.array([[0, 1], [0, 1]]), np.array([[E1, 1], [E1, 1]]), 0.5),
    "median_absolute_error": ([1, 2, 3], [1, 3, 5], 1.0),
    "mse": ([1, 2, 3], [2, 2, 5], 5 / 3),
    "multiclass_log_loss": (np.array([[1, 0], [0, 1]]), np.array([[0.8, 0.2], [0.4, 0.6]]), -(math.log(0.8) + math.log(0.6)) / 2),
    "ndcg@k": (["a b"], ["a c b"], 1.5 / (1 + 1 / math.log2(3))),  # k = 5
    "normalized_gini": ([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1], 2 * 0.75 - 1),  # 2 AUC - 1
    "pearson": ([1, 2, 3], [1, 2, 4], 9 / math.sqrt(84)),
    "pinball": ([10, 10], [8, 12], 1.0),
    "poisson_deviance": ([1, 2], [1, 1], (0 + 2 * (2 * math.log(2) - 2 + 1)) / 2),
    "quadratic_weighted_kappa": ([0, 1, 2, 2], [0, 2, 2, 1], "reference"),
    "r2": ([1, 2, 3], [1, 2, 4], 0.5),
    "rmse": ([1, 2, 3], [2, 2, 5], math.sqrt(5 / 3)),
    "rmsle": ([0, 0], [E1, 0], math.sqrt(0.5)),
    "rmse_log": ([1, math.e], [math.e, math.e], math.sqrt(1 / 2)),  # log e = 1 away on one row of two
    "rmspe": ([0, 2, 4], [1, 1, 4], math.sqrt(0.125)),
    "roc_auc": ([0, 0, 1, 1], [0.6, 0.4, 0.5, 0.7], 0.75),  # 3 of 4 positive/negative pairs in order
    "roc_auc_ovr": ([0, 0, 1, 1], np.array([[0.4, 0.6], [0.6, 0.4], [0.5, 0.5], [0.3, 0.7]]), "reference"),
    "smape": ([1, 0, 4], [2, 0, 0], 100 * (2 / 3 + 0 + 2) / 3),
    "spearman": ([1, 2, 3, 4], [1, 3, 2, 4], 1 - 6 * 2 / (4 * 15)),
    "wmae": ([1, 2], [2, 2], 0.5),  # without a weight column every row weighs 1
    "word_jaccard": (["a b c", "x", ""], ["A b", "y", ""], (2 / 3 + 0 + 1) / 3),  # lower-cased word sets
    "mean_f1_sets": (["a b", "c", "d"], ["a", "c d", "d d"], (2 / 3 + 2 / 3 + 1) / 3),  # 2|A&B| / (|A| + |B|)
    "levenshtein_mean": (["kitten", "abc"], ["sitting", "abc"], (3 + 0) / 2),  # k->s, e->i, +g
    "kl_divergence": (np.array([[1, 0], [0.5, 0.5]]), np.array([[0.5, 0.5], [0.5, 0.5]]), math.log(2) / 2),
    "mean_columnwise_mae": (np.array([[1, 0], [0, 0]]), np.array([[0, 0], [0, 1]]), (0.5 + 0.5) / 2),
    "rmse_all_cells": (np.array([[1, 0], [0, 0]]), np.array([[0, 0], [0, 2]]), math.sqrt((1 + 4) / 4)),
    "rmsle_all_cells": (np.array([[0, 0], [0, 0]]), np.array([[E1, 0], [0, 0]]), math.sqrt(1 / 4)),
    "f2_micro_sets": (["a b", "c"], ["a", "c d"], 5 * 2 / (5 * 2 + 4 * 1 + 1)),  # tp 2, fn 1, fp 1
    "kendall_tau_orders": (["a b c", "x y"], ["b a c", "x y"], 1 - 4 * 1 / (6 + 2)),  # one inversion
    "group_log_mae": ([1, 2, 3, 5], [2, 2, 3, 3], "reference"),
    "bias_auc": ([0, 0, 1, 1], [0.6, 0.4, 0.5, 0.7], 0.75),  # without identity columns: the overall AUC
    # masks {1..10} vs {1..8}: IoU 0.8 beats 0.5..0.75 (6 of 10 thresholds); empty vs empty 1; empty vs not 0
    "mask_iou_precision": (["1 10", "", ""], ["1 8", "", "5 2"], (0.6 + 1 + 0) / 3),
    "lwlrap": (np.array([[1, 0, 1], [0, 1, 0]]), np.array([[0.9, 0.5, 0.1], [0.2, 0.3, 0.8]]), "reference"),
    # row 1: truth 0-3, predicted 2-5 -> tp 1 (2), fp 2 (3, 4), fn 2 (0, 1); row 2: both empty
    "span_micro_f1": (["0 3", ""], ["2 5", ""], 2 * 1 / (2 * 1 + 2 + 2)),
    # row 1: {1..10} vs {1..5, 20..24}: 2 * 5 / 20; row 2: both empty 1; row 3: truth only 0
    "dice_rle": (["1 10", "", "5 5"], ["1 5 20 5", "", ""], (0.5 + 1 + 0) / 3),
    "global_dice_rle": (["1 10", "-", "5 5"], ["1 5 20 5", "-", "-"], 2 * 5 / (10 + 10 + 5)),
    # image 1: two true boxes; the confident guess has IoU 60/100 = 0.6 with the first (a hit at
    # 0.5 and 0.55 only: TP 1, FP 1, FN 1 -> 1/3), the other hits nothing; image 2 empty on both sides
    "box_map_iou": (["1 0 0 10 10 1 20 20 10 10", ""], ["0.9 0 0 10 6 0.8 50 50 5 5", ""], ((2 / 3) / 6 + 1) / 2),
    # ROC (0,0) (0,.5) (.5,.5) (.5,1) (1,1): band 0-0.4 area 0.4 (x2), band 0.4-1 area 0.05 + 0.3
    "weighted_auc": ([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], (2 * 0.4 + 0.35) / (2 * 0.4 + 0.6)),
    # page 1: A's point in A's box (tp); B's point outside B's box and an unknown C (fp 2, fn 1); page 2 empty
    "point_in_box_f1": (["A 0 0 10 10 B 20 20 10 10", ""], ["A 5 5 B 5 5 C 25 25", ""], 2 * 1 / (2 * 1 + 2 + 1)),
    # no groups: macro recall over labels 0 (1 of 2), 1 (2 of 2), 2 (0 of 1)
    "hierarchical_macro_recall": (["1", "2", "1", "0", "0"], ["1", "1", "1", "0", "1"], (0.5 + 1 + 0) / 3),
    "mean_columnwise_spearman": (np.array([[1, 1], [2, 2], [3, 3]]), np.array([[1, 3], [2, 2], [3, 1]]), (1 - 1) / 2),
}

REFERENCES = {
    # lwlrap is LRAP with each row weighted by its number of true labels
    "lwlrap": lambda a, p: skm.label_ranking_average_precision_score(a, p, sample_weight=a.sum(axis=1)),
    # without a group column: log of the overall MAE, (1 + 0 + 0 + 2) / 4
    "group_log_mae": lambda a, p: math.log(0.75),
    "quadratic_weighted_kappa": lambda a, p: skm.cohen_kappa_score(a, p, weights="quadratic"),
    "roc_auc_ovr": lambda a, p: skm.roc_auc_score(a, p[:, 1]),  # two classes: both one-vs-rest AUCs are equal
}


def test_every_registered_metric_is_checked_by_hand_or_against_its_reference():
    test_only = {name for name in list_metrics() if name.startswith("test_only_")}
    assert set(list_metrics()) - test_only == set(EVERY_METRIC), "add the new metric to EVERY_METRIC"


@pytest.mark.parametrize("name", sorted(EVERY_METRIC))
def test_metric_value_by_hand_or_reference(name):
    answers, predictions, expected = EVERY_METRIC[name]
    if expected == "reference":
        expected = REFERENCES[name](answers, predictions)
    assert get_metric(name)(answers, predictions) == pytest.approx(expected, rel=1e-9)


def test_directions_and_kinds():
    assert get_metric("rmse").higher_is_better is False
    assert get_metric("roc_auc").higher_is_better is True
    assert get_metric("multiclass_log_loss").multi_target is True
    assert get_metric("accuracy").kind == "label"
    assert get_metric("roc_auc").kind == "probability"
    assert get_metric("map@5").kind == "ranking"
    assert get_metric("rmse").better(1.0, 2.0) and not get_metric("r2").better(1.0, 2.0)


def test_aliases_resolve_to_the_canonical_metric():
    assert get_metric("AUC").name == "roc_auc"
    assert get_metric("Log-Loss").name == "log_loss"
    assert get_metric("qwk").name == "quadratic_weighted_kappa"


def test_unknown_metric_lists_the_closest_names():
    with pytest.raises(UnknownMetric) as caught:
        get_metric("rmsel")
    assert isinstance(caught.value, KeyError)
    message = str(caught.value)
    assert "'rmsel'" in message and "rmsle" in message


def _max_error(answers, predictions) -> float:
    return float(np.max(np.abs(np.asarray(answers) - np.asarray(predictions))))


def test_register_metric_adds_a_metric_and_refuses_a_silent_replacement():
    name = "test_only_max_error"
    if name not in list_metrics():
        register_metric(name, _max_error, higher_is_better=False, kind="continuous")
    assert isinstance(get_metric(name), Metric)
    assert get_metric(name)([1, 2], [1, 5]) == 3.0
    with pytest.raises(ValueError, match="already registered"):
        register_metric(name, lambda a, p: 0.0, higher_is_better=False, kind="continuous")


def test_every_required_metric_is_registered():
    required = {
        "accuracy",
        "balanced_accuracy",
        "roc_auc",
        "roc_auc_ovr",
        "log_loss",
        "multiclass_log_loss",
        "f1",
        "f1_micro",
        "f1_macro",
        "f1_weighted",
        "mcc",
        "quadratic_weighted_kappa",
        "rmse",
        "rmsle",
        "mae",
        "mape",
        "smape",
        "r2",
        "mean_columnwise_rmse",
        "mean_columnwise_rmsle",
        "mean_columnwise_auc",
        "normalized_gini",
        "map@k",
        "ndcg@k",
        "pearson",
        "spearman",
        "pinball",
    }
    assert required <= set(list_metrics())


# ---------------------------------------------------------------- row-order invariance

SINGLE_TARGET_CASES = {
    "accuracy": ("labels", "labels"),
    "balanced_accuracy": ("labels", "labels"),
    "f1_macro": ("labels", "labels"),
    "mcc": ("binary", "binary"),
    "quadratic_weighted_kappa": ("labels", "labels"),
    "roc_auc": ("binary", "unit"),
    "log_loss": ("binary", "unit"),
    "normalized_gini": ("binary", "unit"),
    "rmse": ("real", "real"),
    "rmsle": ("positive", "positive"),
    "mae": ("real", "real"),
    "mape": ("positive", "positive"),
    "smape": ("positive", "positive"),
    "r2": ("real", "real"),
    "pearson": ("real", "real"),
    "spearman": ("real", "real"),
    "pinball": ("real", "real"),
}


def _column(kind: str, size: int, draw_seed: int) -> np.ndarray:
    generator = np.random.default_rng(draw_seed)
    if kind == "labels":
        return generator.integers(0, 3, size)
    if kind == "binary":
        values = generator.integers(0, 2, size)
        values[:2] = [0, 1]  # both classes present, so AUC and MCC are defined
        return values
    if kind == "unit":
        return np.round(generator.random(size), 2)  # rounded: ties must not depend on order either
    if kind == "positive":
        return generator.gamma(2, 2, size) + 0.1
    return generator.normal(0, 5, size)


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(sorted(SINGLE_TARGET_CASES)),
    size=st.integers(min_value=4, max_value=60),
    seed=st.integers(min_value=0, max_value=10_000),
    permutation_seed=st.integers(min_value=0, max_value=10_000),
)
def test_single_target_metrics_do_not_depend_on_row_order(name, size, seed, permutation_seed):
    answer_kind, prediction_kind = SINGLE_TARGET_CASES[name]
    answers, predictions = _column(answer_kind, size, seed), _column(prediction_kind, size, seed + 1)
    order = np.random.default_rng(permutation_seed).permutation(size)
    metric = get_metric(name)
    assert metric(answers[order], predictions[order]) == pytest.approx(
        metric(answers, predictions), rel=1e-9, abs=1e-12
    )


@settings(max_examples=25, deadline=None)
@given(
    size=st.integers(min_value=4, max_value=40),
    seed=st.integers(min_value=0, max_value=10_000),
    permutation_seed=st.integers(min_value=0, max_value=10_000),
)
def test_multi_target_and_ranking_metrics_do_not_depend_on_row_order(size, seed, permutation_seed):
    generator = np.random.default_rng(seed)
    order = np.random.default_rng(permutation_seed).permutation(size)
    labels = generator.integers(0, 3, size)
    labels[:3] = [0, 1, 2]
    truth = np.eye(3)[labels]
    probabilities = generator.dirichlet(np.ones(3), size)
    for name in ("multiclass_log_loss", "roc_auc_ovr", "mean_columnwise_auc"):
        metric = get_metric(name)
        assert metric(truth[order], probabilities[order]) == pytest.approx(metric(truth, probabilities))
    targets, guesses = generator.gamma(2, 2, (size, 2)), generator.gamma(2, 2, (size, 2))
    for name in ("mean_columnwise_rmse", "mean_columnwise_rmsle"):
        metric = get_metric(name)
        assert metric(targets[order], guesses[order]) == pytest.approx(metric(targets, guesses))
    vocabulary = list("abcdef")
    actual = np.array([" ".join(generator.choice(vocabulary, 2, replace=False)) for _ in range(size)])
    ranked = np.array([" ".join(generator.permutation(vocabulary)[:3]) for _ in range(size)])
    for name in ("map@3", "ndcg@3"):
        metric = get_metric(name)
        assert metric(actual[order], ranked[order]) == pytest.approx(metric(actual, ranked))


def test_every_metric_pickles():
    import pickle

    for name in list_metrics():
        metric = pickle.loads(pickle.dumps(get_metric(name)))
        assert metric.name == name


def test_mask_and_box_metrics_at_their_edges():
    # a perfect ranking scores 1; the diagonal (every score tied) (2 * 0.32 + 0.18) / 1.4
    assert get_metric("weighted_auc")([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8]) == pytest.approx(1.0)
    assert get_metric("weighted_auc")([0, 1, 0, 1], [0.5] * 4) == pytest.approx(0.82 / 1.4)
    # runs are compared as runs: two whole-slide masks of a billion pixels, overlapping runs merged
    big = "1 1000000000"
    assert get_metric("dice_rle")([big], ["1 500000000 400000000 100000000"]) == pytest.approx(2 * 5e8 / 1.5e9)
    boxes = "1 5 5 20 10 1 40 40 8 8"
    assert get_metric("box_map_iou")([boxes], [boxes]) == 1.0
    with pytest.raises(ValueError, match="groups of 5"):
        get_metric("box_map_iou")([boxes], ["5 5 20 10"])



def test_hierarchical_macro_recall_weighs_each_component():
    """bengaliai-cv19: per component macro recall, grapheme_root weighing 2."""
    metric = get_metric("hierarchical_macro_recall", group_weights={"g": 2})
    groups = ["g", "g", "g", "v", "v"]
    # g: label 1 recalled 2/2, label 2 0/1 -> 0.5; v: label 0 1/2, label 1 (predicted, never true) 0 -> 0.25
    assert metric(["1", "2", "1", "0", "0"], ["1", "1", "1", "0", "1"], groups=groups) == pytest.approx((2 * 0.5 + 0.25) / 3)


def test_point_in_box_f1_matches_each_box_once_and_reads_boxes_by_their_centre():
    metric = get_metric("point_in_box_f1")
    assert metric(["A 0 0 10 10"], ["A 1 1 A 2 2"]) == pytest.approx(2 / 3)  # the second hit on one box is a false positive
    assert metric(["A 0 0 10 10 B 20 20 4 6"], ["A 0 0 10 10 B 20 20 4 6"]) == 1.0
    with pytest.raises(ValueError, match="groups"):
        metric(["A 0 0 10 10"], ["A 1 1 1"])
