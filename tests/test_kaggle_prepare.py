"""The Kaggle route of `dojo prepare NAME`: credentials, errors, download and extraction.

The credential look-up, the lazy import of the real kaggle package, archive extraction
and disk-space checks run for real. The network does not exist in tests, so the HTTP
layer alone is stood in for: ``FakeKaggleApi`` has the KaggleApi methods we call and
either writes what Kaggle would serve (a <name>.zip, a leaderboard zip, pages) or raises
the exceptions the kaggle package raises (requests' HTTPError with a status code,
requests' ConnectionError).
"""

from __future__ import annotations

import errno
import io
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from dojo_kernel.competition import load_competition_dir
from dojo_kernel.prepare import kaggle
from dojo_kernel.prepare.catalog import prepare_competition

try:  # installed with the kaggle extra (and the test extra); only the HTTP tests need it
    import requests
except ImportError:  # pragma: no cover
    requests = None
needs_requests = pytest.mark.skipif(requests is None, reason="requests (from the kaggle extra) is not installed")

CREDENTIAL_VARS = ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_CONFIG_DIR", "XDG_CONFIG_HOME")


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A home folder with no Kaggle credentials anywhere."""
    home = tmp_path / "home"
    home.mkdir()
    for var in CREDENTIAL_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: home))
    return home


def http_error(status: int) -> Exception:
    response = requests.Response()
    response.status_code = status
    return requests.HTTPError(f"{status} Client Error", response=response)


def spaceship_zip() -> bytes:
    """What Kaggle serves for spaceship-titanic: a zip of train.csv, test.csv, sample_submission.csv."""
    rows = 40
    train = pd.DataFrame(
        {
            "PassengerId": [f"{i:04d}_01" for i in range(rows)],
            "HomePlanet": "Earth",
            "CryoSleep": [i % 3 == 0 for i in range(rows)],
            "Cabin": "B/0/P",
            "Destination": "TRAPPIST-1e",
            "Age": [20 + i % 30 for i in range(rows)],
            "VIP": False,
            "RoomService": 0.0,
            "FoodCourt": 0.0,
            "ShoppingMall": 0.0,
            "Spa": 0.0,
            "VRDeck": 0.0,
            "Name": "A B",
            "Transported": [i % 2 == 0 for i in range(rows)],
        }
    )
    test = train.drop(columns="Transported").assign(PassengerId=[f"{i:04d}_01" for i in range(9000, 9010)] * 4)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("train.csv", train.to_csv(index=False))
        zf.writestr("test.csv", test.head(10).to_csv(index=False))
        zf.writestr("sample_submission.csv", "PassengerId,Transported\n9000_01,False\n")
    return buffer.getvalue()


class FakeKaggleApi:
    """Stands in for KaggleApi's HTTP calls; `fail` lists exceptions to raise, one per call."""

    def __init__(self, fail: list[Exception] | None = None) -> None:
        self.fail = list(fail or [])
        self.calls: list[str] = []

    def _maybe_fail(self, call: str) -> None:
        self.calls.append(call)
        if self.fail:
            raise self.fail.pop(0)

    def competition_download_files(self, competition: str, path: str, quiet: bool = True) -> None:
        self._maybe_fail("download")
        Path(path, f"{competition}.zip").write_bytes(spaceship_zip())

    def competition_list_pages(self, competition: str):
        self.calls.append("pages")
        return [
            SimpleNamespace(name="description", post_title="Overview", content="Predict who was transported."),
            SimpleNamespace(name="rules", post_title="Rules", content="Rules text is not a description."),
        ]

    def competition_leaderboard_download(self, competition: str, path: str) -> None:
        self.calls.append("leaderboard")
        board = "TeamId,TeamName,SubmissionDate,Score\n1,a,2022-01-01,0.80\n2,b,2022-01-01,0.82\n3,c,2022-01-01,0.5\n"
        with zipfile.ZipFile(Path(path, f"{competition}.zip"), "w") as zf:
            zf.writestr(f"{competition}-publicleaderboard.csv", board)


# ------------------------------------------------------------------ credentials


def test_no_credentials_is_one_line_naming_every_way_to_fix_it(no_credentials: Path):
    with pytest.raises(kaggle.NoCredentials) as caught:
        kaggle.require_credentials("spaceship-titanic")
    message = str(caught.value)
    assert "\n" not in message
    assert str(no_credentials / ".kaggle" / "kaggle.json") in message
    assert "KAGGLE_USERNAME" in message and "KAGGLE_KEY" in message
    assert "dojo prepare spaceship-titanic --raw-dir DIR" in message


def test_prepare_without_credentials_fails_before_touching_anything(no_credentials: Path, tmp_path: Path):
    with pytest.raises(kaggle.NoCredentials):
        prepare_competition("spaceship-titanic", data_root=tmp_path / "data")
    assert not (tmp_path / "data" / "spaceship-titanic").exists()


def test_credentials_from_the_environment(no_credentials: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("KAGGLE_USERNAME", "ada")
    monkeypatch.setenv("KAGGLE_KEY", "0123")
    found = kaggle.find_credentials()
    assert found == kaggle.Credentials("key", "KAGGLE_USERNAME/KAGGLE_KEY", "ada")
    monkeypatch.setenv("KAGGLE_API_TOKEN", "tok")
    assert kaggle.find_credentials().kind == "token"


def test_only_a_username_is_not_credentials(no_credentials: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("KAGGLE_USERNAME", "ada")
    assert kaggle.find_credentials() is None


def test_credentials_from_kaggle_json_in_home(no_credentials: Path):
    folder = no_credentials / ".kaggle"
    folder.mkdir()
    (folder / "kaggle.json").write_text('{"username": "ada", "key": "0123"}')
    found = kaggle.find_credentials()
    assert found is not None and found.username == "ada" and found.source == str(folder / "kaggle.json")


def test_kaggle_config_dir_wins_over_home(no_credentials: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (no_credentials / ".kaggle").mkdir()
    (no_credentials / ".kaggle" / "kaggle.json").write_text('{"username": "home", "key": "1"}')
    config = tmp_path / "cfg"
    config.mkdir()
    (config / "kaggle.json").write_text('{"username": "configured", "key": "2"}')
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(config))
    assert kaggle.find_credentials().username == "configured"


def test_access_token_file_counts(no_credentials: Path):
    (no_credentials / ".kaggle").mkdir()
    (no_credentials / ".kaggle" / "access_token").write_text("KGAT_abc\n")
    assert kaggle.find_credentials().kind == "token"


@pytest.mark.parametrize(
    "content, expected",
    [("{not json", "not valid JSON"), ('{"username": "ada"}', "lacks a username or key")],
)
def test_broken_kaggle_json_is_reported(no_credentials: Path, content: str, expected: str):
    (no_credentials / ".kaggle").mkdir()
    (no_credentials / ".kaggle" / "kaggle.json").write_text(content)
    with pytest.raises(kaggle.BadCredentials, match=expected):
        kaggle.find_credentials()


def test_real_kaggle_package_imports_lazily_and_authenticates_offline(
    no_credentials: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    pytest.importorskip("kaggle.api.kaggle_api_extended", reason="the kaggle extra is not installed")
    monkeypatch.setenv("KAGGLE_USERNAME", "ada")
    monkeypatch.setenv("KAGGLE_KEY", "0123")
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "cfg"))
    api = kaggle.kaggle_api("spaceship-titanic")
    assert type(api).__name__ == "KaggleApi"
    assert hasattr(api, "competition_download_files")


def test_kaggle_not_installed_is_one_line(no_credentials: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("KAGGLE_USERNAME", "ada")
    monkeypatch.setenv("KAGGLE_KEY", "0123")
    for module in [m for m in sys.modules if m == "kaggle" or m.startswith("kaggle.")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "kaggle", None)  # import kaggle now raises ImportError
    with pytest.raises(kaggle.KaggleNotInstalled, match=r"pip install 'dojo-kernel\[kaggle\]'"):
        kaggle.kaggle_api("titanic")


# ------------------------------------------------------------------ HTTP errors (stand-in API)


@needs_requests
@pytest.mark.parametrize(
    "status, error, words",
    [
        (403, kaggle.RulesNotAccepted, "https://www.kaggle.com/competitions/spaceship-titanic/rules"),
        (404, kaggle.UnknownCompetition, "no competition named 'spaceship-titanic'"),
        (401, kaggle.BadCredentials, "refused the credentials"),
    ],
)
def test_http_errors_become_one_line_errors(tmp_path: Path, status: int, error: type, words: str):
    api = FakeKaggleApi(fail=[http_error(status)])
    with pytest.raises(error) as caught:
        kaggle.download_competition("spaceship-titanic", tmp_path / "raw", api=api, progress=False)
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)
    assert api.calls == ["download"]  # no retry for an answer that will not change


def test_kaggle_1x_api_exception_status_is_understood(tmp_path: Path):
    class ApiException(Exception):  # the shape of kaggle 1.x's kaggle.rest.ApiException
        def __init__(self, status: int) -> None:
            super().__init__(f"({status})")
            self.status = status

    with pytest.raises(kaggle.RulesNotAccepted):
        kaggle.download_competition("titanic", tmp_path / "raw", api=FakeKaggleApi(fail=[ApiException(403)]), progress=False)


@needs_requests
def test_rules_not_accepted_through_prepare_competition(tmp_path: Path):
    api = FakeKaggleApi(fail=[http_error(403)])
    with pytest.raises(kaggle.RulesNotAccepted, match="accept the competition's rules at https://www.kaggle.com/competitions/titanic/rules"):
        prepare_competition("titanic", data_root=tmp_path / "data", api=api, progress=False)
    assert not (tmp_path / "data" / "titanic").exists()


@needs_requests
def test_interrupted_download_is_retried(tmp_path: Path):
    api = FakeKaggleApi(fail=[requests.ConnectionError("reset"), requests.exceptions.ChunkedEncodingError("cut")])
    raw = kaggle.download_competition("spaceship-titanic", tmp_path / "raw", api=api, progress=False, retry_wait_s=0)
    assert api.calls == ["download"] * 3
    assert (raw / "train.csv").is_file() and not (raw / "spaceship-titanic.zip").exists()


@needs_requests
def test_download_that_keeps_failing_says_run_again_to_resume(tmp_path: Path):
    api = FakeKaggleApi(fail=[requests.ConnectionError("reset")] * 3)
    with pytest.raises(kaggle.DownloadInterrupted, match="run the same command again to resume"):
        kaggle.download_competition("spaceship-titanic", tmp_path / "raw", api=api, progress=False, retry_wait_s=0)
    # The next run (Kaggle resumes the partial archive) completes.
    kaggle.download_competition("spaceship-titanic", tmp_path / "raw", api=api, progress=False, retry_wait_s=0)
    assert (tmp_path / "raw" / "train.csv").is_file()


def test_disk_full_during_download(tmp_path: Path):
    api = FakeKaggleApi(fail=[OSError(errno.ENOSPC, "No space left on device")])
    with pytest.raises(kaggle.DiskSpaceShort, match="disk filled up"):
        kaggle.download_competition("spaceship-titanic", tmp_path / "raw", api=api, progress=False)


def test_disk_space_is_checked_against_the_catalog_size(tmp_path: Path):
    free = __import__("shutil").disk_usage(tmp_path).free
    with pytest.raises(kaggle.DiskSpaceShort) as caught:
        kaggle.check_disk_space(tmp_path / "not" / "yet", free, "huge-competition")
    assert "needs about" in str(caught.value) and "\n" not in str(caught.value)
    kaggle.check_disk_space(tmp_path, 1000, "tiny")  # plenty of room: no error


def test_parse_size_reads_kaggle_sizes():
    assert kaggle.parse_size("351.45 kB") == 351_450
    assert kaggle.parse_size("5.7 GB") == 5_700_000_000
    assert kaggle.parse_size("") is None
    with pytest.raises(ValueError, match="expected a size like"):
        kaggle.parse_size("big")


@needs_requests
def test_whole_kaggle_route_prepares_pages_and_leaderboard(tmp_path: Path):
    api = FakeKaggleApi()
    path = prepare_competition("spaceship-titanic", data_root=tmp_path / "data", api=api, progress=False)
    assert api.calls == ["download", "pages", "leaderboard"]
    description = (path / "public" / "description.md").read_text()
    assert "Predict who was transported." in description and "Rules text" not in description
    board = pd.read_csv(path / "private" / "public_leaderboard.csv")
    assert list(board["score"]) == [0.82, 0.80, 0.5]
    competition = load_competition_dir(path)
    assert competition.source["prepared_from"] == "kaggle-api"
    assert competition.grade(competition.sample_submission_path).valid
    perfect = competition.grade(competition.answers_path)
    assert perfect.score == 1.0 and perfect.rank == 1
    # The raw download is kept (hidden from the registry) so a re-prepare needs no download.
    assert (tmp_path / "data" / ".raw" / "spaceship-titanic" / "train.csv").is_file()
    again = FakeKaggleApi(fail=[requests.ConnectionError("offline")])
    prepare_competition("spaceship-titanic", data_root=tmp_path / "data", api=again, overwrite=True, progress=False)
    assert "download" not in again.calls


# ------------------------------------------------------------------ extraction


def test_nested_archives_are_extracted_into_their_own_folder(tmp_path: Path):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("a.jpg", b"1")
        zf.writestr("b.jpg", b"2")
    with zipfile.ZipFile(tmp_path / "comp.zip", "w") as zf:
        zf.writestr("train.zip", inner.getvalue())
        zf.writestr("train.csv", "id\n1\n")
        zf.writestr("../escape.txt", "no")
    kaggle.extract_archives(tmp_path, bundle="comp.zip", progress=False)
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == ["a.jpg", "b.jpg"]
    assert (tmp_path / "train.csv").is_file()
    assert not (tmp_path.parent / "escape.txt").exists()
    assert not list(tmp_path.glob("*.zip"))


def test_leaderboard_export_is_ranked_by_the_metric_direction():
    export = pd.DataFrame({"TeamId": [1, 2, 3], "TeamName": list("abc"), "SubmissionDate": "", "Score": [0.3, 0.1, 0.2]})
    lower = kaggle.leaderboard_from_kaggle_csv(export, higher_is_better=False)
    assert list(lower["score"]) == [0.1, 0.2, 0.3] and list(lower["rank"]) == [1, 2, 3]
