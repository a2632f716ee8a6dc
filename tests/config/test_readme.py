"""The README's configuration table lists every environment variable the code reads."""

import re

from tests.processes import ROOT

ENV_READ = re.compile(r'\benv(?:\.[a-z_]+)?\(\s*"([A-Z][A-Z0-9_]+)"')


def variables_read_by_the_code() -> set[str]:
    names = set()
    for package in ("config", "members", "products", "payments", "gateways"):
        for path in (ROOT / package).rglob("*.py"):
            names.update(ENV_READ.findall(path.read_text()))
    return names


def test_every_environment_variable_is_documented():
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", readme, re.MULTILINE))

    read = variables_read_by_the_code()

    assert read, "the scan found no variables: the pattern is broken"
    assert read - documented == set()
