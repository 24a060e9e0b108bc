# The two commands a fresh machine needs (see README.md); both set everything up first.
.PHONY: lab test quick setup

lab:  ## set up and start JupyterLab on notebooks/ with the gostudy kernel
	./scripts/lab.sh

test: ## set up and run every test
	./scripts/test.sh

quick: ## the edit–test loop: gofmt, vet, go.mod tidiness, Go tests with -short (no notebooks, no browser)
	./scripts/quick.sh

setup: ## only set up (venv, binaries, plugins, kernelspec, build cache)
	./scripts/setup.sh
