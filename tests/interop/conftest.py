"""The interop tests reuse the SIP tests' scripted host and free ports (tests/sip has no
package, its modules import each other by bare name, so its folder goes on the path)."""

from __future__ import annotations

import sys
from pathlib import Path

_SIP_TESTS = str(Path(__file__).parent.parent / "sip")
if _SIP_TESTS not in sys.path:
    sys.path.insert(0, _SIP_TESTS)

# Issue 12 (SIP with the phones, PBXs and proxies people already run): reproductions of
# failures not fixed yet. Each test there passes once its failure is fixed, and moves into
# the suite then; run the file by hand to see today's failures:
#   .venv/bin/pytest -p no:cacheprovider tests/interop/test_issue12_pending.py
collect_ignore = ["test_issue12_pending.py"]
