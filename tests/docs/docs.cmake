# unit: the Chinese pages (docs/zh) are listed in docs/zh/SOURCES and not older than their English
# sources; the check itself is shown to fail on a throwaway repository. Included from
# tests/CMakeLists.txt. Exit 4 (no git checkout) is a skip.
add_test(NAME docs_zh_pages_in_step_with_english
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/docs/check_zh_sources.sh ${PROJECT_SOURCE_DIR})
add_test(NAME docs_zh_check_fails_on_stale_pages
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/docs/check_zh_sources_selftest.sh)
set_tests_properties(docs_zh_pages_in_step_with_english docs_zh_check_fails_on_stale_pages
    PROPERTIES LABELS unit SKIP_RETURN_CODE 4 TIMEOUT 60)

# labs: every tplab command of the instructor's kit (docs/teaching, the README's code blocks) runs
# as printed where that is safe (--help, tplab rules, tplab doctor in a scratch namespace) and
# parses everywhere else (tplab_parse_only: the real CLI11 app, nothing run).
add_executable(tplab_parse_only docs/parse_only.cpp)
target_link_libraries(tplab_parse_only PRIVATE tplab_cli)
add_test(NAME docs_teaching_tplab_commands_work_as_printed
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/docs/check_tplab_commands.sh ${PROJECT_SOURCE_DIR}
                 $<TARGET_FILE:tplab> $<TARGET_FILE:tplab_parse_only>)
set_tests_properties(docs_teaching_tplab_commands_work_as_printed PROPERTIES LABELS labs TIMEOUT 60)

# teaching: the run sheet's blocks, timed by running their lab commands as printed
# (scripts/teaching-dry-run.sh): a block whose commands take more than half of its planned time
# fails. Minutes of the whole machine: not in unit or labs (CI), not in scripts/test.sh (-LE).
add_test(NAME teaching_run_sheet_blocks_fit_their_time
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/teaching-dry-run.sh)
set_tests_properties(teaching_run_sheet_blocks_fit_their_time PROPERTIES
    LABELS teaching
    ENVIRONMENT "TPLAB=$<TARGET_FILE:tplab>;LAB_PREFIX=tpldryct"
    SKIP_RETURN_CODE 4
    RUN_SERIAL TRUE
    TIMEOUT 900)

# unit: the dry run itself, on run sheets of one block that lists the exercises (no namespace):
# an over-full block fails, one with time to spare passes, bad input exits 2.
add_test(NAME teaching_dry_run_fails_an_overfull_block
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/docs/teaching_dry_run_selftest.sh ${PROJECT_SOURCE_DIR})
set_tests_properties(teaching_dry_run_fails_an_overfull_block PROPERTIES
    LABELS unit ENVIRONMENT "TPLAB=$<TARGET_FILE:tplab>;LAB_PREFIX=tpldryst" SKIP_RETURN_CODE 4 TIMEOUT 60)
