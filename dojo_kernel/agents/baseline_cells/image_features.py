# ruff: noqa: F821
# pyright: reportUndefinedVariable=false
# A cell of the baseline agent (dojo_kernel/agents/baseline.py); it runs in the episode's kernel, where
# the names that earlier cells defined (train, test, ...) live, so linters cannot see them.
# Image features: each image's grey pixels, at most 32x32.

from PIL import Image
from sklearn.preprocessing import FunctionTransformer, StandardScaler

by_stem = {}
for path in images:
    by_stem.setdefault(path.stem, []).append(path)


def image_file(value, split):
    """The image of a row: its path as given, else the file with that name (or stem), preferring a
    folder named after the split (train/, test/)."""
    value = str(value)
    for candidate in (Path("input") / value, Path("input") / split / value):
        if candidate.is_file():
            return candidate
    matches = by_stem.get(Path(value).stem, [])
    in_split = [p for p in matches if split in str(p.parent).lower()]
    return (in_split or matches)[0]


with Image.open(image_file(train[image_column].iloc[0], "train")) as first:
    SIZE = (min(first.width, 32), min(first.height, 32))  # small images stay whole; larger ones shrink


def pixels(frame, split):
    rows = []
    for value in frame[image_column]:
        with Image.open(image_file(value, split)) as image:
            rows.append(np.asarray(image.convert("L").resize(SIZE), dtype=np.float32).ravel() / 255.0)
    return np.stack(rows)


X, X_test = pixels(train, "train"), pixels(test, "test")
print("pixels:", X.shape, X_test.shape, "at", SIZE)


def preprocessor(scale):
    return StandardScaler() if scale else FunctionTransformer()


dense = True
