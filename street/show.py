#!/usr/bin/env python3
"""Print where each environment of the simulated street answers, and what it serves."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration import street  # noqa: E402


def row(env: str, url: str) -> str:
    try:
        page = street.get(url)
        served = f"HTTP {page.status}  release {page.meta('otap-release')}  \"{page.title}\""
    except OSError as error:
        served = f"no answer ({error})"
    return f"  {env:<12} {url:<26} {served}"


def main() -> None:
    print("Where the street answers:")
    for env in ("development", "test", "acceptance"):
        for name in street.group(env):
            print(row(env, f"http://{street.hostvar(name, 'ansible_host')}/"))
    for name in street.group("production"):
        print(row("production", f"http://{street.hostvar(name, 'ansible_host')}/") + f"  (node {name})")
    print(row("production", f"http://{street.vip()}/") + "  <- the VIP: the production address")


if __name__ == "__main__":
    main()
