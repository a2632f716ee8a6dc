"""Print the dependencies pyproject.toml declares (plus the named extras), one per line.

The service runs from its checkout (manage.py), so the Makefile and the Dockerfile
install only its dependencies, never the project itself as a package.
Usage: python scripts/requirements.py [extra[,extra...]]
"""

import sys
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
extras = [e for e in (sys.argv[1] if len(sys.argv) > 1 else "").split(",") if e]
unknown = set(extras) - set(project["optional-dependencies"])
if unknown:
    sys.exit(f"unknown extras: {', '.join(sorted(unknown))}")
print(
    "\n".join(
        [
            *project["dependencies"],
            *(d for e in extras for d in project["optional-dependencies"][e]),
        ]
    )
)
