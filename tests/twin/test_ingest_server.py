"""The ingest server in a thread: started once bound, a failure to bind reported, not hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin import load_geography, open_twin
from twin.ingest import IngestProcessor
from twin.ingest_server import IngestBindError, IngestServer, ServerSettings


@pytest.mark.slow
def test_serve_in_thread_reports_its_endpoint_and_a_second_bind_fails_at_once(
    tmp_path: Path,
) -> None:
    twin = open_twin(f"sqlite:///{tmp_path / 'twin.sqlite'}")
    try:
        first = IngestServer(
            IngestProcessor(twin, load_geography()), ServerSettings("tcp://127.0.0.1:*"), None, None
        )
        stop_first = first.serve_in_thread()
        assert first.bound_endpoint is not None and first.bound_endpoint.startswith(
            "tcp://127.0.0.1:"
        )
        second = IngestServer(
            IngestProcessor(twin, load_geography()),
            ServerSettings(first.bound_endpoint),
            None,
            None,
        )
        with pytest.raises(IngestBindError, match="cannot listen on"):
            second.serve_in_thread(timeout_s=5)
        stop_first()
    finally:
        twin.close()
