"""The CURVE allow-list: its file format, and reloading without ever dropping to no list."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from zmq.utils import z85

from adapters.wire import CurveKeyCheck
from twin.ingest_server import AllowList, AllowListError

KEY_WITH_HASH = "uQMs7hI=VTK%8O7ymQK)hxu5K-Rj2&R&$d[!M3@#"  # '#' is a Z85 digit
OTHER_KEY = "nzZ9XV99l!Dgp--y{Uv4/iNtsXG:PRiN7h@4e]0Y"


def test_format_comments_and_keys_containing_hash(tmp_path: Path) -> None:
    path = tmp_path / "allowed"
    path.write_text(
        f"# gateways\n\n{KEY_WITH_HASH} gw-1\n  {OTHER_KEY}   gw-2  \n", encoding="utf-8"
    )
    allowed = AllowList(path)
    assert (
        allowed.name_of(KEY_WITH_HASH) == "gw-1" and allowed.name_of(OTHER_KEY.encode()) == "gw-2"
    )
    assert allowed.name_of("x" * 40) is None and allowed.name_of(None) is None
    assert allowed.admits(KEY_WITH_HASH) is True and allowed.admits("x" * 40) is False
    # The transport's ZAP hook is handed raw 32-byte keys and asks the list in Z85.
    check = CurveKeyCheck(allowed.admits)
    assert check.callback("*", z85.decode(KEY_WITH_HASH)) is True
    assert check.callback("*", z85.decode("x" * 40)) is False


@pytest.mark.parametrize(
    "bad_line", ["not-a-key gw-3", f"{OTHER_KEY}", f'{OTHER_KEY[:-1]}" gw-3', f"{OTHER_KEY} gw 3"]
)
def test_a_malformed_line_at_start_names_the_line(tmp_path: Path, bad_line: str) -> None:
    path = tmp_path / "allowed"
    path.write_text(f"{KEY_WITH_HASH} gw-1\n{bad_line}\n", encoding="utf-8")
    with pytest.raises(AllowListError, match="line 2: expected"):
        AllowList(path)


def test_reloads_on_change_and_keeps_the_last_good_list(tmp_path: Path) -> None:
    path = tmp_path / "allowed"
    path.write_text(f"{KEY_WITH_HASH} gw-1\n", encoding="utf-8")
    allowed = AllowList(path)
    path.write_text(f"{OTHER_KEY} gw-2\n", encoding="utf-8")
    os.utime(path, (1, 1))  # a modification time surely different from the first read's
    allowed.reload_if_changed()
    assert allowed.name_of(OTHER_KEY) == "gw-2" and allowed.name_of(KEY_WITH_HASH) is None
    path.write_text(f"{OTHER_KEY[:20]}", encoding="utf-8")  # an editor half-way through saving
    allowed.reload()  # what SIGHUP does: a file that does not parse whole keeps the previous list
    assert allowed.name_of(OTHER_KEY) == "gw-2"
    path.unlink()
    allowed.reload()  # and so does a missing one
    assert allowed.name_of(OTHER_KEY) == "gw-2"


def test_a_missing_file_at_start_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(AllowListError, match="cannot read allow-list"):
        AllowList(tmp_path / "absent")


def test_a_restored_modification_time_does_not_hide_a_change(tmp_path: Path) -> None:
    # Issue 14: a copy that keeps the old modification time (cp -p, rsync -t, an editor) went
    # unnoticed until a SIGHUP.
    path = tmp_path / "allowed"
    path.write_text(f"{KEY_WITH_HASH} gw-1\n", encoding="utf-8")
    allowed = AllowList(path)
    before = path.stat()
    path.write_text(f"{KEY_WITH_HASH} gw-1\n{OTHER_KEY} gw-2\n", encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    allowed.reload_if_changed()
    assert allowed.name_of(OTHER_KEY) == "gw-2"


def test_a_line_may_scope_its_key_to_kinds_and_assets(tmp_path: Path) -> None:
    path = tmp_path / "allowed"
    path.write_text(
        f"{KEY_WITH_HASH} gw-1 kinds=bin.fill,device.battery assets=BIN-34114-*,BIN-34239-0?\n"
        f"{OTHER_KEY} gw-2\n",
        encoding="utf-8",
    )
    allowed = AllowList(path)
    grant = allowed.grant_of(KEY_WITH_HASH)
    assert grant is not None
    name, scope = grant
    assert name == "gw-1" and scope.refusal(name, "bin.fill", "BIN-34114-007") is None
    assert scope.refusal(name, "bin.fill", "BIN-34239-05") is None
    assert "may not write 'site.energy'" in (
        scope.refusal(name, "site.energy", "BIN-34114-1") or ""
    )
    assert "may not write about 'BIN-34239-10'" in (
        scope.refusal(name, "bin.fill", "BIN-34239-10") or ""
    )
    other = allowed.grant_of(OTHER_KEY)
    assert other is not None and other[1].unlimited  # no scope: anything, as before


@pytest.mark.parametrize(
    ("scope", "says"),
    [
        ("kinds=bin.fil", "'bin.fil' is not a wire kind"),
        ("kind=bin.fill", "expected kinds=KIND"),
        ("assets=BIN-1,,BIN-2", "an empty item"),
        ("kinds=bin.fill kinds=bin.fill", "kinds given twice"),
    ],
)
def test_a_scope_that_cannot_be_read_names_the_line_and_the_part(
    tmp_path: Path, scope: str, says: str
) -> None:
    path = tmp_path / "allowed"
    path.write_text(f"{KEY_WITH_HASH} gw-1 {scope}\n", encoding="utf-8")
    with pytest.raises(AllowListError, match="line 1: ") as refused:
        AllowList(path)
    assert says in str(refused.value)


@pytest.mark.parametrize("name", ["gw/1", "raw", "g" * 65])
def test_a_name_no_message_could_carry_as_its_source_is_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / "allowed"
    path.write_text(f"{KEY_WITH_HASH} {name}\n", encoding="utf-8")
    with pytest.raises(AllowListError, match=r"line 1: name .*without '/', and not 'raw'"):
        AllowList(path)
