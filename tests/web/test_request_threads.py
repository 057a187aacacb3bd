"""Each server process works on a few requests at once (issue 11)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from anyio import to_thread
from fastapi.testclient import TestClient

from resource_centre.web.app import create_app
from tests.web.conftest import build_settings


def test_requests_run_in_as_many_threads_as_the_setting_says(tmp_path: Path) -> None:
    app = create_app(build_settings(tmp_path, request_threads=2))
    with TestClient(app) as client:
        limiter = client.portal.call(to_thread.current_default_thread_limiter)
        assert limiter.total_tokens == 2
        # Five searches at once: all answered, at most two computed at a time.
        busy, most = 0, 0
        lock = threading.Lock()
        search = app.state.search.search

        def counted(*args, **kwargs):
            nonlocal busy, most
            with lock:
                busy += 1
                most = max(most, busy)
            time.sleep(0.05)
            try:
                return search(*args, **kwargs)
            finally:
                with lock:
                    busy -= 1

        app.state.search.search = counted
        answers: list[int] = []
        threads = [
            threading.Thread(
                target=lambda: answers.append(client.get("/api/writeups?q=jardin").status_code)
            )
            for _ in range(5)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert answers == [200] * 5 and most == 2
