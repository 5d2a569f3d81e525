"""Sources of an import: listing order, tags, source spelling, and the S3 operations a bucket import uses."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest
from mutagen.id3 import TCON, TIT2, TPE1
from mutagen.wave import WAVE

from service.errors import InvalidInput
from service.library_import.scanner import (
    BucketSource,
    FolderSource,
    SourceFile,
    normalise_source,
    parse_bucket_source,
    read_tags,
)
from service.storage import S3Storage
from service.track.ingest import TrackFields
from tests.service.library_import.conftest import Library


def test_a_folder_lists_every_file_below_it_in_path_order(library: Library) -> None:
    # when
    files = FolderSource(library.root).files()
    # then
    assert [Path(f.name).relative_to(library.root).as_posix() for f in files] == [
        "Nested/Deeper/a kick (copy).wav",
        "Nested/Deeper/b tagged.flac",
        "Nested/c notes.txt",
        "Nested/d loop.ogg",
        "a kick.wav",
        "c broken.wav",
        "e tagged.mp3",
    ]
    assert files[4].size == library.audio["wav"].stat().st_size
    assert FolderSource(library.audio["ogg"]).files() == [
        SourceFile(name=str(library.audio["ogg"]), size=library.audio["ogg"].stat().st_size)
    ]


def test_tags_of_a_wav_file_come_from_its_id3_chunk(library: Library) -> None:
    # given
    wav = WAVE(library.audio["wav"])
    wav.add_tags()
    assert wav.tags is not None
    wav.tags.add(TIT2(encoding=3, text=["Warehouse"]))
    wav.tags.add(TPE1(encoding=3, text=["Some DJ"]))
    wav.tags.add(TCON(encoding=3, text=["(18)"]))
    wav.save()
    # when / then
    assert read_tags(library.audio["wav"]) == TrackFields(
        title="Warehouse", artist="Some DJ", album=None, genre="Techno"
    )
    assert read_tags(library.audio["ogg"]) == TrackFields()
    assert read_tags(library.text) == TrackFields()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("s3://bucket/a/b/", "s3://bucket/a/b"),
        ("s3://bucket", "s3://bucket/"),
        ("s3://bucket//deep//", "s3://bucket/deep"),
        ("  /srv/music/../music/  ", "/srv/music"),
    ],
)
def test_sources_are_spelled_one_way(source: str, expected: str) -> None:
    assert normalise_source(source) == expected


@pytest.mark.parametrize("source", ["s3://UPPER/x", "s3://a/x", "s3://bucket/../x", "s3:///x", ""])
def test_malformed_sources_are_refused(source: str) -> None:
    with pytest.raises(InvalidInput):
        normalise_source(source)


def test_a_bucket_prefix_lists_its_objects_only_and_streams_and_copies_them(
    s3_storage: S3Storage, tmp_path: Path
) -> None:
    # given
    s3_storage.put_bytes("music/b.wav", b"bee")
    s3_storage.client.put_object(Bucket=s3_storage.bucket, Key="music/a/", Body=b"")
    s3_storage.put_bytes("music/a/c.flac", b"sea")
    s3_storage.put_bytes("musical/d.wav", b"dee")
    bucket, prefix = parse_bucket_source("s3://" + s3_storage.bucket + "/music")
    source = BucketSource(bucket=bucket, prefix=prefix + "/", reader=s3_storage)
    # when
    files = source.files()
    fetched = source.fetch(files[0], tmp_dir=tmp_path)
    key = f"tracks/{uuid.uuid4()}/original.flac"
    source.store(fetched, storage=s3_storage, key=key, content_type="audio/flac")
    # then
    assert [(f.name, f.size) for f in files] == [("music/a/c.flac", 3), ("music/b.wav", 3)]
    assert fetched.path.read_bytes() == b"sea"
    assert (fetched.sha256, fetched.size) == (hashlib.sha256(b"sea").hexdigest(), 3)
    head = s3_storage.client.head_object(Bucket=s3_storage.bucket, Key=key)
    assert (s3_storage.get_bytes(key), head["ContentType"]) == (b"sea", "audio/flac")
    fetched.close()
    assert not fetched.path.exists()
    with pytest.raises(FileNotFoundError):
        s3_storage.open("music/missing.wav")


def test_a_confined_folder_reads_a_copy_of_the_file_it_listed(library: Library, tmp_path: Path) -> None:
    # given
    source = FolderSource(library.root, confined=True)
    listed = {f.basename: f for f in source.files()}
    # when
    fetched = source.fetch(listed["a kick.wav"], tmp_dir=tmp_path / "work")
    # then: the decoder and the upload read a private copy, gone once closed
    try:
        assert fetched.path.parent == tmp_path / "work"
        assert fetched.path.read_bytes() == library.audio["wav"].read_bytes()
        assert fetched.sha256 == hashlib.sha256(library.audio["wav"].read_bytes()).hexdigest()
    finally:
        fetched.close()
    assert list((tmp_path / "work").iterdir()) == []


def test_a_confined_folder_refuses_a_link_swapped_in_after_the_listing(library: Library, tmp_path: Path) -> None:
    # given: the listing saw a regular file; then the file became a link to a private one, and a folder on the
    # way to another file became a link out of the root
    private = tmp_path / "private"
    (private / "Deeper").mkdir(parents=True)
    (private / "secret.wav").write_bytes(b"RIFF secret")
    (private / "Deeper" / "b tagged.flac").write_bytes(b"fLaC secret")
    source = FolderSource(library.root, confined=True)
    listed = {f.basename: f for f in source.files()}
    library.audio["wav"].unlink()
    library.audio["wav"].symlink_to(private / "secret.wav")
    deeper = library.root / "Nested" / "Deeper"
    deeper.rename(tmp_path / "moved")
    deeper.symlink_to(private / "Deeper", target_is_directory=True)
    # when / then
    for name in ("a kick.wav", "b tagged.flac"):
        with pytest.raises(PermissionError) as refused:
            source.fetch(listed[name], tmp_dir=tmp_path / "work")
        assert str(refused.value) == "links to a file outside the imported folder: not read"
    assert list((tmp_path / "work").glob("*")) == []


def test_a_confined_folder_refuses_a_fifo_swapped_in_without_blocking(library: Library, tmp_path: Path) -> None:
    # given
    source = FolderSource(library.root, confined=True)
    listed = {f.basename: f for f in source.files()}
    library.audio["mp3"].unlink()
    os.mkfifo(library.audio["mp3"])
    # when / then
    with pytest.raises(PermissionError) as refused:
        source.fetch(listed["e tagged.mp3"], tmp_dir=tmp_path / "work")
    assert str(refused.value) == "not a regular file: not read"


def test_a_confined_folder_lists_links_out_of_it_as_refused(library: Library, tmp_path: Path) -> None:
    # given: a link to a file outside, a link to a file inside, and a link to a folder outside
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "secret.wav").write_bytes(b"RIFF secret")
    (library.root / "out.wav").symlink_to(tmp_path / "private" / "secret.wav")
    (library.root / "in.wav").symlink_to(library.audio["wav"])
    (library.root / "outdir").symlink_to(tmp_path / "private", target_is_directory=True)
    # when
    confined = {f.basename: f.refused for f in FolderSource(library.root, confined=True).files()}
    operator = {f.basename: f.refused for f in FolderSource(library.root).files()}
    # then: folders behind links are not walked; the operator's own import reads every link
    assert (confined["out.wav"], confined["in.wav"]) == ("links to a file outside the imported folder: not read", None)
    assert "secret.wav" not in confined
    assert (operator["out.wav"], operator["in.wav"]) == (None, None)
