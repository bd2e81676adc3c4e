# The two commands of the README:
#   make demo   set up (if needed) and run the demo pipeline on a real clip
#   make test   set up (if needed) and run the whole test suite on every distro in DISTROS
# DISTROS=kilted picks one; the first distro runs the whole suite, the others the ROS tests.
DISTROS ?= kilted jazzy
DEMO_DISTRO ?= $(firstword $(DISTROS))

.PHONY: setup build test demo clean prune-venvs

setup:
	@for d in $(DISTROS); do scripts/setup.sh $$d || exit 1; done

build:
	@for d in $(DISTROS); do scripts/build.sh $$d || exit 1; done

test: setup
	scripts/run_tests.sh $(DISTROS)

demo:
	scripts/setup.sh $(DEMO_DISTRO)
	scripts/demo.sh $(DEMO_DISTRO)

clean:
	rm -rf build install log

# the environments of deleted checkouts (each clone has its own, about 4 GB for both distros)
prune-venvs:
	scripts/prune_venvs.sh
