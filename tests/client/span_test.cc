#include "fleetrate/span.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace fleetrate {
namespace {

SpanView View(std::string_view name, std::string_view trace_state, std::string_view message,
              const AttributeView* attributes, size_t count) {
  SpanView view;
  view.name = name;
  view.trace_state = trace_state;
  view.status_message = message;
  view.attributes = attributes;
  view.attribute_count = count;
  return view;
}

void ExpectHolds(const SpanRecord& record, const SpanView& view) {
  EXPECT_EQ(record.name, view.name);
  EXPECT_EQ(record.trace_state, view.trace_state);
  EXPECT_EQ(record.status_message, view.status_message);
  ASSERT_EQ(record.attribute_count, view.attribute_count);
  for (size_t i = 0; i < view.attribute_count; ++i) {
    EXPECT_EQ(record.attributes[i].key, view.attributes[i].key) << i;
    EXPECT_EQ(record.attributes[i].type, view.attributes[i].type) << i;
    if (view.attributes[i].type == AttributeType::kString) {
      EXPECT_EQ(record.attributes[i].string_value, view.attributes[i].string_value) << i;
    }
  }
}

// A slot is reused for spans of every shape: a value of the same length is copied into the
// existing buffer, others are reassigned; either way the record holds exactly the new span.
TEST(SpanRecordTest, ReuseHoldsExactlyTheNewSpanWhateverTheLengths) {
  SpanRecord record;
  const AttributeView first[] = {{"http.method", "GET"}, {"peer", "cart-7"}};
  const AttributeView same_lengths[] = {{"http.verbs!", "PUT"}, {"host", "cart-9"}};
  const AttributeView other_lengths[] = {{"k", "a much longer value than before, on the heap"},
                                         {"http.status_code", 200},
                                         {"ok", true}};
  const AttributeView shorter[] = {{"", ""}};
  const SpanView views[] = {
      View("GET /users", "ot=th:8", "", first, 2),
      View("PUT /carts", "ot=th:c", "", same_lengths, 2),
      View("a span name longer than the small-string buffer", "", "deadline exceeded",
           other_lengths, 3),
      View("", "ot=rv:0123456789abcd", "x", shorter, 1),
      View("GET /users", "ot=th:8", "", first, 2),
  };
  for (const SpanView& view : views) {
    record.Assign(view);
    ExpectHolds(record, view);
  }
}

}  // namespace
}  // namespace fleetrate
