// The bulk provisioning device list: RFC 4180 CSV, header checks, per-row errors with lines.
#include "ironroot/fleet/device_list.hpp"

#include <gtest/gtest.h>

namespace ironroot::fleet {
namespace {

using Fields = std::vector<std::string>;

TEST(CsvTest, ReadsPlainAndQuotedFieldsWithEitherLineEnd) {
  auto records = parse_csv("a,b,c\r\n1,\"two, too\",\"say \"\"hi\"\"\"\n,,\n\"x\"");
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[0], (CsvRecord{1, Fields{"a", "b", "c"}, ""}));
  EXPECT_EQ(records[1], (CsvRecord{2, Fields{"1", "two, too", "say \"hi\""}, ""}));
  EXPECT_EQ(records[2], (CsvRecord{3, Fields{"", "", ""}, ""}));
  EXPECT_EQ(records[3], (CsvRecord{4, Fields{"x"}, ""}));
}

TEST(CsvTest, ALineBreakInsideQuotesIsDataAndLinesStayCounted) {
  auto records = parse_csv("\xEF\xBB\xBFname,note\n\n\"a\",\"line 1\r\nline 2\nline 3\"\nb,c\r\n");
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].fields, (Fields{"name", "note"}));  // the byte order mark is not data
  EXPECT_EQ(records[1], (CsvRecord{3, Fields{"a", "line 1\r\nline 2\nline 3"}, ""}));
  EXPECT_EQ(records[2], (CsvRecord{6, Fields{"b", "c"}, ""}));
}

TEST(CsvTest, MalformedRecordsAreReportedAndReadingGoesOn) {
  auto records = parse_csv("a,b\nx\"y,1\n\"q\"z,2\nok,3\n\"open,4\nmore");
  ASSERT_EQ(records.size(), 5u);
  EXPECT_EQ(records[0].fields, (Fields{"a", "b"}));
  EXPECT_EQ(records[1].line, 2u);
  EXPECT_NE(records[1].error.find("must be enclosed"), std::string::npos) << records[1].error;
  EXPECT_TRUE(records[1].fields.empty());
  EXPECT_EQ(records[2].line, 3u);
  EXPECT_NE(records[2].error.find("closing"), std::string::npos) << records[2].error;
  EXPECT_EQ(records[3], (CsvRecord{4, Fields{"ok", "3"}, ""}));
  EXPECT_EQ(records[4].line, 5u);
  EXPECT_NE(records[4].error.find("not closed"), std::string::npos) << records[4].error;
}

TEST(CsvTest, FieldsAndRecordsAreBounded) {
  const std::string longest(kMaxCsvFieldBytes, 'x');
  auto fits = parse_csv(longest + "\n\"" + longest + "\"\n");
  ASSERT_EQ(fits.size(), 2u);
  EXPECT_TRUE(fits[0].error.empty() && fits[1].error.empty());
  EXPECT_EQ(fits[1].fields, (Fields{longest}));
  auto too_long = parse_csv(longest + "y\n\"" + longest + "y\"\nok\n");
  ASSERT_EQ(too_long.size(), 3u);
  EXPECT_NE(too_long[0].error.find("longer than"), std::string::npos);
  EXPECT_NE(too_long[1].error.find("longer than"), std::string::npos);
  EXPECT_EQ(too_long[2], (CsvRecord{3, Fields{"ok"}, ""}));
  std::string wide(kMaxCsvFields, ',');  // kMaxCsvFields + 1 fields
  auto refused = parse_csv(wide + "\n" + wide.substr(1) + "\n");
  ASSERT_EQ(refused.size(), 2u);
  EXPECT_NE(refused[0].error.find("more than"), std::string::npos);
  EXPECT_EQ(refused[1].fields.size(), kMaxCsvFields);
}

TEST(CsvTest, EveryPrefixOfAnInputParsesWithoutCrashing) {
  const std::string text = "a,\"b\"\"c\",d\r\n\"e\nf\",g,\"\"\n\"h";
  for (std::size_t n = 0; n <= text.size(); ++n) {
    for (const CsvRecord& record : parse_csv(std::string_view(text).substr(0, n))) {
      // Either fields or an error, never both, never neither.
      EXPECT_EQ(record.error.empty(), !record.fields.empty()) << n;
    }
  }
  EXPECT_TRUE(parse_csv("").empty());
  EXPECT_TRUE(parse_csv("\n\r\n\r").empty());
}

TEST(DeviceListTest, RowsCarryParametersAndTheirCsrPath) {
  auto list = parse_device_list("ThingName,Color,csr\nlamp-1,red,\nlamp-2,,csrs/lamp-2.csr\n");
  ASSERT_TRUE(list) << list.error().message;
  EXPECT_EQ(list->columns, (Fields{"ThingName", "Color", "csr"}));
  ASSERT_EQ(list->rows.size(), 2u);
  EXPECT_EQ(list->rows[0],
            (DeviceRow{2, {{"ThingName", "lamp-1"}, {"Color", "red"}}, std::nullopt, ""}));
  // An empty field leaves its parameter out.
  EXPECT_EQ(list->rows[1],
            (DeviceRow{3, {{"ThingName", "lamp-2"}}, std::string("csrs/lamp-2.csr"), ""}));
}

TEST(DeviceListTest, ABadRowSaysWhyAndTheOthersStay) {
  auto list = parse_device_list("ThingName,Color\nlamp-1,red\nlamp-2\nlamp-3,\"blue\nlamp-4,x,y\n");
  ASSERT_TRUE(list) << list.error().message;
  ASSERT_EQ(list->rows.size(), 3u);
  EXPECT_TRUE(list->rows[0].error.empty());
  EXPECT_EQ(list->rows[1].line, 3u);
  EXPECT_EQ(list->rows[1].error, "has 1 field, the header names 2 columns");
  EXPECT_TRUE(list->rows[1].parameters.empty());
  EXPECT_EQ(list->rows[2].line, 4u);
  EXPECT_NE(list->rows[2].error.find("not closed"), std::string::npos);
}

TEST(DeviceListTest, ABadHeaderRefusesTheList) {
  for (const char* text : {"", "\n\n", "ThingName,,Color\n", "ThingName,ThingName\n", "a\"b\n"}) {
    auto list = parse_device_list(text);
    EXPECT_FALSE(list) << text;
  }
  auto twice = parse_device_list("\nThingName,Color,ThingName\n");
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().message.find("line 2"), std::string::npos) << twice.error().message;
  EXPECT_NE(twice.error().message.find("'ThingName' appears twice"), std::string::npos);
}

}  // namespace
}  // namespace ironroot::fleet
