// The public API of bertscope: include this, link bertscope::bertscope.
#pragma once

#include "bertscope/analysis.hpp"
#include "bertscope/array.hpp"
#include "bertscope/error.hpp"
#include "bertscope/hooks.hpp"
#include "bertscope/init.hpp"
#include "bertscope/model.hpp"
#include "bertscope/view.hpp"
