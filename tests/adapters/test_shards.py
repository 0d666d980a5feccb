"""The shard of an asset: stable across processes and releases, and spread evenly."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from adapters.wire import shard_of

# Pinned: a client in any language, any release, must find these. Changing them moves every
# asset of a running deployment to another worker.
PINNED = [
    ("B-34114-GLA-0001", "72db1312759857f3", [1, 0, 3, 243]),
    ("B-34114-GLA-0002", "0540a5e25b2da1f9", [1, 1, 1, 249]),
    ("B-34114-GLA-0003", "d5cd74eb499887c0", [0, 1, 0, 192]),
    ("SITE-34114-MAIRIE", "b188777473e6f64d", [1, 1, 1, 77]),
    ("Gignac — église", "a5de5aa80cb0af3c", [0, 0, 0, 60]),
]
STREAMS = ("RES", "REC", "GLA", "BIO", "PAP")
# The valley's 28 communes' INSEE codes are 34xxx: a sample in the inventory's code format.
COMMUNES = [f"34{n:03d}" for n in range(100, 128)]


def valley_like_codes(count: int) -> list[str]:
    codes = [
        f"B-{commune}-{stream}-{n:04d}"
        for n in range(1, 100)
        for commune in COMMUNES
        for stream in STREAMS
    ]
    return codes[:count]


@pytest.mark.parametrize(("code", "digest", "shards"), PINNED)
def test_known_codes_keep_their_shards(code: str, digest: str, shards: list[int]) -> None:
    # The protocol's definition, spelled out: an 8-byte BLAKE2b, big-endian, modulo.
    assert hashlib.blake2b(code.encode("utf-8"), digest_size=8).hexdigest() == digest
    assert [shard_of(code, count) for count in (2, 3, 4, 256)] == shards


def test_one_shard_is_shard_0() -> None:
    assert {shard_of(code, 1) for code, _, _ in PINNED} == {0}


@pytest.mark.slow
def test_another_process_finds_the_same_shards() -> None:
    # Python's own hash() of a str changes from one process to the next; this must not.
    program = (
        "from adapters.wire import shard_of; import sys; "
        "print(' '.join(str(shard_of(c, 4)) for c in sys.argv[1:]))"
    )
    codes = [code for code, _, _ in PINNED]
    result = subprocess.run(
        [sys.executable, "-c", program, *codes],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.stdout.split() == [str(shards[2]) for _, _, shards in PINNED]


@pytest.mark.parametrize("shards", [2, 4])
def test_the_valley_s_assets_spread_within_a_few_percent_of_even(shards: int) -> None:
    codes = valley_like_codes(3_771)
    assert len(set(codes)) == 3_771
    counts = Counter(shard_of(code, shards) for code in codes)
    even = len(codes) / shards
    assert sorted(counts) == list(range(shards))
    assert all(abs(count - even) / even < 0.05 for count in counts.values()), counts


@pytest.mark.parametrize("bad", [0, -1, 2.0, True, "2"])
def test_a_shard_count_that_is_not_a_whole_number_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="shards must be"):
        shard_of("B-1", bad)  # type: ignore[arg-type]


def test_the_protocol_page_s_examples_are_what_the_code_gives() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "wire-protocol.md").read_text("utf-8")
    section = page.split("### 9.5", 1)[1].split("\n## ", 1)[0]
    examples = re.findall(r"^\| `([^`]+)` \| `([0-9a-f]{16})` \| ([\d |]+)\|$", section, re.M)
    assert len(examples) == 4
    for code, digest, shards in examples:
        assert hashlib.blake2b(code.encode("utf-8"), digest_size=8).hexdigest() == digest
        assert [shard_of(code, n) for n in (2, 3, 4, 256)] == [int(x) for x in shards.split("|")]
