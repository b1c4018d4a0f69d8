# hvlab: the one front door. Every target installs what is missing first (make deps).
#
#   make test                 build everything and run every test (unit, boot, grader)
#   make grade [LAB=..] [EMU=qemu|bochs|both]
#                             grade the reference labs (default: all labs, both emulators)
#   make run LAB=native GUEST=suite [EMU=qemu]
#                             boot one guest with its console on the terminal
#   make gdb LAB=lab01        the same under QEMU's GDB stub, GDB attached with symbols
#   make bench                boot and grading times, and each lab's measurements
#   make docs                 Doxygen HTML for common/ (warnings are errors)
#   make deps                 install missing Debian packages (apt-get; sudo when not root)

BUILD ?= build
JOBS  ?= 2
LAB   ?= all
EMU   ?= both
GUEST ?= suite
export CMAKE_BUILD_PARALLEL_LEVEL := $(JOBS)

.PHONY: all deps configure build test grade run gdb bench docs clean help

all: build

help:
	@sed -n '2,15p' Makefile | sed 's/^# \{0,1\}//'

deps:
	@tools/deps.sh

$(BUILD)/build.ninja: | deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

configure: deps $(BUILD)/build.ninja

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD) -j $(JOBS) --output-on-failure --timeout 300

grade: build
	autograder/grade --build-dir $(BUILD) --lab $(LAB) --emu $(EMU) -j $(JOBS)

run: build
	autograder/run --build-dir $(BUILD) --lab $(or $(filter-out all,$(LAB)),native) \
	  --guest $(GUEST) --emu $(if $(filter both,$(EMU)),qemu,$(EMU))

gdb: build
	autograder/gdb --build-dir $(BUILD) --lab $(or $(filter-out all,$(LAB)),native) --guest $(GUEST)

bench: build
	autograder/bench --build-dir $(BUILD)

docs: deps
	@mkdir -p $(BUILD)/docs
	( cat common/Doxyfile; echo "OUTPUT_DIRECTORY = $(BUILD)/docs" ) | doxygen -
	@echo "docs: $(BUILD)/docs/html/index.html"

clean:
	rm -rf $(BUILD)
