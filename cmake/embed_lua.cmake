# Turns each libagg/scripts/<name>.lua into RDS_SCRIPT_<NAME> with its source text embedded.
separate_arguments(SCRIPTS)
list(SORT SCRIPTS)
set(enum_items "")
set(sources "")
set(names "")
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
endforeach()
file(WRITE ${OUT_DIR}/scripts_gen.h.tmp
"/* scripts_gen: generated from the .lua files in libagg/scripts by cmake/embed_lua.cmake; do not edit. */
#ifndef AGG_SCRIPTS_GEN_H
#define AGG_SCRIPTS_GEN_H

enum rds_script_id {
${enum_items}    RDS_SCRIPT__COUNT
};

/* Lua source of each script, indexed by enum rds_script_id. */
extern const char *const rds_script_source[RDS_SCRIPT__COUNT];
/* File name (without .lua) of each script. */
extern const char *const rds_script_name[RDS_SCRIPT__COUNT];

#endif
")
file(WRITE ${OUT_DIR}/scripts_gen.c.tmp
"/* scripts_gen: generated from the .lua files in libagg/scripts by cmake/embed_lua.cmake; do not edit. */
#include \"scripts_gen.h\"

const char *const rds_script_source[RDS_SCRIPT__COUNT] = {
${sources}};

const char *const rds_script_name[RDS_SCRIPT__COUNT] = {
${names}};
")
file(COPY_FILE ${OUT_DIR}/scripts_gen.h.tmp ${OUT_DIR}/scripts_gen.h ONLY_IF_DIFFERENT)
file(COPY_FILE ${OUT_DIR}/scripts_gen.c.tmp ${OUT_DIR}/scripts_gen.c ONLY_IF_DIFFERENT)
