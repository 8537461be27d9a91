// The human table layout and number formats every fleetratectl command shares.
#include "cli/table.h"

#include <gtest/gtest.h>

#include <sstream>

namespace fleetrate::cli {
namespace {

TEST(CliTableTest, AlignsColumnsAndDropsTrailingSpaces) {
  Table table({{"NAME"}, {"QPS", Table::Align::kRight}, {"NOTE"}});
  table.AddRow({"checkout", "1234.5", ""});
  table.AddRow({"süß", "2.00", "utf-8 counts code points"});
  table.AddRow({"short"});
  std::ostringstream out;
  table.Render(out);
  EXPECT_EQ(out.str(),
            "NAME         QPS  NOTE\n"
            "checkout  1234.5\n"
            "süß         2.00  utf-8 counts code points\n"
            "short\n");
}

TEST(CliTableTest, WithoutHeadersIsAKeyValueList) {
  Table table({{""}, {""}});
  table.AddRow({"uptime", "3s"});
  table.AddRow({"live clients", "2"});
  std::ostringstream out;
  table.Render(out);
  EXPECT_EQ(out.str(), "uptime        3s\nlive clients  2\n");
}

TEST(CliTableTest, FormatsRatesProbabilitiesPercentsAndDurations) {
  EXPECT_EQ(FormatRate(0), "0");
  EXPECT_EQ(FormatRate(1.0 / 60), "0.01667");
  EXPECT_EQ(FormatRate(2), "2.00");
  EXPECT_EQ(FormatRate(1234.56), "1234.6");
  EXPECT_EQ(FormatRate(150000.4), "150000");
  EXPECT_EQ(FormatProbability(0.002), "0.002");
  EXPECT_EQ(FormatProbability(1e-5), "1e-05");
  EXPECT_EQ(FormatPercent(1.5, 2), "75%");
  EXPECT_EQ(FormatPercent(1, 0), "-");
  EXPECT_EQ(FormatDuration(45.9), "45s");
  EXPECT_EQ(FormatDuration(725), "12m05s");
  EXPECT_EQ(FormatDuration(3 * 3600 + 7 * 60), "3h07m");
  EXPECT_EQ(FormatDuration(2 * 86400 + 4 * 3600), "2d04h");
}

}  // namespace
}  // namespace fleetrate::cli
