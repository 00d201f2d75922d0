# Kite: `make demo` and `make test` do all set-up on a fresh Debian machine with Swift.
SHELL := /bin/bash
SWIFT ?= swift
VENV := .venv
PY := $(VENV)/bin/python
KITE := .build/release/kite
DEMO := Samples/mobilenetv2_op13/model.onnx

.PHONY: all deps build release demo test schemas check-schemas venv samples conformance torch-check bench clean

all: build

# Installs the C library and protoc-c when missing (root on Debian; sudo otherwise).
deps:
	@if ! pkg-config --exists libprotobuf-c 2>/dev/null || ! command -v protoc-c >/dev/null; then \
		echo "installing libprotobuf-c-dev protobuf-c-compiler pkg-config"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq libprotobuf-c-dev protobuf-c-compiler pkg-config >/dev/null; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

demo: release
	@echo "== kite inspect $(DEMO)"
	$(KITE) inspect $(DEMO)
	@echo
	@echo "== kite convert $(DEMO)"
	$(KITE) convert $(DEMO) -o /tmp/kite-demo.kite
	@echo
	@echo "== kite run /tmp/kite-demo.kite"
	$(KITE) run /tmp/kite-demo.kite --input input=Samples/mobilenetv2_op13/inputs/input.npy
	@echo
	@echo "== kite profile /tmp/kite-demo.kite"
	$(KITE) profile /tmp/kite-demo.kite --runs 20

# Numerics tests run in a release build: SIMD code is hundreds of times slower in debug.
# `swift test` builds every product (the `kite` binary the command-line tests run included)
# with testable imports, so a separate `swift build` first would compile everything twice.
test: deps check-schemas
	$(SWIFT) test -c release --disable-swift-testing

# Regenerates the committed protobuf-c code from Schemas/.
schemas: deps
	protoc-c --proto_path=Schemas --c_out=CProtobuf Schemas/onnx.proto Schemas/kite.proto
	mv CProtobuf/onnx.pb-c.h CProtobuf/kite.pb-c.h CProtobuf/include/

# Fails when the committed C code differs from what the schemas generate.
check-schemas: deps
	@tmp=$$(mktemp -d) && protoc-c --proto_path=Schemas --c_out=$$tmp Schemas/onnx.proto Schemas/kite.proto && \
	for f in onnx kite; do \
		cmp -s $$tmp/$$f.pb-c.c CProtobuf/$$f.pb-c.c && cmp -s $$tmp/$$f.pb-c.h CProtobuf/include/$$f.pb-c.h || \
		{ echo "CProtobuf/ is out of date with Schemas/$$f.proto: run 'make schemas'"; rm -rf $$tmp; exit 1; }; \
	done; rm -rf $$tmp; echo "schemas: generated C code is up to date"

venv: $(VENV)/.done
$(VENV)/.done: Samples/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -r Samples/requirements.txt
	touch $@

# Regenerates the committed sample models and their onnxruntime outputs.
samples: venv
	$(PY) Samples/generate.py

conformance: venv release
	rm -rf conformance && $(PY) tools/conformance_export.py conformance
	$(KITE) conformance conformance

# Real PyTorch exports (TorchScript and dynamo, opsets 9-21, folded or not, float16) of every
# network, each checked against onnxruntime; QUICK=1 for about a third of them.
torch-check: release .venv-torch/.done
	.venv-torch/bin/python tools/torch_export_check.py --kite $(KITE) $(if $(QUICK),--quick)
.venv-torch/.done: tools/torch-requirements.txt
	python3 -m venv .venv-torch
	.venv-torch/bin/pip install -q -r tools/torch-requirements.txt
	touch $@

bench: venv release
	$(VENV)/bin/pip install -q -r bench/requirements.txt || echo "OpenVINO unavailable: benchmarking onnxruntime only"
	bash bench/run.sh

clean:
	rm -rf .build
