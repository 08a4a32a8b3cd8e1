"""Data tools apart from the core: fetchers that download or copy data sets.

The downloader (:mod:`.download`), COCO backgrounds (:mod:`.coco_backgrounds`), Open
Images subsets (:mod:`.openimages`) and the CALTECH-101 / scene-category fetch behind
``datasets/fetch.py`` (:mod:`.datasets`). They may import the core; the core
(``pyimagesearch`` outside this package) never imports them, so training, detection and
evaluation do not depend on network code.
"""
