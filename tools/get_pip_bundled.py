"""ansible-test's pip bootstrap (its get-pip script), from the pip wheel Python ships (ensurepip).

ansible-test downloads its bootstrap from a host this network does not reach, unless a copy is in
its cache (`make sanity` puts this file there). It runs it as `python get_pip.py OPTIONS pip==X
--no-setuptools --no-wheel` in an empty virtual environment: this installs the pinned pip from the
package registry with the bundled pip, and neither setuptools nor wheel.
"""

import ensurepip
import subprocess
import sys
from pathlib import Path

GET_PIP_ONLY = ("--no-setuptools", "--no-wheel")
# Where Python keeps the wheel: ensurepip's own folder, or Debian's (python3-venv) for its python3.
WHEEL_FOLDERS = (Path(ensurepip.__file__).parent / "_bundled", Path("/usr/share/python-wheels"))

wheel = next(found for folder in WHEEL_FOLDERS for found in sorted(folder.glob("pip-*.whl")))
options = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
sys.exit(subprocess.call([sys.executable, str(wheel / "pip"), "install", *options]))
