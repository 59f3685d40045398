# Runs the data parsers' fuzzer for a bounded time (CTest: data_fuzz_parsers).
#   cmake -DFUZZER=<exe> -DWORK_DIR=<dir> -DSOURCE_DIR=<tests/data/fuzz> -DSECONDS=<n> -P run_fuzz.cmake
# New corpus entries go to WORK_DIR/corpus; a crashing input is kept in WORK_DIR (crash-*).
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR}/corpus)
execute_process(
  COMMAND ${FUZZER} -max_total_time=${SECONDS} -max_len=8192 -timeout=10 -rss_limit_mb=2048
          -print_final_stats=1 -dict=${SOURCE_DIR}/parsers.dict -artifact_prefix=${WORK_DIR}/
          ${WORK_DIR}/corpus ${SOURCE_DIR}/seeds
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the data parsers' fuzzer failed (exit ${rc}); the input that broke it is in ${WORK_DIR}")
endif()
