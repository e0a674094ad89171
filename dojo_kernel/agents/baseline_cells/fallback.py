# ruff: noqa: F821
# pyright: reportUndefinedVariable=false
# A cell of the baseline agent (dojo_kernel/agents/baseline.py); it runs in the episode's kernel, where
# the names that earlier cells defined (train, test, ...) live, so linters cannot see them.
# The full pipeline failed: gradient boosting on the numeric columns, else a constant.

# -- parameters: the agent writes the episode's values here (baseline.py, `cell`) --
CLASSIFY = True
PROBABILITY = False  # the metric scores probabilities
TOP_K = 0  # a ranking metric (MAP@K): write the K likeliest labels, best first
SUBMISSION_PATH = "working/submission.csv"
# -- end of parameters --

# The full pipeline failed: gradient boosting on the numeric columns (it copes with missing
# values by itself), else the most common value or the mean.
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

numeric_columns = [c for c in test.columns if c in train.columns and c != ID and c not in TARGETS
                   and pd.api.types.is_numeric_dtype(train[c])]
ids = test[ID] if ID in test.columns else sample[ID]
submission = pd.DataFrame({ID: ids.to_numpy()})
for target in TARGETS:
    if target not in train.columns:
        submission[target] = sample[target].to_numpy()[: len(submission)] if len(sample) == len(submission) else 0
        continue
    known = train[target].notna()
    y = train.loc[known, target]
    classify = CLASSIFY
    if numeric_columns:
        model = (HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor)(max_iter=100)
        model.fit(train.loc[known, numeric_columns], y)
        if classify and TOP_K:
            top = np.argsort(-model.predict_proba(test[numeric_columns]), axis=1)[:, :TOP_K]
            submission[target] = [" ".join(str(model.classes_[i]) for i in row) for row in top]
        elif classify and PROBABILITY:
            submission[target] = model.predict_proba(test[numeric_columns])[:, -1]
        else:
            submission[target] = model.predict(test[numeric_columns])
    else:
        submission[target] = (" ".join(map(str, y.value_counts().index[:TOP_K])) if classify and TOP_K
                              else y.mode().iloc[0] if classify else y.mean())
submission.to_csv(SUBMISSION_PATH, index=False)
print(f"wrote {SUBMISSION_PATH}: {submission.shape}")
