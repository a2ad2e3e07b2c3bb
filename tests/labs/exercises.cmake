# labs: each break-and-fix exercise of labs/exercise.sh, built broken, graded broken (it must
# FAIL and name the fault), fixed with docs/instructor/solutions.txt, graded again (PASS), cleaned.
# Included from tests/CMakeLists.txt.
foreach(case "1;port-mismatch;listener.tcp"
             "2;no-ip-rule;tproxy.ip_rule.ipv4"
             "3;no-local-route;tproxy.local_route.ipv4"
             "4;mark-mismatch;tproxy.mark_mismatch.ipv4"
             "5;src-valid-mark;src_valid_mark"
             "6;listener-not-transparent;listener.tcp"
             "7;redirect-loop;gateway -> http"
             "8;unscoped-tproxy;gateway -> http")
    list(GET case 0 number)
    list(GET case 1 name)
    list(GET case 2 reason)
    add_test(NAME lab_exercise_${number}_${name}
             COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/labs/exercise_solutions.sh ${number} ${reason})
    set_tests_properties(lab_exercise_${number}_${name} PROPERTIES
        LABELS labs
        ENVIRONMENT "TPLAB=$<TARGET_FILE:tplab>;LAB_PREFIX=tplext"
        SKIP_RETURN_CODE 4
        RUN_SERIAL TRUE
        TIMEOUT 180)
endforeach()

# labs: the cheat catalogue: cheats that make a symptom go away without the proxy path must FAIL
# --check, valid fixes other than the solutions' (nft, iif, rule order) must PASS.
add_test(NAME lab_exercise_check_grades_on_evidence
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/labs/exercise_cheats.sh)
set_tests_properties(lab_exercise_check_grades_on_evidence PROPERTIES
    LABELS labs
    ENVIRONMENT "TPLAB=$<TARGET_FILE:tplab>;LAB_PREFIX=tplexc"
    SKIP_RETURN_CODE 4
    RUN_SERIAL TRUE
    TIMEOUT 400)

# labs: two students at once (--student), a non-root student's --student through real sudo, the
# answers kept from students (set-up log, hints), and `exercise.sh N | cat` returning once set up.
foreach(case "students_share_one_machine;exercise_students.sh;tplexstu"
             "answers_stay_with_the_instructor;exercise_answers_hidden.sh;tplexans"
             "output_pipe_returns;exercise_output_pipe.sh;tplexpipe"
             "student_name_survives_sudo;exercise_student_via_sudo.sh;tplexsudo")
    list(GET case 0 name)
    list(GET case 1 script)
    list(GET case 2 prefix)
    add_test(NAME lab_exercise_${name} COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/labs/${script})
    set_tests_properties(lab_exercise_${name} PROPERTIES
        LABELS labs
        ENVIRONMENT "TPLAB=$<TARGET_FILE:tplab>;LAB_PREFIX=${prefix}"
        SKIP_RETURN_CODE 4
        RUN_SERIAL TRUE
        TIMEOUT 180)
endforeach()

# unit: the exercise script's own command line: the list, and bad input (exit 2, one line).
add_test(NAME exercise_cli_lists_every_exercise
         COMMAND sh -c "\"$1\" --list | wc -l | grep -qx 8" exercise_cli ${PROJECT_SOURCE_DIR}/labs/exercise.sh)
add_test(NAME exercise_cli_refuses_bad_input
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/labs/exercise_bad_input.sh ${PROJECT_SOURCE_DIR}/labs/exercise.sh)
# Run as `tplab lab exercise`, it names itself that way in what it prints (TPLAB_LAB_COMMAND).
add_test(NAME exercise_cli_names_itself_as_the_user_typed_it
         COMMAND sh -c "\"$1\" lab exercise 2>&1 | grep -qF '(see tplab lab exercise --help)'"
                 exercise_cli $<TARGET_FILE:tplab>)
set_tests_properties(exercise_cli_lists_every_exercise exercise_cli_refuses_bad_input
    exercise_cli_names_itself_as_the_user_typed_it PROPERTIES
    LABELS unit ENVIRONMENT "LAB_PREFIX=tplexcli" TIMEOUT 30)

# labs: the original text's recipe, verbatim, failing, then guarded (labs/original-recipe.sh),
# end to end and interrupted half-way (nothing may be left behind).
add_test(NAME lab_original-recipe COMMAND ${PROJECT_SOURCE_DIR}/labs/original-recipe.sh)
add_test(NAME lab_original-recipe_interrupted_at_5s
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/labs/interrupt_cleanup.sh
                 ${PROJECT_SOURCE_DIR}/labs/original-recipe.sh 5)
set_tests_properties(lab_original-recipe lab_original-recipe_interrupted_at_5s PROPERTIES
    LABELS labs
    ENVIRONMENT "TPLAB=$<TARGET_FILE:tplab>;LAB_PREFIX=tpltest"
    WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}
    SKIP_RETURN_CODE 4
    RUN_SERIAL TRUE
    TIMEOUT 300)
