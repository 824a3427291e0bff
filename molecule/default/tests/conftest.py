import sys
from pathlib import Path

# The street helpers live in tests/integration, shared by every scenario.
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
