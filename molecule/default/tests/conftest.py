import sys
from pathlib import Path

# The street helpers live in tests/integration, shared by every scenario.
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tests.integration import street  # noqa: E402

# Every playbook the tests run, runs with -v: test_7 searches all of that output for secrets.
street.VERBOSE = True
