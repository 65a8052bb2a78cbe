"""A real browser for pages the fleet serves: Debian's chromium, headless, that can reach this machine only
(every other host name fails to resolve), as on an air-gapped cluster."""

import re
import shutil
import subprocess
import tempfile

import pytest

RENDER_SECONDS = 10  # of the page's own (virtual) time: scripts run, fetches finish, then the DOM is taken


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed: run `make bootstrap` (as root) or `apt-get install chromium`")
    return found


def rendered_dom(url: str) -> str:
    """The DOM of `url` once its scripts have run, loaded with no route to any host but loopback."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        completed = subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",  # as root in CI; the page is our own
                "--disable-gpu",
                f"--user-data-dir={profile}",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                f"--virtual-time-budget={RENDER_SECONDS * 1000}",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=RENDER_SECONDS + 60,
            check=True,
        )
    return completed.stdout


def rendered_paths(dom: str) -> set[str]:
    """The operation paths Swagger UI drew on the page."""
    return set(re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', dom))
