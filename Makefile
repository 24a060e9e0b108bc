# The two commands a fresh machine needs (see README.md); both set everything up first.
.PHONY: lab test setup

lab:  ## set up and start JupyterLab on notebooks/ with the gostudy kernel
	./scripts/lab.sh

test: ## set up and run every test
	./scripts/test.sh

setup: ## only set up (venv, binaries, plugins, kernelspec, build cache)
	./scripts/setup.sh
