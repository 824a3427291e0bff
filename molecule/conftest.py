import sys
from pathlib import Path

# The tests of every scenario (molecule/*/tests): the street helpers live in tests/integration.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration import street  # noqa: E402

# Every playbook the tests run, runs with -v and its output is kept: access searches it all for secrets.
street.VERBOSE = True
