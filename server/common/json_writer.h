// JsonWriter: builds a JSON document in a string, for HTTP views (/debug/*, Jaeger's endpoint).
// Commas are placed for you; strings are escaped per RFC 8259; doubles are written in the
// shortest form that reads back exactly, fixed for 1e-6 <= |x| < 1e21 as JavaScript and Go
// print them (non-finite numbers become null).
//
//   JsonWriter w;
//   w.BeginObject();
//   w.Key("service"); w.String("checkout");
//   w.Key("rates"); w.BeginArray(); w.Double(0.25); w.EndArray();
//   w.EndObject();
//   std::string body = w.Take();   // {"service":"checkout","rates":[0.25]}
//
// Not thread-safe; one writer per document.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fleetrate::server {

class JsonWriter {
 public:
  void BeginObject();
  void EndObject();
  void BeginArray();
  void EndArray();
  void Key(std::string_view key);
  void String(std::string_view value);
  void Double(double value);
  void Int(int64_t value);
  void Uint(uint64_t value);
  void Bool(bool value);
  void Null();

  [[nodiscard]] std::string Take() { return std::move(out_); }

 private:
  void BeforeValue();
  void Escaped(std::string_view text);

  std::string out_;
  std::vector<bool> first_;  // per open container: no element written yet
  bool after_key_ = false;
};

}  // namespace fleetrate::server
