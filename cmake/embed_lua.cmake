# Turns each libagg/scripts/<name>.lua into RDS_SCRIPT_<NAME> with its source text embedded, and,
# from its --input: KEYS[i] / ARGV[i] header lines, a typed builder rds_call_<name>(c, key_..., arg_...)
# so that a call with the wrong number of keys or arguments does not compile.
separate_arguments(SCRIPTS)
list(SORT SCRIPTS)
set(enum_items "")
set(sources "")
set(names "")
set(protos "")
set(builders "")
foreach(path ${SCRIPTS})
  get_filename_component(name ${path} NAME_WE)
  string(TOUPPER ${name} upper)
  file(READ ${path} body)
  string(REPLACE "\\" "\\\\" body "${body}")
  string(REPLACE "\"" "\\\"" body "${body}")
  string(REPLACE "\n" "\\n\"\n    \"" body "${body}")
  string(APPEND enum_items "    RDS_SCRIPT_${upper},\n")
  string(APPEND sources "    \"${body}\",\n")
  string(APPEND names "    \"${name}\",\n")

  # The header: KEYS first, then ARGV, each numbered from 1 without gaps.
  file(STRINGS ${path} inputs REGEX "^--input: (KEYS|ARGV)\\[")
  set(params "")
  set(pushes "")
  set(nkeys 0)
  set(nargs 0)
  foreach(line ${inputs})
    if(NOT line MATCHES "^--input: (KEYS|ARGV)\\[([0-9]+)\\] ([A-Za-z][A-Za-z0-9]*):")
      message(FATAL_ERROR "${path}: an --input: line must read 'KEYS[i] name: ...' or 'ARGV[i] name: ...': ${line}")
    endif()
    set(kind ${CMAKE_MATCH_1})
    set(idx ${CMAKE_MATCH_2})
    set(pname ${CMAKE_MATCH_3})
    if(kind STREQUAL "KEYS")
      if(nargs GREATER 0)
        message(FATAL_ERROR "${path}: KEYS lines must come before ARGV lines")
      endif()
      math(EXPR nkeys "${nkeys} + 1")
      set(want ${nkeys})
      set(cname "key_${pname}")
    else()
      math(EXPR nargs "${nargs} + 1")
      set(want ${nargs})
      set(cname "arg_${pname}")
    endif()
    if(NOT idx EQUAL want)
      message(FATAL_ERROR "${path}: ${kind}[${idx}] is out of order (expected ${kind}[${want}])")
    endif()
    string(APPEND params ", const char *${cname}")
    string(APPEND pushes "    rds_call_push(c, ${cname});\n")
  endforeach()
  math(EXPR total "${nkeys} + ${nargs}")
  string(APPEND protos "/* ${name}.lua: ${nkeys} keys, ${nargs} arguments, as its --input: lines name them. */\n")
  string(APPEND protos "void rds_call_${name}(struct rds_call *c${params});\n")
  string(APPEND builders "_Static_assert(${total} <= RDS_CALL_MAX_ARGV, \"${name}.lua takes more than RDS_CALL_MAX_ARGV\");\n")
  string(APPEND builders "void rds_call_${name}(struct rds_call *c${params}) {\n")
  string(APPEND builders "    rds_call_begin_script(c, RDS_SCRIPT_${upper}, ${nkeys});\n${pushes}}\n\n")
endforeach()
file(WRITE ${OUT_DIR}/scripts_gen.h.tmp
"/* scripts_gen: generated from the .lua files in libagg/scripts by cmake/embed_lua.cmake; do not edit. */
#ifndef AGG_SCRIPTS_GEN_H
#define AGG_SCRIPTS_GEN_H

struct rds_call;

enum rds_script_id {
${enum_items}    RDS_SCRIPT__COUNT
};

/* Lua source of each script, indexed by enum rds_script_id. */
extern const char *const rds_script_source[RDS_SCRIPT__COUNT];
/* File name (without .lua) of each script. */
extern const char *const rds_script_name[RDS_SCRIPT__COUNT];

/* Typed builders: each fills *c with one EVALSHA of its script (strings borrowed, see rds.h). */
${protos}
#endif
")
file(WRITE ${OUT_DIR}/scripts_gen.c.tmp
"/* scripts_gen: generated from the .lua files in libagg/scripts by cmake/embed_lua.cmake; do not edit. */
#include \"scripts_gen.h\"

#include \"rds.h\"

const char *const rds_script_source[RDS_SCRIPT__COUNT] = {
${sources}};

const char *const rds_script_name[RDS_SCRIPT__COUNT] = {
${names}};

${builders}")
file(COPY_FILE ${OUT_DIR}/scripts_gen.h.tmp ${OUT_DIR}/scripts_gen.h ONLY_IF_DIFFERENT)
file(COPY_FILE ${OUT_DIR}/scripts_gen.c.tmp ${OUT_DIR}/scripts_gen.c ONLY_IF_DIFFERENT)
