#include "server/common/json_writer.h"

#include <gtest/gtest.h>

#include <limits>

namespace fleetrate::server {
namespace {

TEST(JsonWriterTest, NestsContainersAndPlacesCommas) {
  JsonWriter w;
  w.BeginObject();
  w.Key("a");
  w.Int(-1);
  w.Key("list");
  w.BeginArray();
  w.Uint(1);
  w.Bool(true);
  w.Null();
  w.BeginObject();
  w.EndObject();
  w.EndArray();
  w.Key("empty");
  w.BeginArray();
  w.EndArray();
  w.EndObject();
  EXPECT_EQ(w.Take(), R"({"a":-1,"list":[1,true,null,{}],"empty":[]})");
}

TEST(JsonWriterTest, EscapesStrings) {
  JsonWriter w;
  w.String("q\"b\\n\nt\t\x01");
  EXPECT_EQ(w.Take(), R"("q\"b\\n\nt\t\u0001")");
}

TEST(JsonWriterTest, DoublesRoundTripInShortestFormAndNonFiniteIsNull) {
  JsonWriter w;
  w.BeginArray();
  w.Double(0.1);
  w.Double(1.0);
  w.Double(1.0 / 60);
  w.Double(0.00001);
  w.Double(std::numeric_limits<double>::infinity());
  w.EndArray();
  EXPECT_EQ(w.Take(), "[0.1,1,0.016666666666666666,0.00001,null]");
}

}  // namespace
}  // namespace fleetrate::server
