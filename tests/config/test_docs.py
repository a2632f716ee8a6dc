"""The docs explain the code from inside the repo: every variable the code reads is in
docs/configuration.md, and every reference in code and docs resolves to a file (and a
section) of the repo."""

import re

from tests.processes import ROOT

ENV_READ = re.compile(r'\benv(?:\.[a-z_]+)?\(\s*"([A-Z][A-Z0-9_]+)"')
PACKAGES = ("config", "members", "products", "payments", "gateways", "ledger")
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def python_files():
    for folder in (*PACKAGES, "tests", "bench", "scripts"):
        yield from (ROOT / folder).rglob("*.py")


def variables_read_by_the_code() -> set[str]:
    names = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            names.update(ENV_READ.findall(path.read_text()))
    return names


def test_every_environment_variable_is_documented():
    table = (ROOT / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", table, re.MULTILINE))

    read = variables_read_by_the_code()

    assert read, "the scan found no variables: the pattern is broken"
    assert read - documented == set()


def test_no_code_points_at_documents_outside_the_repo():
    # The shared specs the project started from are not in a clone (spelt in pieces, so
    # that this test does not find itself).
    pieces = ["DESIGN sec" + "tion", "DESIGN inv" + "ariant", "pg-con" + "tracts", "API[.]" + "md"]
    outside = re.compile("|".join([*pieces, "shared" + "/"]))
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in python_files()
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if outside.search(line)
    ]
    assert found == []


def test_every_link_in_the_docs_resolves_to_a_file_of_the_repo():
    broken = []
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if not re.match(r"[a-z]+://", target) and not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(ROOT)} -> {target}")
    assert broken == []


def headings(doc: str) -> list[str]:
    text = (ROOT / "docs" / doc).read_text()
    return [h.strip("` ") for h in re.findall(r"^#+ (.+)$", text, re.MULTILINE)]


def test_every_docs_section_the_code_names_exists():
    """`docs/pg.md, Toss: error codes` in a comment must name a heading of docs/pg.md."""
    named = re.compile(r'docs/([a-z_-]+\.md),? \(?"?([A-Z][\w ,:/-]*?)["),.;]')
    missing, seen = [], 0
    for path in python_files():
        # Comments and docstrings wrap: read each file as one line, comment marks removed.
        text = " ".join(line.strip().lstrip("#").strip() for line in path.read_text().splitlines())
        for doc, section in named.findall(text):
            seen += 1
            if not (ROOT / "docs" / doc).exists():
                missing.append(f"{path.relative_to(ROOT)}: docs/{doc}")
            elif not any(h.startswith(section.strip()) for h in headings(doc)):
                missing.append(f"{path.relative_to(ROOT)}: docs/{doc}, {section.strip()}")
    assert seen, "the scan found no section references: the pattern is broken"
    assert missing == []
