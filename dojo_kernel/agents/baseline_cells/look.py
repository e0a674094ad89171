# ruff: noqa: F821
# pyright: reportUndefinedVariable=false
# A cell of the baseline agent (dojo_kernel/agents/baseline.py); it runs in the episode's kernel, where
# the names that earlier cells defined (train, test, ...) live, so linters cannot see them.
# Look at the columns, the target and missing values; print a `layout: {...}` line the agent parses.

# -- parameters: the agent writes the episode's values here (baseline.py, `cell`) --
ID_HINT = ""  # the id column the metadata names
TARGET_HINT = []  # the target columns the metadata names
CATEGORY = None  # tabular | image | text | time-series
# -- end of parameters --

ID = ID_HINT if ID_HINT in sample.columns else sample.columns[0]
TARGETS = [c for c in TARGET_HINT if c in sample.columns] or [c for c in sample.columns if c != ID]


def respelled(frame):
    """The same column may be spelled differently in train/test and in the submission ("label" / "Label")."""
    return frame.rename(columns={c: t for t in [ID, *TARGETS] for c in frame.columns
                                 if t not in frame.columns and c.lower() == t.lower()})


train, test = respelled(train), respelled(test)
print("id column:", ID, "| submission columns:", TARGETS)
print("column types:", train.dtypes.astype(str).value_counts().to_dict())
missing = train.isna().mean()
print("missing values:", {c: f"{v:.0%}" for c, v in missing[missing > 0].items()} or "none")


def as_time(values):
    """Numbers as they are, dates as datetimes; None for a column that is neither."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return values
    if pd.api.types.is_string_dtype(values) or values.dtype == object:
        parsed = pd.to_datetime(values, errors="coerce", format="mixed")
        if parsed.notna().mean() > 0.9:
            return parsed
    return None


def is_forecast_index(column):
    """Every test value comes after every train value: the test rows are the future."""
    if column not in train.columns or column not in test.columns:
        return False
    past, future = as_time(train[column]), as_time(test[column])
    return past is not None and future is not None and len(future) > 0 and future.min() > past.max()


label_column = None
if not set(TARGETS) <= set(train.columns):  # one submission column per class: find the label column
    class_names = set(map(str, TARGETS))
    label_column = next((c for c in train.columns if c not in test.columns and c != ID
                         and set(train[c].dropna().astype(str)) <= class_names), None)
y_columns = [label_column] if label_column else [c for c in TARGETS if c in train.columns]
shared = [c for c in test.columns if c in train.columns and c not in TARGETS and c not in y_columns]
# A forecast: the task says so, or the test rows carry nothing but the time (an id that merely
# grows from train to test, as on many Kaggle tables, is no reason to forecast).
time_column = next((c for c in [ID, *shared] if is_forecast_index(c)
                    and (CATEGORY == "time-series" or not [o for o in shared if o not in (c, ID)])), None)
images = [p for p in files if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff"}]
image_column = None
if images:  # which column names each row's image: a file name column, else the id
    names, stems = {p.name for p in images}, {p.stem for p in images}
    for column in [c for c in train.columns if c in test.columns or c == ID]:
        values = train[column].astype(str)
        if values.map(lambda v: Path(v).name).isin(names).mean() > 0.9 or values.isin(stems).mean() > 0.9:
            image_column = column
            break
kind = "timeseries" if time_column is not None else "image" if image_column is not None else "tabular"
for column in y_columns:
    values = train[column]
    if values.nunique() <= 20 or not pd.api.types.is_numeric_dtype(values):  # labels: how often each occurs
        print(f"target {column} ({values.nunique()} values):", values.value_counts(dropna=False).head(20).to_dict())
    else:
        print(f"target {column}:", values.describe().round(4).to_dict())
layout = {"kind": kind, "id": ID, "targets": TARGETS, "y_columns": y_columns, "label_column": label_column,
          "time_column": time_column, "image_column": image_column, "train_rows": len(train), "test_rows": len(test),
          "unique": {c: int(train[c].nunique()) for c in y_columns},
          "numeric": {c: bool(pd.api.types.is_numeric_dtype(train[c])) for c in y_columns},
          "non_negative": {c: bool(pd.api.types.is_numeric_dtype(train[c]) and train[c].min() >= 0) for c in y_columns}}
print("layout:", json.dumps(layout))
