# The hostile guests (autograder/guests/hostile/) under a monitor on lab01's trap back end:
# hvlab_hostile_tests(LAB MONITOR) adds LAB.boot.EMU.hostile_* with label LAB. Each guest must
# be stopped by the monitor with status 1, a {"kind":"contained",...} record on COM2 and a
# "LAB: contained the guest:" line on the debug console, naming what it did. hvlab-boot has
# no expectation on COM2 or port 0xE9, so the test prints every channel (-v) and matches its
# output: the run line first, then the COM2 section, then the debug console section. FAIL:
# marks any of the runner's own expectations (the exit status) that did not hold, and each
# guest's own report of an access that went through (what it read or wrote: nothing of the
# monitor may reach the guest's output).
function(hvlab_hostile_tests lab mon)
  set(_boot $<TARGET_FILE:hvlab-boot>)
  set(_guests ${CMAKE_BINARY_DIR}/autograder/guests)
  set(_window "in 0xF0000000-0xFFFFFFFF where the monitor lives")
  set(_hostile
    "write_high|the guest maps linear 30000000 to guest-physical 30000000|qemu bochs||"
    "map_foreign|the guest maps linear 80000000 to guest-physical 20000000|qemu bochs||"
    "gdt_over_monitor|the guest accessed linear address ffc00000|qemu bochs||"
    "spin_cli|the guest spins with interrupts disabled|qemu bochs||"
    "triple_fault|the guest triple-faulted|qemu bochs||"
    # Each byte through the emulated UART is two traps, and each trap switches address spaces
    # twice (a full TLB flush on QEMU): 64 KiB is ~130,000 traps, 7 s on QEMU; on Bochs the
    # guest time limit would come first, so a smaller budget still.
    "flood|output flood: the guest wrote more than its output budget to COM1|qemu||output_kib=64"
    "flood|output flood: the guest wrote more than its output budget to COM1|bochs||output_kib=16"
    # The monitor's window, read and written page by page from its bottom, and the memory past
    # the guest's own RAM, at the default machine size and with 512 MiB (where all of the
    # monitor's reach of host RAM exists to be mapped).
    "read_monitor|the guest accessed linear address f0000000, ${_window}|qemu bochs||"
    "read_monitor|the guest accessed linear address f0000000, ${_window}|qemu bochs|512|"
    "write_monitor|the guest accessed linear address f0000000, ${_window}|qemu bochs||"
    "write_monitor|the guest accessed linear address f0000000, ${_window}|qemu bochs|512|"
    "outside_ram|the guest maps linear 02000000 to guest-physical 02000000, outside its 32 MiB of memory|qemu bochs||"
    "outside_ram|the guest maps linear 02000000 to guest-physical 02000000, outside its 32 MiB of memory|qemu bochs|512|")
  foreach(_entry IN LISTS _hostile)
    string(REPLACE "|" ";" _fields "${_entry}")
    list(GET _fields 0 _name)
    list(GET _fields 1 _what)
    list(GET _fields 2 _emus)
    list(GET _fields 3 _mib)
    list(GET _fields 4 _cmdline)
    separate_arguments(_emus)
    set(_memory "")
    set(_suffix "")
    if(_mib)
      set(_memory --memory ${_mib})
      set(_suffix .${_mib}mib)
    endif()
    foreach(_emu IN LISTS _emus)
      set(_test ${lab}.boot.${_emu}.hostile_${_name}${_suffix})
      add_test(NAME ${_test}
        COMMAND ${_boot} --emu ${_emu} --kernel ${mon} --module ${_guests}/hostile_${_name}.elf ${_memory}
          --cmdline "${_cmdline}" --timeout 60 --expect-status 1 -v)
      set_tests_properties(${_test} PROPERTIES LABELS ${lab} TIMEOUT 120
        PASS_REGULAR_EXPRESSION "exited \\(status 1\\).*\"kind\":\"contained\",\"what\":\"${_what}.*${lab}: contained the guest: ${_what}"
        FAIL_REGULAR_EXPRESSION "hvlab-boot: FAIL:;# hostile_${_name}: (read|wrote) ;attempt completed")
    endforeach()
  endforeach()

  # A guest that keeps its own FS and GS (a per-CPU segment at selector 0x2080, beyond any
  # small GDT) across port I/O, CPUID, a page fault and its timer: it must find them intact.
  foreach(_emu qemu bochs)
    foreach(_mib 64 512)
      set(_test ${lab}.boot.${_emu}.hostile_fs_gs.${_mib}mib)
      add_test(NAME ${_test}
        COMMAND ${_boot} --emu ${_emu} --kernel ${mon} --module ${_guests}/hostile_fs_gs.elf --memory ${_mib}
          --timeout 60 --expect-status 0 --expect-com1 "# hostile_fs_gs: FS and GS kept through every trap")
      set_tests_properties(${_test} PROPERTIES LABELS ${lab} TIMEOUT 120 FAIL_REGULAR_EXPRESSION "not ok ")
    endforeach()
  endforeach()
endfunction()
