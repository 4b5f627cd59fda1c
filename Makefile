.PHONY: test sandbox crds state-machine
test:
	scripts/dev/test
sandbox:
	scripts/dev/sandbox
crds:
	.venv/bin/odoo-operator crds
state-machine:
	.venv/bin/odoo-operator state-machine
