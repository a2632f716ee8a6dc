"""Before and after, in one run: the confirm scenarios of an older commit and of this tree,
alternated round by round, so both see the same machine (these machines are noisy).

    .venv/bin/python bench/compare.py --before 8375fc6 --only sync-low,async-low --rounds 3

The older commit is checked out in a temporary git worktree and run with this virtualenv.
Per scenario it prints the median CPU ms per iteration (web, worker, sandbox and MariaDB)
of each side and their ratio, and writes bench/results/compare.md.
"""

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
GIT = shutil.which("git") or "git"


def one_run(tree: Path, scenario: str, rate: float, seconds: float) -> dict:
    done = subprocess.run(
        [
            sys.executable,
            "bench/confirm_load.py",
            "--rate",
            str(rate),
            "--seconds",
            str(seconds),
            "--only",
            scenario,
        ],
        cwd=tree,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise RuntimeError(f"{tree}: {scenario} failed:\n{done.stderr[-2000:]}")
    (row,) = json.loads((tree / "bench" / "results" / "confirm.json").read_text())
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", required=True, help="the commit to compare against")
    parser.add_argument("--only", default="sync-low,async-low")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=10)
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()
    rev = subprocess.run(
        [GIT, "rev-parse", "--short", args.before], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    if not rev:
        sys.exit(f"unknown commit {args.before!r}")
    old = Path(tempfile.mkdtemp(prefix="bench-before-")) / "tree"
    subprocess.run([GIT, "worktree", "add", "-q", "--detach", str(old), rev], cwd=ROOT, check=True)
    rows = []
    try:
        for scenario in args.only.split(","):
            cpu = {"before": [], "after": []}
            for n in range(args.rounds):
                for side, tree in (("before", old), ("after", ROOT)):
                    row = one_run(tree, scenario, args.rate, args.seconds)
                    if row["errors"] or row["dropped"]:
                        print(f"  warning: {side} had {row['errors']} errors", flush=True)
                    cpu[side].append(row["cpu_ms_per_iteration"])
                    print(
                        f"{scenario} round {n + 1} {side}: "
                        f"{row['cpu_ms_per_iteration']} CPU ms/iteration",
                        flush=True,
                    )
            before, after = statistics.median(cpu["before"]), statistics.median(cpu["after"])
            rows.append((scenario, before, after, cpu))
    finally:
        subprocess.run([GIT, "worktree", "remove", "--force", str(old)], cwd=ROOT)
    lines = [
        f"# CPU per iteration, {rev} against this tree ({args.rate:g}/s for {args.seconds:g} s, "
        f"median of {args.rounds} alternated rounds)",
        "",
        "| scenario | before ms | after ms | after / before | rounds (before; after) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for scenario, before, after, cpu in rows:
        lines.append(
            f"| {scenario} | {before} | {after} | {after / before:.2f} | "
            f"{', '.join(map(str, cpu['before']))}; {', '.join(map(str, cpu['after']))} |"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "compare.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
