"""Turn test lists into an stestr include list (one regex per line).

usage: include_list.py IDS_FILE [REGEX_FILE]

IDS_FILE lines are tempest test ids, optionally with ``[id-<uuid>]``: each becomes a
regex matching the name or the uuid (the uuid survives renames). REGEX_FILE lines are
regexes already. Blank lines and ``#`` comments are skipped in both.
"""

from __future__ import annotations

import re
import sys


def lines(path: str) -> list[str]:
    with open(path) as handle:
        found = (line.split("#", 1)[0].strip() for line in handle)
        return [line for line in found if line]


def main() -> None:
    for line in lines(sys.argv[1]):
        name = line.split("[", 1)[0]
        uuids = re.findall(r"id-[0-9a-f-]{36}", line)
        alternatives = ["^" + re.escape(name) + r"(\[|$)", *(re.escape(u) for u in uuids)]
        print("(" + "|".join(alternatives) + ")")
    if len(sys.argv) > 2:
        for line in lines(sys.argv[2]):
            print(line)


if __name__ == "__main__":
    main()
