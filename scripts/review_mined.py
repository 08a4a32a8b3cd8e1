"""Review a mining round: contact sheet of the most confident windows, suspects, categories."""

import pyimagesearch.infrastructure.interrupt  # noqa: F401  (first: Ctrl-C while loading -> 130)

# isort: split

from pyimagesearch.commands import main

if __name__ == "__main__":
    main("review")
