"""`payments demo` runs the whole flow offline and prints each step."""

import re
import subprocess
import sys


def test_demo_runs_the_whole_flow_offline(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "payments.cli", "demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "order state diff #1: pending -> paid  paid=120.00 EUR" in out
    assert "order state diff #2: paid -> partially_refunded  paid=120.00 EUR  refunded=30.00 EUR" in out
    assert "pending 9.00 EUR (was 12.00 EUR before the refund)" in out
    assert "net 9.00 EUR = gross 12.00 EUR - clawed back 3.00 EUR" in out
    assert "done: created -> paid -> partial refund -> commission -> report\nOpen the pages:\n" in out
    console, referrer = out.rstrip().splitlines()[-2:]
    assert re.fullmatch(
        r"  operator console    http://127\.0\.0\.1:\d+/console   \(admin credential: \S{20,}\)", console
    )
    assert re.fullmatch(
        r"  referrer dashboard  http://127\.0\.0\.1:\d+/referrer/signin\?token=[\w.-]+", referrer
    )
    assert list(tmp_path.iterdir()) == []  # nothing left behind in the working directory
