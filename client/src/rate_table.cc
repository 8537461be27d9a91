#include "fleetrate/rate_table.h"

#include "operation_hash.h"

namespace fleetrate {

RateTable::RateTable(uint64_t version, OperationRate default_rate, std::vector<Entry> entries,
                     BatchProfile batch_profile, CapturePolicy capture_policy)
    : version_(version),
      default_rate_(default_rate),
      batch_profile_(std::move(batch_profile)),
      capture_policy_(capture_policy),
      slots_(internal::SlotCountFor(entries.size()), 0),
      mask_(slots_.size() - 1) {
  entries_.reserve(entries.size());
  hashes_.reserve(entries.size());
  for (Entry& entry : entries) {
    const size_t hash = internal::HashOperation(entry.operation);
    size_t i = hash & mask_;
    bool duplicate = false;
    while (slots_[i] != 0) {
      const size_t index = slots_[i] - 1;
      if (hashes_[index] == hash && entries_[index].operation == entry.operation) {
        duplicate = true;
        break;
      }
      i = (i + 1) & mask_;
    }
    if (duplicate) continue;
    entries_.push_back(std::move(entry));
    hashes_.push_back(hash);
    slots_[i] = static_cast<uint32_t>(entries_.size());
  }
}

const OperationRate* RateTable::Find(std::string_view operation) const noexcept {
  const size_t hash = internal::HashOperation(operation);
  for (size_t i = hash & mask_; slots_[i] != 0; i = (i + 1) & mask_) {
    const size_t index = slots_[i] - 1;
    if (hashes_[index] == hash && entries_[index].operation == operation) {
      return &entries_[index].rate;
    }
  }
  return nullptr;
}

}  // namespace fleetrate
