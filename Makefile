# Entry points for a fresh machine without ROS (see README). Every target sets up first; setup is
# idempotent and quick once done.
SHELL := /bin/bash
RUN := source ./env.sh &&

.PHONY: setup test demo demo-physics trials benchmark train-default clean

setup:
	@bash tools/setup_env.sh

test: setup
	@$(RUN) GRASP_SCORER_REQUIRE_ROS=1 python -m pytest -q test

demo: setup
	@$(RUN) python -m grasp_scorer_ros.app.demo

# a few real picks in the MuJoCo cell through ROS and RMI (world:=physics armed:=true)
demo-physics: setup
	@$(RUN) python -m grasp_scorer_ros.app.physics_demo $(ARGS)

# make trials ARGS="--trials 50": pick trials in the physics cell (grasp-scorer-trials --help)
trials: setup
	@$(RUN) grasp-scorer-trials $(ARGS)

# make benchmark ARGS="--only node": only the system's frame rate and latency (benchmarks/benchmark.py --help)
benchmark: setup
	@$(RUN) python benchmarks/benchmark.py $(ARGS)

clean:
	rm -rf build install log env.sh .setup-stamp
