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
