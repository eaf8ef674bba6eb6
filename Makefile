# mcuforge: two entry points. `make demo` runs the main job on the emulated board; `make test` runs the suite.
# Both install what is missing first (Debian packages, then a virtualenv with mcuforge installed editable).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# Arm: build + QEMU; AVR: build + simavr (the Uno) + avrdude/Optiboot; clang-14 + libFuzzer + compiler-rt:
# firmware C built for the host with sanitizers (tests/firmware_host.py); the real-board flashing tools,
# run without hardware by tests/test_flash_tools.py (openocd, st-flash, stm32flash, dfu-util; ~10 MiB);
# ccache: generated projects reuse objects compiled before (the suite builds ~55 identical files per firmware).
APT_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm \
                openocd stlink-tools stm32flash dfu-util \
                gcc-avr avr-libc binutils-avr simavr libsimavr-dev libsimavrparts1 libelf-dev gcc avrdude arduino-core-avr arduino-builder arduino-ctags \
                clang-14 libfuzzer-14-dev libclang-rt-14-dev \
                ccache espeak-ng python3 python3-venv make
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# one test worker more than cores: much of the suite waits on QEMU's UARTs (2 cores: 17:47 with 3, 21:35 with 2)
JOBS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 2) + 1 )))

.PHONY: demo demo-full test bench setup apt venv clean help
help:
	@echo "make demo   - keyword spotting on the emulated STM32F405: int8 DS-CNN accuracy, on-device learning with a BNN, EMI-RNN vs LSTM, TinyTrain few-shot adaptation (every part smaller: under 20 min)"
	@echo "make demo-full - the same at full size (about 70 min on 2 cores)"
	@echo "make test   - the whole suite (runs firmware on QEMU)"
	@echo "make bench  - benchmarks (MACs/cycle, arena vs TFLM, flash)"

setup: apt venv

# Installs only what dpkg does not already have, so a second run costs a second.
apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

demo: setup
	$(VENV)/bin/mcuforge demo

demo-full: setup
	$(VENV)/bin/mcuforge demo --full

test: setup
	$(PY) -m pytest -n $(JOBS) --timeout 900 -q -ra --durations=40 -m 'not slow'  # slow: pytest -m slow

bench: setup
	$(PY) -m bench

clean:
	rm -rf build .pytest_cache
