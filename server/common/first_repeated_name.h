// FirstRepeatedName: finds the first of `count` names that repeats an earlier one, without
// allocating per call. Sync validation and the Redis store's check of stored reports use it on
// every request, so it keeps an open-addressing set of indexes in a per-thread buffer and
// compares names only when their hashes meet.
//
//   const int i = FirstRepeatedName(request.operations_size(), [&](int k) -> std::string_view {
//     return request.operations(k).operation();
//   });
//   if (i >= 0) return Invalid(StrCat("operations[", i, "].operation: duplicate ..."));
//
// Thread-safe: the buffer is per thread (and per instantiation).
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>
#include <vector>

namespace fleetrate::server {

// The index of the first name equal to an earlier one, or -1 when all `count` names differ.
// `name_at(i)` returns the i-th name as something convertible to std::string_view.
template <typename NameAt>
[[nodiscard]] int FirstRepeatedName(int count, NameAt name_at) {
  size_t slots = 4;
  while (slots < 2 * static_cast<size_t>(count)) slots *= 2;
  thread_local std::vector<int> table;
  table.assign(slots, -1);
  const std::hash<std::string_view> hash;
  for (int i = 0; i < count; ++i) {
    const std::string_view name = name_at(i);
    for (size_t s = hash(name) & (slots - 1);; s = (s + 1) & (slots - 1)) {
      if (table[s] < 0) {
        table[s] = i;
        break;
      }
      if (std::string_view(name_at(table[s])) == name) return i;
    }
  }
  return -1;
}

}  // namespace fleetrate::server
