// The result document every analysis produces: `method`, `model`, `data`, `params` (every option
// that changed the result, including which variant ran) and `results`. Built by the methods
// themselves, so the CLI, the server and the bindings write the same document for the same run;
// report/results.hpp writes and reads it.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace bertscope::analysis {

struct ResultDocument {
  std::string method;
  nlohmann::json model;    // model folder or traces folder (and what it is)
  nlohmann::json data;     // data file(s), counts
  nlohmann::json params;   // every option that changed the result, including which variant ran
  nlohmann::json results;
  // How the run was executed, not what it found (e.g. {"processes": 3} under mpirun, how many items
  // a resumed run reused); written only when set. Results never depend on it.
  nlohmann::json execution;

  nlohmann::json to_json() const;
};

}  // namespace bertscope::analysis
