# Compiler settings shared by every fusebox target: warnings, ccache, torch PCH.

find_program(FUSEBOX_CCACHE ccache)
if(FUSEBOX_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  # PCH and ccache agree only with these sloppiness settings (ccache manual, "Precompiled
  # headers").
  set(CMAKE_CXX_COMPILER_LAUNCHER
      ${CMAKE_COMMAND} -E env CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
      ${FUSEBOX_CCACHE})
  message(STATUS "fusebox: using ccache at ${FUSEBOX_CCACHE}")
endif()

function(fusebox_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra)
endfunction()

# Torch headers cost 30-40 s per translation unit on a 2-core machine; a precompiled
# <torch/torch.h> brings that to a few seconds. Every torch target gets its own PCH
# (flags differ between the shared library and executables, so one cannot be reused).
function(fusebox_torch_pch target)
  target_precompile_headers(${target} PRIVATE <torch/torch.h>)
endfunction()

# Executables share one PCH. They are built without -fPIC/-fPIE flags (Debian's gcc makes PIE
# by default), so the PCH carrier below must be too.
function(fusebox_exe_pch target)
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE OFF)
  if(TARGET fusebox_exe_pch)
    target_precompile_headers(${target} REUSE_FROM fusebox_exe_pch)
  endif()
endfunction()

function(fusebox_add_exe_pch_carrier)
  file(WRITE ${CMAKE_BINARY_DIR}/fusebox_exe_pch.cpp "// carries the executables' torch PCH\n")
  add_library(fusebox_exe_pch OBJECT ${CMAKE_BINARY_DIR}/fusebox_exe_pch.cpp)
  target_link_libraries(fusebox_exe_pch PRIVATE fusebox)
  set_target_properties(fusebox_exe_pch PROPERTIES POSITION_INDEPENDENT_CODE OFF)
  fusebox_set_warnings(fusebox_exe_pch)
  target_precompile_headers(fusebox_exe_pch PRIVATE <torch/torch.h>)
endfunction()
