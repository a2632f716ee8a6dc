"""Summarise a py-spy raw profile (collapsed stacks): where the samples are.

.venv/bin/python bench/hotspots.py bench/results/profile-sync-low-web.txt [N]
"""

import sys
from collections import Counter


def main() -> None:
    path, top = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 40
    inclusive, own, total = Counter(), Counter(), 0
    with open(path) as lines:
        rows = list(lines)
    for line in rows:
        stack, _, count = line.rstrip().rpartition(" ")
        n = int(count)
        frames = [
            f.split(" (")[0] + " " + f.split(" (")[-1].split(":")[0].rstrip(")")
            for f in stack.split(";")
        ]
        if any("idle" in f for f in frames[-1:]):
            continue
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    print(f"{total} samples")
    print("-- inclusive")
    for frame, n in inclusive.most_common(top):
        print(f"{100 * n / total:5.1f}%  {frame}")
    print("-- own")
    for frame, n in own.most_common(25):
        print(f"{100 * n / total:5.1f}%  {frame}")


if __name__ == "__main__":
    main()
