# Zydis inside the kernels: Debian's source package, compiled freestanding for -m32.
# The source is fetched once into the build tree (never committed); host tools link
# Debian's shared libzydis of the same version.

set(HVLAB_ZYDIS_DIR ${CMAKE_BINARY_DIR}/_deps/zydis)
execute_process(COMMAND ${CMAKE_SOURCE_DIR}/tools/fetch-zydis.sh ${HVLAB_ZYDIS_DIR}
                RESULT_VARIABLE _zydis_rc)
if(NOT _zydis_rc EQUAL 0)
  message(FATAL_ERROR "hvlab: could not fetch Zydis' source (see above)")
endif()
set(_zsrc ${HVLAB_ZYDIS_DIR}/src)
file(GLOB HVLAB_ZYDIS_SOURCES ${_zsrc}/src/*.c)

add_library(zydis_k32 STATIC ${HVLAB_ZYDIS_SOURCES})
target_include_directories(zydis_k32 SYSTEM PUBLIC ${_zsrc}/include ${_zsrc}/dependencies/zycore/include)
target_include_directories(zydis_k32 PRIVATE ${_zsrc}/src)
target_compile_definitions(zydis_k32 PUBLIC ZYAN_NO_LIBC ZYDIS_STATIC_BUILD ZYCORE_STATIC_BUILD)
target_compile_options(zydis_k32 PRIVATE -m32 -march=i686 -ffreestanding -fno-builtin -nostdlib
  -fno-stack-protector -fno-pic -fno-pie -mno-sse -mno-mmx -mno-80387 -O2 -w
  -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables
  -include ${CMAKE_SOURCE_DIR}/cmake/zydis-libc.h)

# Host side: Debian's shared library and headers.
find_library(HVLAB_ZYDIS_HOST_LIB Zydis REQUIRED)
add_library(zydis_host INTERFACE)
target_link_libraries(zydis_host INTERFACE ${HVLAB_ZYDIS_HOST_LIB})
