#include "server/policy/glob.h"

#include <gtest/gtest.h>

namespace fleetrate::server {
namespace {

TEST(GlobTest, LiteralsMatchOnlyThemselves) {
  EXPECT_TRUE(GlobMatch("checkout", "checkout"));
  EXPECT_FALSE(GlobMatch("checkout", "checkouts"));
  EXPECT_FALSE(GlobMatch("checkout", "Checkout"));  // case-sensitive
}

TEST(GlobTest, StarMatchesAnyRunIncludingEmpty) {
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("*", "anything"));
  EXPECT_TRUE(GlobMatch("GET /api/*", "GET /api/"));
  EXPECT_TRUE(GlobMatch("GET /api/*", "GET /api/cart/items"));
  EXPECT_TRUE(GlobMatch("*health*", "/internal/healthz"));
  EXPECT_FALSE(GlobMatch("*health*", "/internal/ready"));
  EXPECT_TRUE(GlobMatch("a*b*c", "aXXbYYbZZc"));
  EXPECT_FALSE(GlobMatch("a*b*c", "aXXbYYcZZ"));
}

TEST(GlobTest, AStarInTheTextIsAnOrdinaryCharacter) {
  EXPECT_TRUE(GlobMatch("*a", "*ba"));
  EXPECT_TRUE(GlobMatch("GET *", "GET *x"));
  EXPECT_TRUE(GlobMatch("*", "*"));
  EXPECT_FALSE(GlobMatch("a", "*"));
}

TEST(GlobTest, QuestionMarkMatchesExactlyOne) {
  EXPECT_TRUE(GlobMatch("v?", "v1"));
  EXPECT_FALSE(GlobMatch("v?", "v"));
  EXPECT_FALSE(GlobMatch("v?", "v12"));
  EXPECT_TRUE(GlobMatch("*?", "x"));
  EXPECT_FALSE(GlobMatch("*?", ""));
}

TEST(GlobTest, PathologicalPatternFinishesQuickly) {
  const std::string text(5000, 'a');
  EXPECT_FALSE(GlobMatch("*a*a*a*a*a*a*a*a*b", text));
}

}  // namespace
}  // namespace fleetrate::server
