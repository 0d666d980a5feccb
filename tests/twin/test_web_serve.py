"""``twin serve``'s refusals, and ``twin demo`` saying how to watch its store."""

from __future__ import annotations

import uuid

import pytest

from twin import InvalidInputError
from twin.storage import drop_memory_store
from valley_twin.cli import main
from valley_twin.serve_command import check_binding


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_loopback_needs_no_token(host: str) -> None:
    check_binding(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "valley.example.org"])
def test_any_other_address_needs_a_token(host: str) -> None:
    with pytest.raises(InvalidInputError, match="--host") as refused:
        check_binding(host, None)
    assert repr(host) in str(refused.value) and "token" in str(refused.value)
    check_binding(host, "a-long-enough-token-1234")


def test_a_short_token_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="at least 16 characters"):
        check_binding("0.0.0.0", "short")


@pytest.mark.slow
def test_serve_refuses_to_start_on_an_open_address_without_a_token(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["serve", "--host", "0.0.0.0", "--store", "memory://never-opened"]) == 1
    error = capsys.readouterr().err
    assert "--host='0.0.0.0'" in error and "TWIN_WEB_TOKEN" in error


@pytest.mark.slow
def test_demo_ends_by_printing_the_command_that_opens_the_view(
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = f"demo-{uuid.uuid4().hex}"
    try:
        assert main(["--store", f"memory://{name}", "demo", "--days", "0", "--no-report"]) == 0
    finally:
        drop_memory_store(name)
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith(f"see it live: twin --store memory://{name} serve")
    assert last.endswith("http://127.0.0.1:8000/")
