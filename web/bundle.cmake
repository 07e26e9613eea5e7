# Builds the web viewer (web/) at build time and embeds it in bertscope_report: `npm ci` from
# the committed lockfile into <build>/web/node_modules, then web/build.mjs type-checks and
# bundles the TypeScript with esbuild and writes <build>/web/web_assets.cpp (the bundle as
# byte arrays). Nothing is fetched when the viewer runs. Included from the top CMakeLists.txt
# after the report layer is defined.

find_program(BERTSCOPE_NODE NAMES node nodejs)
find_program(BERTSCOPE_NPM NAMES npm)
if(NOT BERTSCOPE_NODE OR NOT BERTSCOPE_NPM)
  message(FATAL_ERROR
    "bertscope's web viewer (web/) is built with Node.js and npm, and "
    "${BERTSCOPE_NODE} / ${BERTSCOPE_NPM} were not found. Run scripts/setup.sh (it installs the "
    "Debian packages nodejs and npm), or install Node.js 18 or newer with npm, then configure again.")
endif()
execute_process(COMMAND ${BERTSCOPE_NODE} --version OUTPUT_VARIABLE _bertscope_node_version
                OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _bertscope_node_rc)
string(REGEX MATCH "^v([0-9]+)" _bertscope_node_major "${_bertscope_node_version}")
if(NOT _bertscope_node_rc EQUAL 0 OR CMAKE_MATCH_1 LESS 18)
  message(FATAL_ERROR "web/: Node.js 18 or newer is needed to build the viewer; ${BERTSCOPE_NODE} is '${_bertscope_node_version}'")
endif()

set(BERTSCOPE_WEB_SOURCE ${PROJECT_SOURCE_DIR}/web)
set(BERTSCOPE_WEB_BUILD ${PROJECT_BINARY_DIR}/web)
file(MAKE_DIRECTORY ${BERTSCOPE_WEB_BUILD})
file(GLOB_RECURSE _bertscope_web_sources CONFIGURE_DEPENDS ${BERTSCOPE_WEB_SOURCE}/src/*)

# node_modules lives in the build folder, so builds in different folders never share (or
# race on) one install; npm's cache makes the second install cheap.
set(_bertscope_npm_stamp ${BERTSCOPE_WEB_BUILD}/node_modules/.bertscope-npm-ci)
add_custom_command(
  OUTPUT ${_bertscope_npm_stamp}
  COMMAND ${CMAKE_COMMAND} -E copy ${BERTSCOPE_WEB_SOURCE}/package.json ${BERTSCOPE_WEB_SOURCE}/package-lock.json
          ${BERTSCOPE_WEB_BUILD}/
  COMMAND ${BERTSCOPE_NPM} ci --no-audit --no-fund --loglevel=error
  COMMAND ${CMAKE_COMMAND} -E touch ${_bertscope_npm_stamp}
  WORKING_DIRECTORY ${BERTSCOPE_WEB_BUILD}
  DEPENDS ${BERTSCOPE_WEB_SOURCE}/package.json ${BERTSCOPE_WEB_SOURCE}/package-lock.json
  COMMENT "web: npm ci (web/package-lock.json)"
  VERBATIM)

add_custom_command(
  OUTPUT ${BERTSCOPE_WEB_BUILD}/web_assets.cpp ${BERTSCOPE_WEB_BUILD}/dist/app.js ${BERTSCOPE_WEB_BUILD}/dist/app.css
  COMMAND ${CMAKE_COMMAND} -E rm -rf ${BERTSCOPE_WEB_BUILD}/src
  COMMAND ${CMAKE_COMMAND} -E copy_directory ${BERTSCOPE_WEB_SOURCE}/src ${BERTSCOPE_WEB_BUILD}/src
  COMMAND ${CMAKE_COMMAND} -E copy ${BERTSCOPE_WEB_SOURCE}/tsconfig.json ${BERTSCOPE_WEB_SOURCE}/build.mjs
          ${BERTSCOPE_WEB_BUILD}/
  COMMAND ${BERTSCOPE_NODE} build.mjs --out dist --cpp web_assets.cpp
  WORKING_DIRECTORY ${BERTSCOPE_WEB_BUILD}
  DEPENDS ${_bertscope_npm_stamp} ${_bertscope_web_sources} ${BERTSCOPE_WEB_SOURCE}/tsconfig.json
          ${BERTSCOPE_WEB_SOURCE}/build.mjs
  COMMENT "web: type-check and bundle the viewer (esbuild)"
  VERBATIM)

target_sources(bertscope_report PRIVATE ${BERTSCOPE_WEB_BUILD}/web_assets.cpp)
