"""Sites: loaded from files (:mod:`geo.sites.load`), compiled to shapes in their own metric
frame (:mod:`geo.sites.shapes`) and to columns (:mod:`geo.sites.arrays`), and which of them
cover a fix — :mod:`geo.sites.membership` (the index and the per-fix reference) beside its
compiled kernel (:mod:`geo.sites.kernel`) and the candidate grid (:mod:`geo.sites.grid`)."""
