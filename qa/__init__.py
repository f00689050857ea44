"""Quality checks that compare a report with itself (see :mod:`qa.reconcile`)."""
