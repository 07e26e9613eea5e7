// Headless Chromium as a renderer: `bertscope figure` loads a generated page in it and reads the
// rendered figure back from the DOM. Debian's `chromium` package (/usr/bin/chromium) is the
// reference; any Chromium or Chrome binary with the new headless mode works.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace bertscope::report {

// The browser to use: $BERTSCOPE_CHROMIUM when set (it must exist), else the first of chromium,
// chromium-browser, google-chrome-stable, google-chrome on PATH. Throws Error(io) saying what
// was tried and how to install it.
std::filesystem::path find_chromium();

struct ChromiumRun {
  std::filesystem::path executable;  // empty: find_chromium()
  int timeout_s = 120;
};

// Writes `html` to a private temporary folder, loads it in headless Chromium with a fresh
// profile and network features off, and returns the DOM after the load event (--dump-dom).
// Throws Error(io) when Chromium cannot start, fails or times out (with its stderr's tail).
std::string dump_dom(std::string_view html, const ChromiumRun& run = {});

}  // namespace bertscope::report
