// Column-aligned text tables and the number formats fleetratectl shows, so every command's human
// output lines up the same way.
//
//   Table table({{"SERVICE"}, {"QPS", Table::Align::kRight}});
//   table.AddRow({"checkout", FormatRate(1234.5)});
//   table.Render(std::cout);
//
//   SERVICE     QPS
//   checkout   1235
//
// Columns are two spaces apart; widths count UTF-8 code points, not bytes. A row with fewer cells
// than columns is padded with empty cells. Not thread-safe; build, render, discard.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace fleetrate::cli {

class Table {
 public:
  enum class Align { kLeft, kRight };
  struct Column {
    std::string header;
    Align align = Align::kLeft;
  };

  // All headers empty: no header line (a key/value list).
  explicit Table(std::vector<Column> columns);

  void AddRow(std::vector<std::string> cells);
  [[nodiscard]] size_t rows() const noexcept { return rows_.size(); }
  // Lines end in '\n' and carry no trailing spaces.
  void Render(std::ostream& out) const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

// Per-second estimates: "0", then 4 significant digits below 1 ("0.01667"), 2 decimals below
// 100 ("2.00"), 1 decimal below 10,000 ("1234.5"), whole numbers above ("150000").
[[nodiscard]] std::string FormatRate(double per_second);
// Probabilities in [0, 1]: up to 6 significant digits ("0.002", "1", "1e-05").
[[nodiscard]] std::string FormatProbability(double p);
// achieved / target as a whole percentage ("98%"); "-" when the target is 0.
[[nodiscard]] std::string FormatPercent(double achieved, double target);
// A duration for people: "45s", "12m05s", "3h07m", "2d04h".
[[nodiscard]] std::string FormatDuration(double seconds);

}  // namespace fleetrate::cli
