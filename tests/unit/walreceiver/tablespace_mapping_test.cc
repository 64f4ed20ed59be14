#include "walreceiver/tablespace_mapping.h"

#include <gtest/gtest.h>

#include "protocol/error.h"

using walstream::walreceiver::TablespaceMapping;

namespace {

TEST(TablespaceMappingTest, MapsCanonicalOldDirectory) {
  TablespaceMapping mapping;
  mapping.add("/srv/ts1/=/data/ts1");
  mapping.add("/srv/a\\=b=/data/a\\=b");
  EXPECT_EQ(mapping.map("/srv/ts1"), "/data/ts1");
  EXPECT_EQ(mapping.map("/srv/./ts1/"), "/data/ts1");
  EXPECT_EQ(mapping.map("/srv/a=b"), "/data/a=b");
  EXPECT_EQ(mapping.map("/srv/other"), "/srv/other");  // unmapped: unchanged
}

TEST(TablespaceMappingTest, RejectsMalformedSpecs) {
  for (const char* spec : {"", "/a", "=/b", "/a=", "a=/b", "/a=b", "/a=/b=/c"}) {
    TablespaceMapping mapping;
    EXPECT_THROW(mapping.add(spec), walstream::Error) << spec;
  }
}

TEST(TablespaceMappingTest, RejectsDuplicateOldDirectory) {
  TablespaceMapping mapping;
  mapping.add("/srv/ts1=/data/one");
  EXPECT_THROW(mapping.add("/srv/ts1/=/data/two"), walstream::Error);
}

}  // namespace
