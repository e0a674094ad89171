# ruff: noqa: F821
# pyright: reportUndefinedVariable=false
# A cell of the baseline agent (dojo_kernel/agents/baseline.py); it runs in the episode's kernel, where
# the names that earlier cells defined (train, test, ...) live, so linters cannot see them.
# A forecast: measure the time step, the horizon and the strongest cycles.

TIME = time_column
times = pd.concat([as_time(train[TIME]), as_time(test[TIME])], ignore_index=True)
is_date = pd.api.types.is_datetime64_any_dtype(times)
origin = times.min()
gaps = as_time(train[TIME]).sort_values().diff().dropna()
STEP = gaps.median()


def steps_of(values):
    """Time as a count of steps from the first training point (fractional where off the grid)."""
    return ((as_time(values) - origin) / STEP).to_numpy(dtype=float)


order = np.argsort(steps_of(train[TIME]), kind="stable")
t_train, t_test = steps_of(train[TIME])[order], steps_of(test[TIME])
days = STEP / pd.Timedelta(days=1) if is_date else None
# The calendar's cycles (a day, a week, a year) in steps of this series: a half-hourly series has
# cycles of 48 and 336 steps, a daily one of 7 and 365.25, a monthly one of 12. A cycle shorter
# than two steps cannot be seen, and one longer than half the history cannot be learnt.
calendar = [round(period / days, 2) for period in (1.0, 7.0, 365.25)
            if 2 <= period / days <= len(train) / 2] if is_date else []


def dominant_period(y):
    """The strongest cycle of the detrended series (a periodogram), in steps."""
    y = pd.Series(y).interpolate().bfill().ffill().to_numpy()
    t = np.arange(len(y))
    detrended = y - np.polyval(np.polyfit(t, y, 1), t)
    power = np.abs(np.fft.rfft(detrended)) ** 2
    frequencies = np.fft.rfftfreq(len(y))
    usable = (frequencies > 0) & (frequencies >= 3 / len(y)) & (frequencies <= 0.5)
    return float(1 / frequencies[usable][np.argmax(power[usable])]) if usable.any() else None


periods = {}
for column in y_columns:
    series = train[column].to_numpy(dtype=float)[order]
    found = dominant_period(series)
    periods[column] = sorted({round(p, 2) for p in calendar + ([found] if found and found >= 2 else [])})
print(f"{len(t_train)} training points, one every {STEP}; {len(t_test)} to forecast, "
      f"{t_test.min() - t_train.max():.0f} to {t_test.max() - t_train.max():.0f} steps ahead; cycles (steps): {periods}")
