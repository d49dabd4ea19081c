# Fails when one of FILES (a ;-list of paths) has an #include "..." whose path
# matches the regular expression FORBIDDEN; the message names each such file
# and include, then RULE. A build step runs it (see CMakeLists.txt).
#   cmake "-DFILES=a.cpp;b.h" -DFORBIDDEN=kernels/cuda/ -DRULE=... -P check_includes.cmake
set(found "")
foreach(file ${FILES})
  file(STRINGS ${file} includes REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
  foreach(line IN LISTS includes)
    string(REGEX MATCH "\"[^\"]*\"" path "${line}")
    if(path MATCHES "${FORBIDDEN}")
      string(APPEND found "\n  ${file}: #include ${path}")
    endif()
  endforeach()
endforeach()
if(found)
  message(FATAL_ERROR "layering: ${RULE}; these files break it:${found}")
endif()
