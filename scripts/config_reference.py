"""Print the config reference rendered from the schema, or write it (docs/configuration.md).

python scripts/config_reference.py                                 # print it
python scripts/config_reference.py --write docs/configuration.md   # write it
python scripts/config_reference.py --check docs/configuration.md   # exit 1 if stale
"""

import pyimagesearch.infrastructure.interrupt  # noqa: F401  (first: Ctrl-C while loading -> 130)

# isort: split

import argparse
import sys

from pyimagesearch.infrastructure.config_reference import is_current, render, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", metavar="PATH", help="write the reference there (atomically)")
    group.add_argument("--check", metavar="PATH", help="exit 1 when the file is not current")
    args = parser.parse_args(argv)
    if args.write:
        print(write(args.write))
    elif args.check:
        if not is_current(args.check):
            print(f"{args.check} is not current: run {sys.argv[0]} --write {args.check}")
            return 1
    else:
        sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
