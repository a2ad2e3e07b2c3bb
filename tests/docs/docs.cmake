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
