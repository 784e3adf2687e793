# xit: three commands. Each target sets up the environment on first use.
#   make install   # create .venv and install xit with its pinned CPU torch
#   make demo      # the main job: params/demo.yaml grid + analysis report (offline)
#   make test      # pytest: library tests, grids that execute notebooks 01/02, papermill value tests of 03-05 (offline)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.xit-installed

.PHONY: install demo test smoke report study-pilot study-mlm study study-collect report-study clean-outputs

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m xit run params/demo.yaml

smoke: $(STAMP)
	$(PY) -m xit run params/smoke.yaml

test: $(STAMP)
	$(PY) -m pytest

report: $(STAMP)
	$(PY) -m xit report outputs/results.parquet --out outputs/report

# The study (results/study/, committed run by run; re-running skips every committed run).
study-pilot: $(STAMP)
	$(PY) -m xit run params/study-pilot.yaml

study-mlm: $(STAMP)
	$(PY) -m xit run params/study-mlm.yaml

study: $(STAMP)
	$(PY) -m xit run params/study.yaml

# The study's finished runs (any stage) into results/study/results.parquet, and the README's answer from it.
study-collect: $(STAMP)
	$(PY) -m xit collect params/study.yaml
	$(PY) -m xit answer results/study/results.parquet

# The study's report from the committed table, without retraining.
report-study: $(STAMP)
	$(PY) -m xit report results/study/results.parquet --out outputs/report-study

clean-outputs:
	rm -rf outputs/runs outputs/encoders outputs/smoke outputs/report outputs/results.parquet outputs/design-*.parquet outputs/summary-*.parquet outputs/dev_metrics.parquet outputs/train_log.parquet
