# Grades one fake lab (a "monitor" that hangs, crashes, prints nothing or prints garbage) and
# checks that every test scores 0 with a reason naming what happened, in bounded time.
#   cmake -DGRADE=hvlab-grade -DBUILD=dir -DRUBRICS=dir -DLAB=fake_hang -DEXPECT=substring -DOUT=file -P check.cmake
string(TIMESTAMP t0 "%s")
execute_process(
  COMMAND ${GRADE} --build-dir ${BUILD} --rubric-dir ${RUBRICS} --lab ${LAB} --emu qemu
          --json ${OUT} -q --no-calibrate
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 90)
string(TIMESTAMP t1 "%s")
math(EXPR seconds "${t1} - ${t0}")
if(rc STREQUAL "0")
  message(FATAL_ERROR "${LAB}: the grader exited 0 for a broken monitor\n${out}")
endif()
if(NOT rc STREQUAL "1")
  message(FATAL_ERROR "${LAB}: the grader failed to grade (status ${rc})\n${out}\n${err}")
endif()
file(READ ${OUT} json)
string(JSON score GET "${json}" labs 0 score)
string(JSON max GET "${json}" labs 0 max_score)
string(JSON n LENGTH "${json}" labs 0 tests)
if(NOT score EQUAL 0 OR max LESS 60 OR n LESS 60)
  message(FATAL_ERROR "${LAB}: expected 0 of the whole suite, got ${score} / ${max} over ${n} tests")
endif()
math(EXPR last "${n} - 1")
foreach(i RANGE ${last})
  string(JSON name GET "${json}" labs 0 tests ${i} name)
  string(JSON reason GET "${json}" labs 0 tests ${i} reason)
  string(JSON s GET "${json}" labs 0 tests ${i} score)
  string(FIND "${reason}" "${EXPECT}" at)
  if(at EQUAL -1 OR NOT s EQUAL 0)
    message(FATAL_ERROR "${LAB}: test ${name} scored ${s} with reason '${reason}', expected '${EXPECT}'")
  endif()
endforeach()
message(STATUS "${LAB}: 0 / ${max} over ${n} tests, each with '${EXPECT}', in ${seconds} s")
