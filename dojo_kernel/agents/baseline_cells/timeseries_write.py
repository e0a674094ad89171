# ruff: noqa: F821
# pyright: reportUndefinedVariable=false
# A cell of the baseline agent (dojo_kernel/agents/baseline.py); it runs in the episode's kernel, where
# the names that earlier cells defined (train, test, ...) live, so linters cannot see them.
# Refit the best forecaster on the whole history and forecast the test times.

# -- parameters: the agent writes the episode's values here (baseline.py, `cell`) --
CLIP_AT_ZERO = False  # a non-negative target: clip the forecast at 0
SUBMISSION_PATH = "working/submission.csv"
# -- end of parameters --

ids = test[ID] if ID in test.columns else sample[ID]
submission = pd.DataFrame({ID: ids.to_numpy()})
for column in y_columns:
    y_all = train[column].to_numpy(dtype=float)[order]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prediction = np.asarray(forecasters[best[column]](t_train, y_all, t_test, periods[column]), dtype=float)
    if CLIP_AT_ZERO:
        prediction = np.clip(prediction, 0, None)
    submission[column] = prediction
submission = submission[[ID, *TARGETS]]
submission.to_csv(SUBMISSION_PATH, index=False)
print(f"wrote {SUBMISSION_PATH}: {submission.shape[0]} rows, forecast from {submission[TARGETS[0]].min():.4g} "
      f"to {submission[TARGETS[0]].max():.4g}")
submission.head()
