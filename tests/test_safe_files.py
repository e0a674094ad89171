"""Hostile raw files on the prepare route (issue 20, items 3, 4, 5, 6 and 14): links out of
--raw-dir, ids that build paths, zip bombs and lying archives, a --raw-dir inside the data
root, and malformed tables. Every case uses real files, real links and real zip archives,
and checks both the one-line refusal and that nothing outside was read, written or deleted."""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from dojo_kernel.cli import main
from dojo_kernel.competition import load_competition_dir
from dojo_kernel.prepare import kaggle, safe_files
from dojo_kernel.prepare.catalog import RAW_FOLDER, prepare_competition
from dojo_kernel.prepare.safe_files import ArchiveTooLarge, BadArchive, RawFileError

CACTUS = "aerial-cactus-identification"  # a table with one image per row: train/{id}


def cactus_raw(folder: Path, ids: list[str] | None = None) -> Path:
    """A small raw folder in Kaggle's layout for the cactus competition (train.csv + train/<id>)."""
    ids = ids or [f"img{i}.jpg" for i in range(24)]
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"id": ids, "has_cactus": [i % 2 for i in range(len(ids))]}).to_csv(folder / "train.csv", index=False)
    pd.DataFrame({"id": ["t0.jpg"], "has_cactus": [0.5]}).to_csv(folder / "sample_submission.csv", index=False)
    (folder / "train").mkdir(exist_ok=True)
    for name in ids:
        if "/" not in name:
            (folder / "train" / name).write_bytes(b"\xff\xd8image " + name.encode())
    return folder


def zip_folder(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, str(path.relative_to(folder)))
    return archive


def one_error_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("dojo prepare: error: "), lines
    assert "Traceback" not in text
    return lines[0]


@pytest.fixture
def secret(tmp_path) -> Path:
    """Another competition's private answers, somewhere on the host."""
    path = tmp_path / "data" / "other" / "private" / "test_answer.csv"
    path.parent.mkdir(parents=True)
    path.write_text("id,label\nsecret-row,1\n")
    return path


# ------------------------------------------------------------------ item 3: links out of --raw-dir


def test_a_link_out_of_the_raw_folder_is_refused(tmp_path, secret):
    raw = cactus_raw(tmp_path / "raw")
    (raw / "train" / "img3.jpg").unlink()
    os.symlink(secret, raw / "train" / "img3.jpg")
    with pytest.raises(RawFileError, match=r"train/img3.jpg, a link to .*test_answer.csv outside it"):
        prepare_competition(CACTUS, raw_dir=raw, data_root=tmp_path / "data", progress=False)
    assert not (tmp_path / "data" / CACTUS).exists()


def test_a_linked_folder_out_of_the_raw_folder_is_refused_before_extracting(tmp_path, secret):
    raw = tmp_path / "raw"
    raw.mkdir()
    zip_folder(cactus_raw(tmp_path / "loose"), raw / f"{CACTUS}.zip")
    os.symlink(secret.parent, raw / "extras")
    with pytest.raises(RawFileError, match="extras, a link to"):
        prepare_competition(CACTUS, raw_dir=raw, data_root=tmp_path / "data", progress=False)
    assert not list((tmp_path / "data" / RAW_FOLDER).glob("*"))  # nothing extracted, no scratch left


def test_a_link_to_a_folder_that_holds_it_is_refused(tmp_path):
    raw = cactus_raw(tmp_path / "raw")
    os.symlink("..", raw / "train" / "loop")
    with pytest.raises(RawFileError, match="a folder that holds it"):
        safe_files.refuse_links_out(raw)


def test_a_link_inside_the_raw_folder_becomes_a_regular_file_in_public(tmp_path):
    raw = cactus_raw(tmp_path / "raw")
    (raw / "train" / "img5.jpg").unlink()
    os.symlink("img4.jpg", raw / "train" / "img5.jpg")  # relative, stays inside
    path = prepare_competition(CACTUS, raw_dir=raw, data_root=tmp_path / "data", progress=False)
    public = path / "public"
    assert not [p for p in public.rglob("*") if p.is_symlink()]
    copies = [p for p in public.rglob("img5.jpg")]
    assert len(copies) == 1 and copies[0].read_bytes() == (raw / "train" / "img4.jpg").read_bytes()


# ------------------------------------------------------------------ item 4: ids that build paths


def test_an_id_cannot_reach_or_delete_files_outside(tmp_path):
    # raw/train/<id> and public/train/<id> both lead to tmp_path/victim.txt for this id
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    crafted = "../../../../victim.txt"
    raw = cactus_raw(tmp_path / "a" / "b" / "raw", ids=[f"img{i}.jpg" for i in range(23)] + [crafted])
    assert (raw / "train" / crafted).resolve() == victim.resolve()
    with pytest.raises(RawFileError, match=r"expected the file of id='\.\./\.\./\.\./\.\./victim.txt' to be a path inside"):
        prepare_competition(CACTUS, raw_dir=raw, data_root=tmp_path / "data", progress=False)
    assert victim.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "data", "victim.txt"]
    assert not (tmp_path / "data" / CACTUS).exists()


def test_inside_refuses_what_leaves_and_keeps_what_stays(tmp_path):
    (tmp_path / "base" / "sub").mkdir(parents=True)
    os.symlink(tmp_path, tmp_path / "base" / "up")
    assert safe_files.inside(tmp_path / "base", "sub/x.jpg", what="x") == tmp_path / "base" / "sub" / "x.jpg"
    for bad in ["../x", "/etc/passwd", "sub/../../x", "up/x", "..\\x"]:
        with pytest.raises(RawFileError, match="leads out of it"):
            safe_files.inside(tmp_path / "base", bad, what="x")


# ------------------------------------------------------------------ item 5: archives


def bomb(path: Path, megabytes: int = 100) -> Path:
    """A zip of a few hundred KB at most that declares `megabytes` MB of zeros."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf, zf.open("zeros.csv", "w") as out:
        block = b"\0" * 1024**2
        for _ in range(megabytes):
            out.write(block)
    assert path.stat().st_size < 400_000
    return path


def test_a_zip_bomb_is_refused_before_writing_and_leaves_no_scratch(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    bomb(raw / f"{CACTUS}.zip")
    with pytest.raises(ArchiveTooLarge, match=r"expand at most 200x like real data, got \d+x .*zip bomb"):
        prepare_competition(CACTUS, raw_dir=raw, data_root=tmp_path / "data", progress=False)
    assert [p.name for p in raw.iterdir()] == [f"{CACTUS}.zip"]  # the user's folder is untouched
    assert list((tmp_path / "data" / RAW_FOLDER).iterdir()) == []  # the scratch copy is gone


def test_an_archive_past_the_cap_is_refused_and_nested_archives_share_the_cap(tmp_path, monkeypatch):
    payload = os.urandom(150_000)  # does not compress: only the cap can stop it
    inner = tmp_path / "inner.zip"
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("train/a.bin", payload)
        zf.writestr("train/b.bin", payload)
    folder = tmp_path / "x"
    folder.mkdir()
    with zipfile.ZipFile(folder / "comp.zip", "w") as zf:
        zf.write(inner, "train.zip")
        zf.writestr("train.csv", "id\n1\n")
    monkeypatch.setattr(safe_files, "MAX_EXTRACT_BYTES", 400_000)  # the outer fits (~300 kB), the inner does not
    with pytest.raises(ArchiveTooLarge, match="extraction cap"):
        kaggle.extract_archives(folder, bundle="comp.zip", progress=False)
    assert not (folder / "train").exists()  # nothing of the refused inner archive was written


def lying_zip(path: Path) -> Path:
    """A zip whose central directory declares 1,000 bytes for a member that holds 300,000."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("first.csv", "id\n1\n")
        zf.writestr("big.csv", b"a,b\n" * 75_000)
    data = bytearray(path.read_bytes())
    entry = data.index(b"PK\x01\x02", data.index(b"PK\x01\x02") + 4)  # the second member's central entry
    struct.pack_into("<I", data, entry + 24, 1000)
    path.write_bytes(bytes(data))
    return path


def test_an_archive_whose_sizes_lie_is_refused_and_cleaned_up(tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    lying_zip(folder / "comp.zip")
    with pytest.raises(BadArchive, match="comp.zip which is damaged"):
        kaggle.extract_archives(folder, bundle="comp.zip", progress=False)
    assert sorted(p.name for p in folder.iterdir()) == ["comp.zip"]  # first.csv was removed again


# ------------------------------------------------------------------ item 6: --raw-dir inside the data root


def test_raw_dir_at_the_data_roots_own_raw_cache_is_not_deleted(tmp_path):
    data = tmp_path / "data"
    cache = data / RAW_FOLDER / CACTUS
    cache.mkdir(parents=True)
    zip_folder(cactus_raw(tmp_path / "loose"), cache / f"{CACTUS}.zip")
    (cache / "notes.txt").write_text("mine")
    path = prepare_competition(CACTUS, raw_dir=cache, data_root=data, progress=False)
    assert load_competition_dir(path).grade(path / "public" / "sample_submission.csv", split="full").valid
    assert sorted(p.name for p in cache.iterdir()) == [f"{CACTUS}.zip", "notes.txt"]
    assert [p.name for p in (data / RAW_FOLDER).iterdir()] == [CACTUS]  # no scratch left beside it


def test_extracting_over_a_file_of_the_raw_folder_leaves_the_users_file_unchanged(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    zip_folder(cactus_raw(tmp_path / "loose"), raw / f"{CACTUS}.zip")
    (raw / "train.csv").write_text("the user's own file\n")  # the scratch copy hard-links it
    prepare_competition(CACTUS, raw_dir=raw, data_root=tmp_path / "data", progress=False)
    assert (raw / "train.csv").read_text() == "the user's own file\n"


def test_raw_dir_inside_the_competition_it_replaces_is_refused(tmp_path):
    data = tmp_path / "data"
    path = prepare_competition(CACTUS, raw_dir=cactus_raw(tmp_path / "raw"), data_root=data, progress=False)
    inner = cactus_raw(path / "extra-raw")
    with pytest.raises(RawFileError, match="expected --raw-dir outside the competition dir it builds"):
        prepare_competition(CACTUS, raw_dir=inner, data_root=data, overwrite=True, progress=False)
    assert (inner / "train.csv").is_file() and (path / "competition.toml").is_file()


# ------------------------------------------------------------------ item 14: hostile raw files are one line


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"id,has_cactus\n\xff\xfe\xfa.jpg,1\n" * 5, "to be text in UTF-8"),
        (b'id,has_cactus\n"img0.jpg,1\nimg1.jpg,0\n', "to be a well-formed table"),
        (b"id,has_cactus\nimg0.jpg,1\nimg1.jpg,0,7,8\n", "to be a well-formed table"),
        (b"", "to be a well-formed table"),
    ],
    ids=["invalid-utf8", "bad-quoting", "ragged-rows", "empty"],
)
def test_a_malformed_raw_table_is_one_line(tmp_path, monkeypatch, capsys, content, expected):
    monkeypatch.setenv("DOJO_DATA", str(tmp_path / "data"))
    raw = cactus_raw(tmp_path / "raw")
    (raw / "train.csv").write_bytes(content)
    assert main(["prepare", CACTUS, "--raw-dir", str(raw)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "train.csv" in line and expected in line


def test_a_corrupt_archive_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DOJO_DATA", str(tmp_path / "data"))
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / f"{CACTUS}.zip").write_bytes(b"PK\x03\x04 this is not really a zip archive" * 10)
    assert main(["prepare", CACTUS, "--raw-dir", str(raw)]) == 2
    assert "which is damaged" in one_error_line(capsys.readouterr().err)
    assert list((tmp_path / "data" / RAW_FOLDER).iterdir()) == []
