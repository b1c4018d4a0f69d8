# Boots of the lab01 monitor through hvlab-boot (label lab01). Included from CMakeLists.txt
# only when the runner exists. The suite's sens tests must fail (19 of them under the
# ring-1 scheme, see autograder/rubrics/lab01.toml), so the guest exits with status 1.
set(_boot $<TARGET_FILE:hvlab-boot>)
set(_mon $<TARGET_FILE:lab01_monitor>)
set(_guests ${CMAKE_BINARY_DIR}/autograder/guests)
set(_expected_summary "passed, 19 failed")
add_test(NAME lab01.boot.qemu.suite
  COMMAND ${_boot} --emu qemu --kernel ${_mon} --module ${_suite} --timeout 30 --memory 128
    --expect-status 1 --expect-com1 "83 ${_expected_summary}" --expect-com1 "not ok 23 sens_pushf")
add_test(NAME lab01.boot.bochs.suite
  COMMAND ${_boot} --emu bochs --kernel ${_mon} --module ${_suite} --timeout 120 --memory 128
    --expect-status 1 --expect-com1 "83 ${_expected_summary}" --expect-com1 "not ok 23 sens_pushf")
# A module that is not an ELF file: a clear message and a clean stop, never a hang.
add_test(NAME lab01.boot.qemu.corrupt_module
  COMMAND ${_boot} --emu qemu --kernel ${_mon} --module ${CMAKE_CURRENT_SOURCE_DIR}/README.md --timeout 20
    --expect-status 1 --expect-com1 "cannot start the guest: module rejected: not an ELF file")
set_tests_properties(lab01.boot.qemu.suite lab01.boot.bochs.suite lab01.boot.qemu.corrupt_module
  PROPERTIES LABELS lab01 TIMEOUT 400)

# The hostile guests (autograder/guests/hostile/): each must be stopped by the monitor with
# status 1, a {"kind":"contained",...} record on COM2 and a "lab01: contained the guest:"
# line on the debug console, naming what it did. hvlab-boot has no expectation on COM2 or
# port 0xE9, so the test prints every channel (-v) and matches its output: the run line
# first, then the COM2 section, then the debug console section. FAIL: marks any of the
# runner's own expectations (the exit status) that did not hold.
#   name|what the monitor reports|emulators|monitor command line
set(_hostile
  "write_high|the guest maps linear 30000000 to guest-physical 30000000|qemu bochs|"
  "map_foreign|the guest maps linear 80000000 to guest-physical 20000000|qemu bochs|"
  "gdt_over_monitor|the guest accessed linear address ffc00000|qemu bochs|"
  "spin_cli|the guest spins with interrupts disabled|qemu bochs|"
  "triple_fault|the guest triple-faulted|qemu bochs|"
  # 256 KiB through the emulated UART is ~520,000 traps: 11 s on QEMU; on Bochs the guest
  # time limit (300 s of its virtual time, 40 s here) would come first, so a smaller budget.
  "flood|output flood: the guest wrote more than its output budget to COM1|qemu|"
  "flood|output flood: the guest wrote more than its output budget to COM1|bochs|output_kib=16")
foreach(_entry IN LISTS _hostile)
  string(REPLACE "|" ";" _fields "${_entry}")
  list(GET _fields 0 _name)
  list(GET _fields 1 _what)
  list(GET _fields 2 _emus)
  list(LENGTH _fields _n)
  set(_cmdline "")
  if(_n GREATER 3)
    list(GET _fields 3 _cmdline)
  endif()
  separate_arguments(_emus)
  foreach(_emu IN LISTS _emus)
    set(_test lab01.boot.${_emu}.hostile_${_name})
    add_test(NAME ${_test}
      COMMAND ${_boot} --emu ${_emu} --kernel ${_mon} --module ${_guests}/hostile_${_name}.elf
        --cmdline "${_cmdline}" --timeout 60 --expect-status 1 -v)
    set_tests_properties(${_test} PROPERTIES LABELS lab01 TIMEOUT 120
      PASS_REGULAR_EXPRESSION "exited \\(status 1\\).*\"kind\":\"contained\",\"what\":\"${_what}.*lab01: contained the guest: ${_what}"
      FAIL_REGULAR_EXPRESSION "hvlab-boot: FAIL:")
  endforeach()
endforeach()
