# Two commands on a fresh machine with Python 3.11:
#   make run    set up .venv/ and run the main job on the bundled sample (see below)
#   make test   set up .venv/ and run the tests
# Set-up (scripts/setup) is skipped when .venv/ matches constraints.txt and pyproject.toml.
#
# The sample is the 2012 survey twice, as converter text (with four reports that hold no
# cards) and as the PDF: two extraction runs, then the QA diff between them and a review page.

.PHONY: setup run test

setup:
	@scripts/setup

run: setup
	.venv/bin/cardex extract corpus/ --survey-id clair-2012 --out outputs/clair-2012
	.venv/bin/cardex extract corpus/pdf/ --survey-id clair-2012 --out outputs/clair-2012-pdf
	.venv/bin/cardex diff outputs/clair-2012 outputs/clair-2012-pdf --out outputs/diff-text-vs-pdf --ignore-whitespace
	.venv/bin/cardex review outputs/clair-2012

test:
	@scripts/test
