"""Evaluate models: PR curve and AP on held-out annotated images, FPPI on distraction images.

With ``--protocol openimages --subset DIR``, the model is scored on an Open Images subset
(``openimages_subset.py --mode positives``) with the Open Images protocol: hierarchy,
group-of boxes, verified image-level labels, AP per class and mAP.

With several ``--model`` files (e.g. the pipeline's ``models/compare_annotated_off.json``
beside ``model.json``), all are evaluated on the same images in one run and compared.
"""

import pyimagesearch.infrastructure.interrupt  # noqa: F401  (first: Ctrl-C while loading -> 130)

# isort: split

from pyimagesearch.commands import main

if __name__ == "__main__":
    main("evaluate")
