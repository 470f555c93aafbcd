# SPDX-License-Identifier: MIT
# cmake -DSRC=<source> -DBIN=<scratch dir> -DGEN=<generator> -P check_build_testing.cmake:
# configured with -DBUILD_TESTING=OFF, the tree defines no test and no test
# program (a distribution build with nocheck compiles none of them).
file(REMOVE_RECURSE ${BIN})
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SRC} -B ${BIN} -G ${GEN} -DBUILD_TESTING=OFF
  RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
if(rc)
  message(FATAL_ERROR "configure with BUILD_TESTING=OFF failed: ${err}")
endif()
execute_process(COMMAND ${CMAKE_CTEST_COMMAND} --test-dir ${BIN} -N
  OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT out MATCHES "Total Tests: 0")
  message(SEND_ERROR "BUILD_TESTING=OFF still defines tests:\n${out}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BIN} --target help
  OUTPUT_VARIABLE targets)
if(targets MATCHES "test_[a-z]|skiff_harness")
  message(SEND_ERROR "BUILD_TESTING=OFF still has test programs to build")
endif()
if(NOT targets MATCHES "scifd")
  message(SEND_ERROR "no scifd target in the BUILD_TESTING=OFF tree? (target list unreadable)")
endif()
file(REMOVE_RECURSE ${BIN})
