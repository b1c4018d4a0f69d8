# hvlab: the one front door. Every target installs what is missing first (make deps).
#
#   make test                 build everything and run every test (unit, boot, grader)
#   make grade [LAB=..] [EMU=qemu|bochs|both]
#                             grade the labs (default: all labs, both emulators); LAB=labNN
#                             builds only what that lab's grading needs
#   make unit LAB=labNN       build and run one lab's unit tests (GoogleTest, with a summary)
#   make run LAB=native GUEST=suite [EMU=qemu] [MODULES='a.bin b.bin=args'] [DISK=fs.img]
#            [MONITOR_ARGS='trace=all'] [MEMORY=MiB]
#                             boot one guest with its console on the terminal (keys reach
#                             it); GUEST is a built guest, xv6, or any multiboot kernel file (under
#                             LAB=lab03 the default guest is suite_pv, its paravirtual build)
#   make gdb LAB=lab01 [GUEST=..] [EMU=bochs] [GDBARGS=..]
#                             the same, stopped, under GDB (QEMU's stub; the monitor's symbols and
#                             the hv-* commands: hv-vcpu, hv-trace, hv-pt, hv-vmcs), or under
#                             Bochs' own debugger with EMU=bochs (lab04's VT-x)
#   make census               classify x86 instructions by running them deprivileged (lab01)
#   make bench                boot and grading times, and each lab's measurements
#   make bench-class          grade a synthetic class at -j 1 and -j 2: lab-submissions per core-minute
#                             and the projected time for 200 students x 5 labs on 16 cores
#   make compare              the lecture's table of techniques, measured: build/compare/
#   make docs                 Doxygen HTML for every component, a page per lab linking its
#                             exercises to their functions (warnings are errors)
#   make deps                 install missing Debian packages (apt-get; sudo when not root)
#   make handout [UPTO=labNN] [HANDOUT=dir]
#                             write the student handout to build/handout (a git repository
#                             with one commit); UPTO keeps the solutions of labs up to labNN
#   make handin               pack your last commit into build/handin/*.tar.gz (students)
#   make gradescope [UPTO=labNN]
#                             build/gradescope/hvlab-autograder.zip for Gradescope
#   make slides               the lecture deck, measured: build/slides/lecture.html and .pdf
#   make bt-dump ADDR=.. [GUEST=..] [IF=0|1]
#                             lab02: a guest block and its translation, side by side (ADDR: hex
#                             or a function's name, e.g. sens_pushf)
#   make demo                 list the lecture's demos
#   make demo-NAME [ARGS=..]  run one (demo-census, demo-trap, demo-vmexit, demo-entry-fail, ...)
#   make test-slurm           a one-node Slurm cluster on this machine grades a class with the
#                             kit's job array; its gradebook must match local grading
#   make test-gradescope      the Gradescope zip's setup.sh and run_autograder in a clean Debian
#                             12 root laid out as Gradescope's image (root cached in /var/tmp)

BUILD ?= build
JOBS  ?= 2
LAB   ?= all
EMU   ?= both
# lab03 runs the paravirtual build of a guest (suite_pv): the unmodified one cannot run there.
GUEST ?= $(if $(filter lab03,$(LAB)),suite_pv,suite)
MODULES ?=
DISK ?=
MONITOR_ARGS ?=
MEMORY ?=
UPTO  ?=
HANDOUT ?= $(BUILD)/handout
export CMAKE_BUILD_PARALLEL_LEVEL := $(JOBS)
# ccache (installed by make deps) keeps rebuilds short; paths are taken relative to the
# tree, so two checkouts share their objects.
CCACHE := $(shell command -v ccache 2>/dev/null)
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

.PHONY: all deps configure build test grade run gdb census bench bench-class compare docs clean help

all: build

# In a student tree (a handout) `make help` speaks to students.
help:
	@if [ -f .hvlab-handout ] && [ -f tools/handout/student-help.txt ]; then cat tools/handout/student-help.txt; \
	 else sed -n '2,/^$$/{/^#/p}' Makefile | sed 's/^# \{0,1\}//'; fi

deps:
	@tools/deps.sh

$(BUILD)/build.ninja: | deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  $(if $(CCACHE),-DCMAKE_C_COMPILER_LAUNCHER=$(CCACHE) -DCMAKE_CXX_COMPILER_LAUNCHER=$(CCACHE))

configure: deps $(BUILD)/build.ninja

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: build slides-npm
	ctest --test-dir $(BUILD) -j $(JOBS) --output-on-failure --timeout 300

# One lab: its folder (lab01 -> lab01-trap-and-emulate), and what grading or running it needs:
# the grader, the guests, the calibration kernel, QEMU's evidence plugin and that lab's
# monitor, not the other labs, the tools or the test programs.
LAB_DIR = $(patsubst %/,%,$(firstword $(wildcard $(LAB)-*/)))
LAB_TARGETS = hvlab-grade hvlab-boot hvlab-calibrate hvlab_guests hvlab_evidence \
  $(if $(LAB_DIR),$(LAB_DIR)/monitor.elf)

# Builds everything for LAB=all, else only LAB_TARGETS (the native baseline has no monitor).
build-lab: configure
	@if [ "$(LAB)" != all ] && [ "$(LAB)" != native ] && [ -z "$(LAB_DIR)" ]; then \
	  echo "make: no lab '$(LAB)' here (labs: $$(ls -d lab[0-9][0-9]-*/ | cut -c1-5 | tr '\n' ' '))"; exit 2; fi
	cmake --build $(BUILD) -j $(JOBS) $(if $(filter all,$(LAB)),,--target $(LAB_TARGETS))

grade: build-lab
	autograder/grade --build-dir $(BUILD) --lab $(LAB) --emu $(EMU) -j $(JOBS)

# A lab's unit tests: the test program itself, which runs every test and ends with a
# summary (a stub fails only the tests that reach it).
unit: configure
	@if [ -z "$(LAB_DIR)" ]; then echo "make unit: give LAB=labNN (labs: $$(ls -d lab[0-9][0-9]-*/ | cut -c1-5 | tr '\n' ' '))"; exit 2; fi
	cmake --build $(BUILD) -j $(JOBS) --target $(LAB)_tests
	$(BUILD)/$(LAB_DIR)/tests/$(LAB)_tests

run: build
	autograder/run --build-dir $(BUILD) --lab $(or $(filter-out all,$(LAB)),native) \
	  --guest '$(GUEST)' --emu $(if $(filter both,$(EMU)),qemu,$(EMU)) \
	  $(foreach m,$(MODULES),--module '$(m)') $(if $(DISK),--disk '$(DISK)') \
	  $(if $(MONITOR_ARGS),--monitor-args '$(MONITOR_ARGS)') $(if $(MEMORY),--memory '$(MEMORY)')

gdb: build
	autograder/gdb --build-dir $(BUILD) --lab $(or $(filter-out all,$(LAB)),native) --guest $(GUEST) \
	  --emu $(if $(filter bochs,$(EMU)),bochs,qemu) -- $(GDBARGS)

census: build
	cmake --build $(BUILD) --target census

bench: build
	autograder/bench --build-dir $(BUILD)

compare: build
	$(BUILD)/tools/compare/hvlab-compare --source . --build-dir $(BUILD)

bench-class: build
	autograder/bench-class --build-dir $(BUILD)

docs: deps
	tools/docs/make-docs.sh $(abspath $(BUILD))/docs

clean:
	rm -rf $(BUILD)

.PHONY: handout handin gradescope test-slurm test-gradescope

# The student tree: solution regions replaced by stubs, instructor-only files left out.
handout: configure
	cmake --build $(BUILD) --target hvlab-handout
	$(BUILD)/tools/handout/hvlab-handout --source . --dest $(HANDOUT) --force $(if $(UPTO),--upto $(UPTO))
	@echo "handout: $(HANDOUT) is a git repository with one commit; push it to a private repository for your students"

# A submission archive of the last commit; refuses uncommitted changes (no build needed).
handin:
	@tools/handout/handin.sh $(BUILD)

# Gradescope's autograder zip: setup.sh, run_autograder and the handout (autograder/gradescope).
gradescope: configure
	cmake --build $(BUILD) --target hvlab-handout
	autograder/gradescope/make-zip.sh --build-dir $(BUILD) --out $(BUILD)/gradescope/hvlab-autograder.zip $(if $(UPTO),--upto $(UPTO))

.PHONY: bt-dump
bt-dump: configure
	@cmake --build $(BUILD) --target lab02-bt-dump $(or $(GUEST),suite) -j $(JOBS) >$(BUILD)/bt-dump-build.log 2>&1 || \
	  { tail -n 20 $(BUILD)/bt-dump-build.log; echo "bt-dump: the build failed"; exit 1; }
	@$(BUILD)/lab02-binary-translation/lab02-bt-dump --guest $(BUILD)/autograder/guests/$(or $(GUEST),suite).elf \
	  --addr $(or $(ADDR),$(error bt-dump: give ADDR=hex address or function name)) --if $(or $(IF),1)

.PHONY: slides slides-npm demo

# The deck's npm packages (reveal.js, playwright-core), pinned by slides/package-lock.json.
slides-npm: deps
	@slides/npm-install.sh $(BUILD)/slides/npm

# The deck, every figure measured anew by the demos: build/slides/lecture.html and .pdf.
slides: build slides-npm
	slides/make-deck --build-dir $(BUILD) --out $(BUILD)/slides

demo:
	@slides/demo --build-dir $(BUILD) list

# A demo runs on an up-to-date build; the build's own output goes to a log.
demo-%: configure
	@cmake --build $(BUILD) -j $(JOBS) >$(BUILD)/demo-build.log 2>&1 || \
	  { tail -n 20 $(BUILD)/demo-build.log; echo "demo-$*: the build failed (log: $(BUILD)/demo-build.log)"; exit 1; }
	@slides/demo --build-dir $(BUILD) $* $(ARGS)
# Not in `make test`: they install packages (slurm-wlm and munge; debootstrap) and take minutes.
test-slurm: build
	autograder/slurm/tests/one-node.sh . $(BUILD) $(BUILD)/slurm-check

test-gradescope: gradescope
	autograder/gradescope/tests/clean-root.sh . $(BUILD) $(BUILD)/gradescope-check
