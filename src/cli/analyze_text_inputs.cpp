#include "cli/analyze_text_inputs.hpp"


namespace bertscope::cli {

void add_segment_options(CLI::App& cmd, SegmentArgs& s) {
  cmd.add_flag("--segments", s.segments,
               "--data is running text (one sentence per line, documents separated by blank lines): build Clark et al.'s "
               "[CLS] A [SEP] B [SEP] segments from it (needs --model)");
  cmd.add_option("--max-segments", s.options.max_segments, "With --segments: stop after this many (0 = all; Clark: 1000)");
  cmd.add_option("--segment-length", s.options.max_sequence_length, "With --segments: word pieces per segment (Clark: 128)")
      ->check(CLI::Range(5, 100000));
  cmd.add_option("--seed", s.options.seed, "With --segments: the random seed (Clark: random.seed(0))");
  cmd.add_option("--python-random", s.python,
                 "With --segments: draw random numbers as python3 or python2 (2.7) does (Clark's scripts are Python 2)")
      ->check(CLI::IsMember({"python3", "python2"}));
  cmd.add_flag("--no-shuffle", s.no_shuffle, "With --segments: keep the segments in file order");
  cmd.add_option("--write-segments", s.write_segments,
                 "With --segments: also write the segments as a tab-separated pair file (word pieces joined back into text)");
  cmd.add_flag("--zero-type-ids", s.zero_type_ids,
               "Run with every token_type_id 0, segment B included, as Clark et al.'s extraction script did (--model)");
}

analysis::runs::TextInputOptions text_input_options(const SegmentArgs& s) {
  analysis::runs::TextInputOptions o;
  o.segments = s.segments;
  o.segment = s.options;
  o.python = s.python;
  o.shuffle = !s.no_shuffle;
  o.zero_type_ids = s.zero_type_ids;
  o.write_segments = s.write_segments;
  return o;
}

}  // namespace bertscope::cli
