# Entry points for a fresh machine without ROS (see README). Every target sets up first; setup is
# idempotent and quick once done.
SHELL := /bin/bash
RUN := source ./env.sh &&

.PHONY: setup test test-fast test-avx2 demo demo-physics trials benchmark train-default clean

setup:
	@bash tools/setup_env.sh

test: setup
	@$(RUN) GRASP_SCORER_REQUIRE_ROS=1 python -m pytest -q test

# the unit tests only: the suite without the system tests (test/system/) and the tests marked slow
test-fast: setup
	@$(RUN) GRASP_SCORER_REQUIRE_ROS=1 python -m pytest -q -m "not slow" test

# the suite as an AVX2-only CPU runs it: torch's kernels and oneDNN held to AVX2 (so precision auto takes
# float32); ONNX Runtime keeps its own dispatch (its int8 is exact on every CPU: network/quantization.py)
test-avx2: setup
	@$(RUN) ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 GRASP_SCORER_REQUIRE_ROS=1 python -m pytest -q test

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

# the bundled model from nothing (tools/train_default.sh): about 1.5 h on 2 cores; OUT=runs/default by default
train-default: setup
	@$(RUN) bash tools/train_default.sh

clean:
	rm -rf build install log env.sh .setup-stamp
