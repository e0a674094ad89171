# ruff: noqa: F821
# pyright: reportUndefinedVariable=false
# A cell of the baseline agent (dojo_kernel/agents/baseline.py); it runs in the episode's kernel, where
# the names that earlier cells defined (train, test, ...) live, so linters cannot see them.
# Refit the best model on every training row, predict the test rows, write the submission.

# -- parameters: the agent writes the episode's values here (baseline.py, `cell`) --
CLIP_AT_ZERO = False  # a non-negative target: clip the predictions at 0
SUBMISSION_PATH = "working/submission.csv"
# -- end of parameters --

ids = test[ID] if ID in test.columns else sample[ID]
submission = pd.DataFrame({ID: ids.to_numpy()})
for column in y_columns:
    known = train[column].notna().to_numpy()
    model = clone(candidates[best[column]]).fit(X[known] if not hasattr(X, "iloc") else X.loc[known],
                                                train.loc[known, column].to_numpy())
    if PREDICT in ("probability", "ranking"):
        raw = model.predict_proba(X_test)
        classes = list(model.classes_)
        if MULTICLASS_COLUMNS:  # one column per class, named like the classes
            by_name = {str(c): raw[:, i] for i, c in enumerate(classes)}
            for target in TARGETS:
                submission[target] = by_name.get(str(target), np.zeros(len(raw)))
            continue
        prediction = prediction_of(raw, classes)
    else:
        prediction = model.predict(X_test)
    if CLIP_AT_ZERO:  # a count or a price; the Poisson deviance needs every prediction above 0
        prediction = np.clip(prediction, 1e-6 if METRIC.name == "poisson_deviance" else 0, None)
    submission[column] = prediction
submission = submission[[ID, *TARGETS]]
submission.to_csv(SUBMISSION_PATH, index=False)
print(f"wrote {SUBMISSION_PATH}: {submission.shape[0]} rows, columns {list(submission.columns)}")
submission.head()
