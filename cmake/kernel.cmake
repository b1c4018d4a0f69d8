# Freestanding 32-bit kernels: flags, a static library kind and a multiboot1 ELF kind.
# The same compiler (g++ -m32) builds host tools and kernels; only the flags differ.

set(HVLAB_K32_FLAGS
  -m32 -march=i686 -ffreestanding -fno-exceptions -fno-rtti -fno-asynchronous-unwind-tables
  -fno-unwind-tables -mno-sse -mno-mmx -mno-80387 -fno-pic -fno-pie -fno-threadsafe-statics
  -fno-use-cxa-atexit -fstack-protector-strong -mstack-protector-guard=global
  -fno-omit-frame-pointer -ffunction-sections -fdata-sections -Wall -Wextra -DHVLAB_KERNEL=1
  -fmacro-prefix-map=${CMAKE_SOURCE_DIR}/=)
set(HVLAB_K32_CXX_FLAGS -fno-exceptions -fno-rtti -Wno-volatile)
set(HVLAB_K32_LINKER_SCRIPT ${CMAKE_SOURCE_DIR}/common/boot/kernel.ld)

# Compile options for a freestanding 32-bit object library or static library.
function(hvlab_k32_target tgt)
  target_compile_options(${tgt} PRIVATE ${HVLAB_K32_FLAGS}
    $<$<COMPILE_LANGUAGE:CXX>:${HVLAB_K32_CXX_FLAGS}>)
  target_compile_definitions(${tgt} PUBLIC HVLAB_KERNEL=1)
  set_target_properties(${tgt} PROPERTIES POSITION_INDEPENDENT_CODE OFF)
endfunction()

# hvlab_kernel(NAME SOURCES ... [LIBS ...] [LINKER_SCRIPT file])
# A multiboot1 ELF linked at 1 MiB with the common library (boot code, runtime, devices).
function(hvlab_kernel name)
  cmake_parse_arguments(K "" "LINKER_SCRIPT" "SOURCES;LIBS" ${ARGN})
  if(NOT K_LINKER_SCRIPT)
    set(K_LINKER_SCRIPT ${HVLAB_K32_LINKER_SCRIPT})
  endif()
  add_executable(${name} ${K_SOURCES})
  hvlab_k32_target(${name})
  # The boot objects come in whole so their entry point and multiboot header are kept.
  target_link_libraries(${name} PRIVATE hvlab_boot_k32 ${K_LIBS} hvlab_common_k32)
  target_link_options(${name} PRIVATE -m32 -nostdlib -static -no-pie
    -Wl,-T,${K_LINKER_SCRIPT} -Wl,--gc-sections -Wl,-z,max-page-size=0x1000 -Wl,--build-id=none)
  target_link_libraries(${name} PRIVATE gcc)
  set_target_properties(${name} PROPERTIES SUFFIX ".elf" LINK_DEPENDS ${K_LINKER_SCRIPT})
endfunction()
