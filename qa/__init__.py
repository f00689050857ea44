"""Quality assurance of extraction runs: the report reconciled with itself (:mod:`qa.reconcile`), runs compared and reviewed (:mod:`qa.diff`, :mod:`qa.report`)."""
