# lab02-bench: the test suite under lab02's translator against lab01, by instruction counts.
#
#   cmake -DBOOT=hvlab-boot -DMONITOR=lab02.elf -DLAB01=lab01.elf -DGUEST=suite.elf -P bench.cmake
#   (or: ninja -C build lab02-bench; `make bench` runs it as lab02_bench)
#
# Boots the suite under QEMU with -icount shift=0,sleep=off (one TSC tick per instruction, the
# same on every run) and trace=0, under both monitors, and reads from the trace (COM2) the
# run loop's accounting record (entries, guest and monitor instructions; see lab01's
# tools/bench.cmake) and, under lab02, the translator's record:
#
#   {"kind":"translator","blocks":B,"guest_insns":I,"ident_insns":D,"lookups":L,"hits":H,...}
#
# Reported: monitor entries and total instructions under each monitor and their ratio, the
# share of translated guest kernel instructions copied IDENT, the translation cache's hit rate
# (lookups by the monitor: a chained exit or an inline lookup that hits is no lookup at all,
# so this is the rate of entries that found their block already translated), chained exits,
# and the callouts by rule.
foreach(var BOOT MONITOR LAB01 GUEST)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "bench.cmake: pass -D${var}=...")
  endif()
endforeach()

function(bench_boot monitor status prefix)
  execute_process(
    COMMAND ${BOOT} --emu qemu --icount --kernel ${monitor} --module ${GUEST} --cmdline "trace=0"
            --memory 128 --timeout 180 --expect-status ${status} -v
    OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  string(REGEX MATCH "{\"kind\":\"accounting\"[^\n]*}" acct "${out}")
  string(REGEX MATCH "# summary: [0-9]+ passed, [0-9]+ failed" ktap "${out}")
  if(NOT acct)
    message(FATAL_ERROR "lab02-bench: no accounting record on COM2 from ${monitor}\n${out}${err}")
  endif()
  foreach(k entries guest_tsc monitor_tsc)
    string(JSON v GET "${acct}" ${k})
    set(${prefix}_${k} ${v} PARENT_SCOPE)
  endforeach()
  set(${prefix}_ktap "${ktap}" PARENT_SCOPE)
  string(REGEX MATCH "{\"kind\":\"translator\"[^\n]*}" tr "${out}")
  set(${prefix}_translator "${tr}" PARENT_SCOPE)
endfunction()

# x10 ratio as "a.b"
function(ratio out num den)
  math(EXPR r "${num} * 100 / ${den}")
  math(EXPR i "${r} / 100")
  math(EXPR f "${r} % 100")
  if(f LESS 10)
    set(f "0${f}")
  endif()
  set(${out} "${i}.${f}" PARENT_SCOPE)
endfunction()

bench_boot(${LAB01} 1 l1)
bench_boot(${MONITOR} 0 l2)
if(NOT l2_translator)
  message(FATAL_ERROR "lab02-bench: no translator record on COM2")
endif()
foreach(k blocks guest_insns ident_insns lookups hits misses chained unchained_exits callouts invalidations flushes)
  string(JSON ${k} GET "${l2_translator}" ${k})
endforeach()
string(JSON by_rule GET "${l2_translator}" callouts_by_rule)
math(EXPR l1_total "${l1_guest_tsc} + ${l1_monitor_tsc}")
math(EXPR l2_total "${l2_guest_tsc} + ${l2_monitor_tsc}")
ratio(total_ratio ${l2_total} ${l1_total})
ratio(entry_ratio ${l2_entries} ${l1_entries})
math(EXPR ident_x1000 "${ident_insns} * 1000 / ${guest_insns}")
math(EXPR hit_x1000 "${hits} * 1000 / ${lookups}")
math(EXPR ident_i "${ident_x1000} / 10")
math(EXPR ident_f "${ident_x1000} % 10")
math(EXPR hit_i "${hit_x1000} / 10")
math(EXPR hit_f "${hit_x1000} % 10")
message("lab02-bench: the suite under QEMU -icount, trace=0")
message("  lab01: ${l1_ktap}; lab02: ${l2_ktap}")
message("                                       lab01          lab02     lab02/lab01")
message("  monitor entries              ${l1_entries}     ${l2_entries}     ${entry_ratio}")
message("  instructions (guest+monitor) ${l1_total}     ${l2_total}     ${total_ratio}")
message("  blocks translated            ${blocks} (${guest_insns} guest kernel instructions, copied IDENT: ${ident_i}.${ident_f} %)")
message("  monitor lookups              ${lookups}: ${hits} hits, ${misses} misses (hit rate ${hit_i}.${hit_f} %)")
message("  exits chained                ${chained} (unchained exits taken: ${unchained_exits})")
message("  invalidations, flushes       ${invalidations}, ${flushes}")
message("  callouts                     ${callouts}: ${by_rule}")
