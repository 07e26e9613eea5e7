#include <fmt/format.h>

#include "cli/commands.hpp"
#include "io/error.hpp"
#include "model/generator.hpp"

namespace bertscope::cli {

namespace {

void add_make_model_command(CLI::App& app) {
  struct Args {
    model::GeneratorOptions gen;
    std::string out, dtype = "f32", vocab, tokenizer;
    bool lowercase = false, cased = false;
    int threads = 0;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "make-model",
      "Write a random-weight Hugging Face encoder folder (config.json with the family's keys, model.safetensors with "
      "transformers' tensor names, the tokenizer files). Without --labels it is a ...ForMaskedLM (BertForMaskedLM, "
      "RobertaForMaskedLM, XLMRobertaForMaskedLM, DistilBertForMaskedLM, AlbertForMaskedLM, DebertaV2ForMaskedLM, "
      "ModernBertForMaskedLM; deberta-v2 "
      "as DeBERTa-v3's configs unless told; ElectraForMaskedLM - ELECTRA's generator); with --labels K a "
      "...ForSequenceClassification with K labels; ELECTRA with --discriminator an ElectraForPreTraining.");
  cmd->add_option("--family", args->gen.family, "Encoder family (model_type)")
      ->check(CLI::IsMember({"bert", "roberta", "xlm-roberta", "distilbert", "albert", "deberta-v2", "electra", "modernbert"}));
  cmd->add_option("--layers", args->gen.layers, "Number of layers")->required()->check(CLI::PositiveNumber);
  cmd->add_option("--hidden", args->gen.hidden, "Hidden size")->required()->check(CLI::PositiveNumber);
  cmd->add_option("--heads", args->gen.heads, "Attention heads per layer")->required()->check(CLI::PositiveNumber);
  cmd->add_option("--intermediate", args->gen.intermediate, "Feed-forward size")->required()->check(CLI::PositiveNumber);
  auto* vocab = cmd->add_option("--vocab", args->vocab, "vocab.txt to use (one token per line; BERT)");
  auto* tokenizer = cmd->add_option("--tokenizer", args->tokenizer,
                                    "Folder whose tokenizer files are copied (tokenizer.json, vocab.json + merges.txt, "
                                    "sentencepiece.bpe.model, tokenizer_config.json, ...); its ids size the model");
  auto* size = cmd->add_option("--vocab-size", args->gen.vocab_size, "Vocabulary size of a model without tokenizer files")
                   ->check(CLI::PositiveNumber);
  vocab->excludes(tokenizer)->excludes(size);
  tokenizer->excludes(size);
  cmd->add_option("--seed", args->gen.seed, "Random seed")->required();
  cmd->add_option("--labels", args->gen.labels, "Make a sequence classifier with this many labels");
  cmd->add_option("--max-positions", args->gen.max_positions, "max_position_embeddings (default: BERT 512, RoBERTa 514)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--type-vocab", args->gen.type_vocab, "type_vocab_size (default: BERT 2, RoBERTa 1)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--hidden-act", args->gen.hidden_act, "Activation (gelu, gelu_new, relu, ...)");
  cmd->add_flag("--sinusoidal-positions", args->gen.sinusoidal_positions,
                "DistilBERT: fixed sinusoidal position table (sinusoidal_pos_embds)");
  cmd->add_option("--embedding-size", args->gen.embedding_size,
                  "ALBERT, ELECTRA: width of the embedding tables (embedding_size; default half of --hidden, mapped "
                  "to the hidden size by ALBERT's embedding_hidden_mapping_in / ELECTRA's embeddings_project)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--hidden-groups", args->gen.hidden_groups,
                  "ALBERT: num_hidden_groups (default 2 for an even layer count, else 1)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--inner-group-num", args->gen.inner_group_num, "ALBERT: inner_group_num (default 1)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--discriminator", args->gen.discriminator,
                "ELECTRA: an ElectraForPreTraining discriminator (replaced-token detection head)");
  auto& deb = args->gen.deberta;
  cmd->add_option("--position-buckets", deb.position_buckets, "DeBERTa: position_buckets (default 256; 0: none)");
  cmd->add_option("--max-relative-positions", deb.max_relative_positions,
                  "DeBERTa: max_relative_positions (default -1: max_position_embeddings)");
  cmd->add_option("--pos-att-type", deb.pos_att_type, "DeBERTa: pos_att_type (default p2c|c2p)");
  cmd->add_option("--share-att-key", deb.share_att_key,
                  "DeBERTa: share_att_key (default true; false: pos_key_proj / pos_query_proj)");
  cmd->add_option("--norm-rel-ebd", deb.norm_rel_ebd, "DeBERTa: norm_rel_ebd (default layer_norm; none)");
  cmd->add_flag("--position-biased-input", deb.position_biased_input,
                "DeBERTa: add an absolute position table (position_biased_input, as DeBERTa-v2)");
  auto& mb = args->gen.modernbert;
  cmd->add_option("--local-attention", mb.local_attention,
                  "ModernBERT: local_attention, the sliding window (keys with |i - j| <= window / 2; default 128)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--global-every", mb.global_every,
                  "ModernBERT: every N-th layer (from layer 0) attends globally, the others in the window (default 3)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--global-rope-theta", mb.global_theta, "ModernBERT: rotary theta of global layers (default 160000)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--local-rope-theta", mb.local_theta, "ModernBERT: rotary theta of sliding layers (default 10000)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--classifier-pooling", mb.pooling, "ModernBERT: classifier_pooling, cls or mean (default cls)")
      ->check(CLI::IsMember({"cls", "mean"}));
  cmd->add_flag("--biases", mb.biases,
                "ModernBERT: give every layer biases (norm_bias, attention_bias, mlp_bias, classifier_bias true)");
  cmd->add_option("--init-std", args->gen.init_std, "Std of weight matrices and embeddings (transformers: 0.02)");
  cmd->add_option("--bias-std", args->gen.bias_std, "Std of biases (transformers: 0)");
  cmd->add_option("--norm-std", args->gen.norm_std, "Std of LayerNorm weights around 1 and biases around 0");
  cmd->add_option("--dtype", args->dtype, "Weight dtype: f32, f16 or bf16")->check(CLI::IsMember({"f32", "f16", "bf16"}));
  cmd->add_flag("--lowercase", args->lowercase, "Tokenizer lower-cases (default: guessed from the vocabulary)");
  cmd->add_flag("--cased", args->cased, "Tokenizer keeps case")->excludes("--lowercase");
  cmd->add_option("--out", args->out, "Output folder (must not exist or be empty)")->required();
  add_threads_option(*cmd, args->threads);
  cmd->callback([args] {
    args->gen.vocab = args->vocab;
    args->gen.tokenizer = args->tokenizer;
    if (args->lowercase || args->cased) args->gen.lowercase = args->lowercase;
    args->gen.dtype = args->dtype == "f16" ? io::DType::f16 : args->dtype == "bf16" ? io::DType::bf16 : io::DType::f32;
    model::make_model(args->gen, args->out);
    fmt::print("wrote {}\n", args->out);
  });
}

}  // namespace

BERTSCOPE_COMMAND("", 90, add_make_model_command);

}  // namespace bertscope::cli
