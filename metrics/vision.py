"""Metrics over image masks and boxes: Dice of run-length masks, mAP of boxes over IoU
thresholds, and the TPR-weighted ROC AUC of steganalysis.

Masks are Kaggle's run-length strings ("start length start length", 1-based pixel
numbers); they are compared as runs, never expanded to pixels, so a whole-slide mask of a
billion pixels costs what its runs cost.
"""

from __future__ import annotations

import numpy as np

from .registry import ArrayLike, as_1d, register_metric, require_two_classes, sklearn_metrics

EMPTY_MASK = {"", "-", "nan", "none"}  # an empty mask: "" (most), "-" (contrails); NaN as read


def _runs(cell: object) -> np.ndarray:
    """The mask's runs as merged, sorted [start, end) pairs (an n x 2 int array)."""
    text = "" if cell is None or (isinstance(cell, float) and np.isnan(cell)) else str(cell).strip()
    if text.lower() in EMPTY_MASK:
        return np.zeros((0, 2), dtype=np.int64)
    numbers = np.array([int(x) for x in text.replace("[", " ").replace("]", " ").replace(",", " ").split()], dtype=np.int64)
    if len(numbers) % 2:
        raise ValueError(f"expected a run-length mask of start/length pairs, got {len(numbers)} numbers")
    starts, lengths = numbers[0::2], numbers[1::2]
    keep = lengths > 0
    runs = np.stack([starts[keep], starts[keep] + lengths[keep]], axis=1)
    runs = runs[np.argsort(runs[:, 0], kind="stable")]
    merged: list[list[int]] = []
    for start, end in runs.tolist():  # overlapping or touching runs count their pixels once
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return np.array(merged, dtype=np.int64).reshape(-1, 2)


def _area(runs: np.ndarray) -> int:
    return int((runs[:, 1] - runs[:, 0]).sum())


def _overlap(a: np.ndarray, b: np.ndarray) -> int:
    """Pixels in both masks: a walk along the two sorted run lists."""
    i = j = total = 0
    while i < len(a) and j < len(b):
        low, high = max(a[i, 0], b[j, 0]), min(a[i, 1], b[j, 1])
        total += max(0, high - low)
        if a[i, 1] < b[j, 1]:
            i += 1
        else:
            j += 1
    return int(total)


@register_metric("dice_rle", higher_is_better=True, kind="text", aliases=("mean_dice",))
def dice_rle(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Mean over images of the Dice coefficient 2|A & B| / (|A| + |B|) of the true and the
    predicted run-length masks, as Kaggle's hubmap-kidney-segmentation scores; an empty
    mask predicted for an empty truth scores 1 (Dice's 0/0 is taken as agreement)."""
    scores = []
    for actual, predicted in zip(as_1d(answers), as_1d(predictions)):
        a, b = _runs(actual), _runs(predicted)
        total = _area(a) + _area(b)
        scores.append(1.0 if total == 0 else 2 * _overlap(a, b) / total)
    return float(np.mean(scores)) if scores else 0.0


@register_metric("global_dice_rle", higher_is_better=True, kind="text", aliases=("global_dice",))
def global_dice_rle(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Dice over all images' pixels together, 2 * sum|A & B| / sum(|A| + |B|), as Kaggle's
    google-research-identify-contrails-reduce-global-warming scores ("-" is an empty mask);
    all masks empty on both sides scores 1."""
    overlap = total = 0
    for actual, predicted in zip(as_1d(answers), as_1d(predictions)):
        a, b = _runs(actual), _runs(predicted)
        overlap, total = overlap + _overlap(a, b), total + _area(a) + _area(b)
    return 1.0 if total == 0 else 2 * overlap / total


def _boxes(cell: object) -> np.ndarray:
    """"confidence x y width height ..." as an n x 5 array, the most confident first."""
    text = "" if cell is None or (isinstance(cell, float) and np.isnan(cell)) else str(cell).strip()
    numbers = np.array([float(x) for x in text.split()], dtype=float)
    if len(numbers) % 5:
        raise ValueError(f"expected boxes as 'confidence x y width height' groups of 5 numbers, got {len(numbers)} numbers")
    boxes = numbers.reshape(-1, 5)
    return boxes[np.argsort(-boxes[:, 0], kind="stable")]


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU of one x, y, width, height box with each of others (continuous coordinates)."""
    x1 = np.maximum(box[0], others[:, 0])
    y1 = np.maximum(box[1], others[:, 1])
    x2 = np.minimum(box[0] + box[2], others[:, 0] + others[:, 2])
    y2 = np.minimum(box[1] + box[3], others[:, 1] + others[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = box[2] * box[3] + others[:, 2] * others[:, 3] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _box_precision(truth: np.ndarray, predicted: np.ndarray, threshold: float) -> float:
    """TP / (TP + FP + FN) at one IoU threshold; predictions matched most confident first,
    each to the unmatched true box of highest IoU above the threshold."""
    if not len(truth) and not len(predicted):
        return 1.0
    free = np.ones(len(truth), dtype=bool)
    tp = 0
    for box in predicted:
        if not free.any():
            break
        iou = np.where(free, _iou(box, truth), -1.0)
        best = int(np.argmax(iou))
        if iou[best] > threshold:
            free[best] = False
            tp += 1
    return tp / (len(truth) + len(predicted) - tp)


@register_metric("box_map_iou", higher_is_better=True, kind="text", aliases=("wheat_map",))
def box_map_iou(answers: ArrayLike, predictions: ArrayLike, thresholds: tuple[float, ...] = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75)) -> float:
    """Kaggle's global-wheat-detection score: per image, TP / (TP + FP + FN) of the predicted
    boxes ("confidence x y width height", pixels) against the true ones at each IoU threshold
    0.5, 0.55, ..., 0.75 (a hit: IoU above the threshold, predictions matched most confident
    first), averaged over thresholds, then over images. The answers use the same format (a
    confidence of 1, which is not read). An image with no box on either side scores 1."""
    scores = []
    for actual, predicted in zip(as_1d(answers), as_1d(predictions)):
        truth, guess = _boxes(actual), _boxes(predicted)
        scores.append(np.mean([_box_precision(truth[:, 1:], guess[:, 1:], t) for t in thresholds]))
    return float(np.mean(scores)) if scores else 0.0


def _band_area(fpr: np.ndarray, tpr: np.ndarray, low: float, high: float) -> float:
    """Area under min(max(tpr - low, 0), high - low) along the ROC curve, exactly: each
    segment is split where it crosses the band's edges, so the trapezoids are exact."""
    xs, ys = [fpr[0]], [tpr[0]]
    for x0, y0, x1, y1 in zip(fpr[:-1], tpr[:-1], fpr[1:], tpr[1:]):
        for edge in (low, high):
            if (y0 - edge) * (y1 - edge) < 0:  # strictly crosses the edge inside the segment
                xs.append(x0 + (edge - y0) * (x1 - x0) / (y1 - y0))
                ys.append(edge)
        xs.append(x1)
        ys.append(y1)
    order = np.argsort(np.asarray(xs), kind="stable")
    x, y = np.asarray(xs)[order], np.clip(np.asarray(ys)[order] - low, 0, high - low)
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))


@register_metric("weighted_auc", higher_is_better=True, kind="probability", aliases=("alaska_weighted_auc",))
def weighted_auc(
    answers: ArrayLike, predictions: ArrayLike, tpr_thresholds: tuple[float, ...] = (0.0, 0.4, 1.0),
    weights: tuple[float, ...] = (2.0, 1.0),
) -> float:
    """Kaggle's alaska2-image-steganalysis score: the ROC AUC with the area in the true
    positive rate band 0-0.4 counted twice and 0.4-1 once, normalised so that a perfect
    ranking scores 1 (a random ranking, the diagonal, scores (2 * 0.32 + 0.18) / 1.4 = 0.586,
    not plain AUC's 0.5). The ROC curve is scikit-learn's; each band's area is exact."""
    truth = as_1d(answers).astype(float)
    require_two_classes(truth, "weighted_auc")
    fpr, tpr, _ = sklearn_metrics.roc_curve(truth, as_1d(predictions).astype(float))
    total = norm = 0.0
    for low, high, weight in zip(tpr_thresholds[:-1], tpr_thresholds[1:], weights):
        total += weight * _band_area(fpr, tpr, low, high)
        norm += weight * (high - low)
    return total / norm


def _characters(cell: object) -> list[tuple[str, list[float]]]:
    """"label x y [width height] label x y ..." as (label, numbers) pairs; a label is any
    token that is not a number (Kaggle's are code points such as U+306F)."""
    text = "" if cell is None or (isinstance(cell, float) and np.isnan(cell)) else str(cell)
    found: list[tuple[str, list[float]]] = []
    for token in text.split():
        try:
            number = float(token)
        except ValueError:
            found.append((token, []))
            continue
        if not found:
            raise ValueError(f"expected a label before the coordinates, got the number {token!r} first")
        found[-1][1].append(number)
    for label, numbers in found:
        if len(numbers) not in (2, 4):
            raise ValueError(f"expected 'label x y' (or 'label x y width height') groups, got {label} with {len(numbers)} numbers")
    return found


@register_metric("point_in_box_f1", higher_is_better=True, kind="text", aliases=("kuzushiji_f1",))
def point_in_box_f1(answers: ArrayLike, predictions: ArrayLike) -> float:
    """Kaggle's kuzushiji-recognition score: micro F1 over all pages, a predicted character
    ("label x y", its centre) being a true positive when it falls inside (edges included) a
    true box ("label x y width height") of the same label that no earlier prediction of the
    page matched. A prediction given as a box counts by its centre, so the answers score 1
    as a submission. Nothing on either side of every page scores 1."""
    tp = fp = fn = 0
    for actual, predicted in zip(as_1d(answers), as_1d(predictions)):
        truth = [(label, numbers) for label, numbers in _characters(actual) if len(numbers) == 4]
        free = [True] * len(truth)
        guesses = _characters(predicted)
        hits = 0
        for label, numbers in guesses:
            x, y = numbers[:2] if len(numbers) == 2 else (numbers[0] + numbers[2] / 2, numbers[1] + numbers[3] / 2)
            for i, (true_label, (bx, by, bw, bh)) in enumerate(truth):
                if free[i] and true_label == label and bx <= x <= bx + bw and by <= y <= by + bh:
                    free[i] = False
                    hits += 1
                    break
        tp, fp, fn = tp + hits, fp + len(guesses) - hits, fn + len(truth) - hits
    return 1.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)
