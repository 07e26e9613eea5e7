// Post-processors: add the special tokens around the encoded segments and set their type ids,
// with the semantics of the Hugging Face tokenizers component of the same name. They work on
// one encoding per segment, before the pipeline joins them; byte offsets are derived afterwards.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tokenizer/encoding.hpp"

namespace bertscope::tokenizer {

struct SpecialToken {
  std::string content;
  std::int32_t id;
};

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  virtual std::size_t added_tokens(bool pair) const = 0;
  virtual void process(std::vector<Encoding>& segments) const = 0;
};

// Trims offsets so they leave out the spaces a byte-level token begins or ends with.
void trim_byte_level_offsets(Encoding& encoding, bool add_prefix_space);

class ByteLevelProcessor : public PostProcessor {
 public:
  ByteLevelProcessor(bool trim_offsets, bool add_prefix_space) : trim_(trim_offsets), add_prefix_space_(add_prefix_space) {}
  std::size_t added_tokens(bool) const override { return 0; }
  void process(std::vector<Encoding>& segments) const override;

 private:
  bool trim_, add_prefix_space_;
};

// "<s> A </s>" and "<s> A </s> </s> B </s>", every type id 0.
class RobertaProcessor : public PostProcessor {
 public:
  RobertaProcessor(SpecialToken cls, SpecialToken sep, bool trim_offsets, bool add_prefix_space)
      : cls_(std::move(cls)), sep_(std::move(sep)), trim_(trim_offsets), add_prefix_space_(add_prefix_space) {}
  std::size_t added_tokens(bool pair) const override { return pair ? 4 : 2; }
  void process(std::vector<Encoding>& segments) const override;

 private:
  SpecialToken cls_, sep_;
  bool trim_, add_prefix_space_;
};

// "[CLS] A [SEP]" and "[CLS] A [SEP] B [SEP]" with type ids 0 then 1.
class BertProcessor : public PostProcessor {
 public:
  BertProcessor(SpecialToken cls, SpecialToken sep) : cls_(std::move(cls)), sep_(std::move(sep)) {}
  std::size_t added_tokens(bool pair) const override { return pair ? 3 : 2; }
  void process(std::vector<Encoding>& segments) const override;

 private:
  SpecialToken cls_, sep_;
};

class TemplateProcessor : public PostProcessor {
 public:
  struct Piece {
    bool is_sequence;     // $A / $B, else a special token
    std::size_t sequence;  // 0 for A, 1 for B
    std::vector<SpecialToken> special;  // what a special piece stands for (one or more tokens)
    std::int32_t type_id;
  };
  TemplateProcessor(std::vector<Piece> single, std::vector<Piece> pair) : single_(std::move(single)), pair_(std::move(pair)) {}
  std::size_t added_tokens(bool pair) const override;
  void process(std::vector<Encoding>& segments) const override;

 private:
  std::vector<Piece> single_, pair_;
};

class ProcessorSequence : public PostProcessor {
 public:
  explicit ProcessorSequence(std::vector<std::unique_ptr<PostProcessor>> steps) : steps_(std::move(steps)) {}
  std::size_t added_tokens(bool pair) const override;
  void process(std::vector<Encoding>& segments) const override;

 private:
  std::vector<std::unique_ptr<PostProcessor>> steps_;
};

}  // namespace bertscope::tokenizer
