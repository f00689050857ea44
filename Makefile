# Two commands on a fresh machine with Python 3.11:
#   make run    set up .venv/ and extract the bundled sample into outputs/clair-2012/
#   make test   set up .venv/ and run the tests
# Set-up (scripts/setup) is skipped when .venv/ matches constraints.txt and pyproject.toml.

SAMPLE := corpus/ corpus/pdf/

.PHONY: setup run test

setup:
	@scripts/setup

run: setup
	.venv/bin/cardex extract $(SAMPLE) --survey-id clair-2012 --out outputs/clair-2012

test:
	@scripts/test
