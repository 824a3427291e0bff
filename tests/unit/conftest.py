import sys
from pathlib import Path

# `make setup` links this checkout in as otap.street under .street/collections.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".street" / "collections"))
