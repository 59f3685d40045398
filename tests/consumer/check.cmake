# Installs the already-built figs into a scratch prefix, then configures, builds and runs the
# consumer project against it. Invoked by CTest (tests/CMakeLists.txt: install_consumer, and
# install_example for examples/embed_search).
file(REMOVE_RECURSE ${WORK_DIR})
function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGV}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()
run(${CMAKE_COMMAND} --install ${FIGS_BUILD_DIR} --prefix ${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${WORK_DIR}/build -G Ninja
    -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
# EXECUTABLE (default: consumer) and its ARGS (a ;-list) let other projects (examples/) use this.
if(NOT DEFINED EXECUTABLE)
  set(EXECUTABLE consumer)
endif()
run(${WORK_DIR}/build/${EXECUTABLE} ${ARGS})
