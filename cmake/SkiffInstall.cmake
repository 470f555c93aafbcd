# SPDX-License-Identifier: MIT
# Install helpers shared by src/lib and src/micmem.

# skiff_install_pc(TEMPLATE NAME): install TEMPLATE (a .pc.in) as
# <libdir>/pkgconfig/NAME.pc with an absolute prefix. The prefix is filled
# in when installing, so `cmake --install --prefix DIR` gets DIR, not the
# configured prefix (DESTDIR is not part of it, as it must not be).
function(skiff_install_pc template name)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
    set(PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
  else()
    set(PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  endif()
  if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
    set(PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
  else()
    set(PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
  endif()
  set(PC_PREFIX "@PC_PREFIX@") # kept for the install step
  set(stage ${CMAKE_CURRENT_BINARY_DIR}/${name}.pc.stage)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${name}.pc)
  configure_file(${template} ${stage} @ONLY)
  install(CODE "
    set(PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
    configure_file(\"${stage}\" \"${out}\" @ONLY)")
  install(FILES ${out} DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endfunction()
