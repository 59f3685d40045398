# Runs one libFuzzer target for a bounded time (CTest: the tests labelled "fuzz").
#   cmake -DFUZZER=<exe> -DWORK_DIR=<dir> -DSEEDS=<seed dir> [-DDICT=<file>] -DSECONDS=<n>
#         [-DMAX_LEN=<bytes>] -P run_fuzz.cmake
# New corpus entries go to WORK_DIR/corpus; a crashing input is kept in WORK_DIR (crash-*,
# timeout-*, oom-*). The committed seeds are read, never written.
if(NOT MAX_LEN)
  set(MAX_LEN 8192)
endif()
set(dict_arg)
if(DICT)
  set(dict_arg -dict=${DICT})
endif()
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR}/corpus)
execute_process(
  COMMAND ${FUZZER} -max_total_time=${SECONDS} -max_len=${MAX_LEN} -timeout=20 -rss_limit_mb=2048
          -print_final_stats=1 ${dict_arg} -artifact_prefix=${WORK_DIR}/
          ${WORK_DIR}/corpus ${SEEDS}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the fuzzer ${FUZZER} failed (exit ${rc}); the input that broke it is in ${WORK_DIR}")
endif()
