#include "cli/table.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <utility>

namespace fleetrate::cli {
namespace {

// Code points, so names with non-ASCII characters still line up.
size_t DisplayWidth(const std::string& text) {
  size_t width = 0;
  for (const char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++width;
  }
  return width;
}

std::string Printf(const char* format, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), format, value);
  return buffer;
}

}  // namespace

Table::Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  rows_.push_back(std::move(cells));
}

void Table::Render(std::ostream& out) const {
  const bool has_header = std::any_of(columns_.begin(), columns_.end(),
                                      [](const Column& c) { return !c.header.empty(); });
  std::vector<size_t> widths(columns_.size(), 0);
  for (size_t i = 0; i < columns_.size(); ++i) {
    if (has_header) widths[i] = DisplayWidth(columns_[i].header);
    for (const auto& row : rows_) widths[i] = std::max(widths[i], DisplayWidth(row[i]));
  }
  const auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (size_t i = 0; i < cells.size(); ++i) {
      if (i > 0) text += "  ";
      const std::string padding(widths[i] - DisplayWidth(cells[i]), ' ');
      text += columns_[i].align == Align::kRight ? padding + cells[i] : cells[i] + padding;
    }
    text.erase(text.find_last_not_of(' ') + 1);
    out << text << '\n';
  };
  if (has_header) {
    std::vector<std::string> headers;
    for (const Column& c : columns_) headers.push_back(c.header);
    line(headers);
  }
  for (const auto& row : rows_) line(row);
}

std::string FormatRate(double per_second) {
  const double magnitude = std::fabs(per_second);
  if (magnitude == 0) return "0";
  if (magnitude < 1) return Printf("%.4g", per_second);
  if (magnitude < 100) return Printf("%.2f", per_second);
  if (magnitude < 10000) return Printf("%.1f", per_second);
  return Printf("%.0f", per_second);
}

std::string FormatProbability(double p) { return Printf("%.6g", p); }

std::string FormatPercent(double achieved, double target) {
  if (target <= 0) return "-";
  return Printf("%.0f%%", 100 * achieved / target);
}

std::string FormatDuration(double seconds) {
  const auto total = static_cast<int64_t>(std::max(0.0, seconds));
  const int64_t days = total / 86400, hours = total / 3600 % 24, minutes = total / 60 % 60,
                secs = total % 60;
  char buffer[48];
  if (days > 0) {
    std::snprintf(buffer, sizeof(buffer), "%lldd%02lldh", static_cast<long long>(days),
                  static_cast<long long>(hours));
  } else if (hours > 0) {
    std::snprintf(buffer, sizeof(buffer), "%lldh%02lldm", static_cast<long long>(hours),
                  static_cast<long long>(minutes));
  } else if (minutes > 0) {
    std::snprintf(buffer, sizeof(buffer), "%lldm%02llds", static_cast<long long>(minutes),
                  static_cast<long long>(secs));
  } else {
    std::snprintf(buffer, sizeof(buffer), "%llds", static_cast<long long>(secs));
  }
  return buffer;
}

}  // namespace fleetrate::cli
