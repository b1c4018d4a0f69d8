# One folder per component, its tests beside it. A component's CMakeLists.txt calls
#   hvlab_component(NAME SOURCES a.cpp b.cpp KERNEL_SOURCES k.cpp HOST_SOURCES h.cpp TESTS tests/x_test.cpp)
# SOURCES go into both hvlab_common_host (host, for tools and GoogleTest) and
# hvlab_common_k32 (freestanding, for the 32-bit kernels).

function(hvlab_component name)
  cmake_parse_arguments(C "" "" "SOURCES;KERNEL_SOURCES;HOST_SOURCES;TESTS;TEST_LIBS" ${ARGN})
  foreach(s IN LISTS C_SOURCES C_HOST_SOURCES)
    target_sources(hvlab_common_host PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/${s})
  endforeach()
  foreach(s IN LISTS C_SOURCES C_KERNEL_SOURCES)
    target_sources(hvlab_common_k32 PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/${s})
  endforeach()
  if(C_TESTS)
    set(exe common_${name}_tests)
    add_executable(${exe})
    foreach(s IN LISTS C_TESTS)
      target_sources(${exe} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/${s})
    endforeach()
    target_link_libraries(${exe} PRIVATE hvlab_common_host GTest::gtest_main ${C_TEST_LIBS})
    gtest_discover_tests(${exe} TEST_PREFIX "common.${name}." DISCOVERY_TIMEOUT 30)
  endif()
endfunction()
