// A readable summary of findings computed from a folder of result documents: which heads are
// positional or delimiter heads, the best syntactic head per relation against its baseline, the
// heads whose removal helps the task, the share of influence through skip connections, ...
// Every number comes from the documents; a finding appears only when its document is there.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace bertscope::report {

// The report's and the summary's sections: per paper, the questions it asks and the methods that
// answer them, in reading order. A method appears once.
struct Section {
  std::string paper;
  std::string question;
  std::vector<std::string> methods;
};
const std::vector<Section>& sections();
// The section of a method (nullptr for a method of no section).
const Section* section_of(const std::string& method);

struct Finding {
  std::string method;  // the document's method ("surface", "syntax", ...)
  std::string title;   // one line: what was measured and on what
  std::vector<std::string> lines;
  nlohmann::json numbers;  // the figures the lines quote, for machines
  std::string document;              // the result file it comes from
  std::vector<std::string> figures;  // the ids of that document's figures behind the finding
};

struct Summary {
  std::vector<std::string> models;  // model paths named by the documents
  std::vector<Finding> findings;
  std::vector<std::string> skipped;  // documents of a kind the summary does not know, or unreadable
};

// Reads every *.json result document of `results` (not recursive).
Summary summarize(const std::filesystem::path& results);
// The same from documents already read (file name, JSON), in file-name order; `unreadable` lists
// the files that could not be read, as "NAME: reason".
Summary summarize(const std::vector<std::pair<std::string, nlohmann::json>>& documents, std::vector<std::string> unreadable = {});

std::string format_summary(const Summary& summary);
nlohmann::json summary_json(const Summary& summary);

}  // namespace bertscope::report
