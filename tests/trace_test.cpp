#include <gtest/gtest.h>

#include "io/error.hpp"
#include "model/trace.hpp"

using namespace bertscope;
using namespace bertscope::model;

TEST(TraceSites, ParsesShortAndLayerNames) {
  auto set = SiteSet::parse("attn.probs, layer.1.attn.context,hidden", 3);
  for (int l = 0; l < 3; ++l) EXPECT_TRUE(set.contains(Site::attn_probs, l));
  EXPECT_FALSE(set.contains(Site::attn_context, 0));
  EXPECT_TRUE(set.contains(Site::attn_context, 1));
  EXPECT_TRUE(set.contains(Site::embed_out));
  EXPECT_TRUE(set.contains(Site::layer_out, 2));
  EXPECT_FALSE(set.any(Site::attn_scores));
  EXPECT_TRUE(SiteSet::parse("layer.*.ffn.act", 2).contains(Site::ffn_act, 1));
  EXPECT_TRUE(SiteSet::parse("all", 2).contains(Site::pooler_out));
}

TEST(TraceSites, RejectsUnknownNamesAndLayers) {
  EXPECT_THROW(SiteSet::parse("attn.prob", 3), Error);
  EXPECT_THROW(SiteSet::parse("layer.3.attn.probs", 3), Error);
  EXPECT_THROW(SiteSet::parse("layer.x.attn.probs", 3), Error);
  EXPECT_THROW(SiteSet::parse("layer.0.embed.out", 3), Error);
}

TEST(TraceSites, NamesRoundTrip) {
  Trace trace(2);
  trace.emplace(Site::attn_probs, 1, {3, 4, 4}).data[5] = 0.25f;
  trace.emplace(Site::embed_out, 0, {4, 8});
  EXPECT_EQ(trace.names(), (std::vector<std::string>{"embed.out", "layer.1.attn.probs"}));
  EXPECT_EQ(trace.at("layer.1.attn.probs").data[5], 0.25f);
  EXPECT_THROW(trace.at("layer.0.attn.probs"), Error);
  EXPECT_EQ(site_name(Site::layer_out, 3), "layer.3.out");
}
