#include "storage/data_dir_extractor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "protocol/error.h"
#include "protocol/tar.h"
#include "tests/support/tar_builder.h"
#include "tests/support/temp_dir.h"

namespace walstream::storage {
namespace {

namespace fs = std::filesystem;

using test_support::mode_of;
using test_support::read_file;
using test_support::TarBuilder;
using test_support::TempDir;
using test_support::UmaskGuard;

// Feeds `archive` in pieces of `chunk` bytes, as the network would.
void extract(DataDirExtractor& extractor, const std::string& archive, std::size_t chunk = 4096) {
  protocol::TarParser parser(extractor, protocol::TarParser::Trailer::kRequired);
  ByteView bytes = as_bytes(archive);
  for (std::size_t at = 0; at < bytes.size(); at += chunk) {
    parser.feed(bytes.subspan(at, std::min(chunk, bytes.size() - at)));
  }
  parser.finish();
}

// An archive that may hold no link (a tablespace's own archive, or a main
// archive of a server without tablespaces).
const TablespaceLinks identity{};

// The main archive of a backup listing these tablespaces (oid -> location).
TablespaceLinks tablespaces(std::map<std::uint32_t, std::string> locations,
                            LinkTargetMapper map = nullptr) {
  return TablespaceLinks{std::move(locations), std::move(map)};
}

protocol::TarMember member(std::string path, protocol::TarMemberType type,
                           std::string link_target = {}) {
  protocol::TarMember m;
  m.path = std::move(path);
  m.type = type;
  m.link_target = std::move(link_target);
  return m;
}

std::string patterned(std::size_t size) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>((i * 131 + i / 7) & 0xff);
  return s;
}

// Every case runs twice: files written inline, and through a FileWritePool
// (direct I/O on writer threads), whose errors surface at finish().
class DataDirExtractorTest : public ::testing::TestWithParam<bool> {
 protected:
  FileWritePool* pool() {
    if (!GetParam()) return nullptr;
    FileWritePoolOptions options;
    options.buffer_size = 8192;
    options.buffer_count = 3;
    pool_.emplace(options);
    return &*pool_;
  }
  void finish_pool() {
    if (pool_) pool_->finish();
  }
  void extract(DataDirExtractor& extractor, const std::string& archive, std::size_t chunk = 4096) {
    storage::extract(extractor, archive, chunk);
    finish_pool();
  }

 private:
  std::optional<FileWritePool> pool_;
};

INSTANTIATE_TEST_SUITE_P(Writes, DataDirExtractorTest, ::testing::Bool(),
                         [](const auto& test_info) {
                           return std::string(test_info.param ? "WritePool" : "Inline");
                         });

TEST(DataDirModesTest, FromDataDirectoryMode) {
  DataDirModes owner = DataDirModes::from_data_directory_mode(0700);
  EXPECT_EQ(owner.directory, 0700u);
  EXPECT_EQ(owner.file, 0600u);
  DataDirModes group = DataDirModes::from_data_directory_mode(0750);
  EXPECT_EQ(group.directory, 0750u);
  EXPECT_EQ(group.file, 0640u);
}

TEST_P(DataDirExtractorTest, ExtractsOwnerOnlyModesUnderUmask022) {
  UmaskGuard umask_guard(022);
  TempDir root;
  std::string big = patterned(100000);
  std::string archive = TarBuilder()
                            .file("PG_VERSION", "16\n", 0644)
                            .dir("base/", 0755)
                            .dir("base/1/", 0755)
                            .file("base/1/1259", big, 0644)
                            .file("base/1/empty", "")
                            .dir("pg_wal/")
                            .dir("pg_wal/archive_status/")
                            .finish();
  DataDirExtractor extractor(root.path(), DataDirModes::from_data_directory_mode(0700), identity,
                             pool());
  extract(extractor, archive, 1000);

  EXPECT_EQ(read_file(root.path() / "PG_VERSION"), "16\n");
  EXPECT_EQ(read_file(root.path() / "base/1/1259"), big);
  EXPECT_EQ(fs::file_size(root.path() / "base/1/empty"), 0u);
  EXPECT_EQ(extractor.bytes_written(), big.size() + 3);
  // Modes come from data_directory_mode, not from the tar headers.
  EXPECT_EQ(mode_of(root.path() / "PG_VERSION"), 0600u);
  EXPECT_EQ(mode_of(root.path() / "base/1/1259"), 0600u);
  EXPECT_EQ(mode_of(root.path() / "base"), 0700u);
  EXPECT_EQ(mode_of(root.path() / "base/1"), 0700u);
  EXPECT_EQ(mode_of(root.path() / "pg_wal/archive_status"), 0700u);
}

TEST_P(DataDirExtractorTest, ExtractsGroupModesUnderUmask077) {
  UmaskGuard umask_guard(077);
  TempDir root;
  std::string archive = TarBuilder()
                            .file("PG_VERSION", "16\n", 0600)
                            .dir("global/", 0700)
                            .file("global/pg_control", patterned(8192), 0600)
                            .finish();
  DataDirExtractor extractor(root.path(), DataDirModes::from_data_directory_mode(0750), identity,
                             pool());
  extract(extractor, archive);

  EXPECT_EQ(mode_of(root.path() / "PG_VERSION"), 0640u);
  EXPECT_EQ(mode_of(root.path() / "global"), 0750u);
  EXPECT_EQ(mode_of(root.path() / "global/pg_control"), 0640u);
  EXPECT_EQ(read_file(root.path() / "global/pg_control"), patterned(8192));
}

TEST_P(DataDirExtractorTest, ByteAtATimeFeedGivesSameResult) {
  TempDir root;
  std::string contents = patterned(1500);
  std::string archive = TarBuilder()
                            .dir("a/")
                            .file("a/b", contents)
                            .file("c", "xyz")
                            .symlink("pg_tblspc/7/", "/x")
                            .finish();
  DataDirExtractor extractor(root.path(), DataDirModes{}, tablespaces({{7, "/x"}}), pool());
  extract(extractor, archive, 1);
  EXPECT_EQ(read_file(root.path() / "a/b"), contents);
  EXPECT_EQ(read_file(root.path() / "c"), "xyz");
  EXPECT_EQ(fs::read_symlink(root.path() / "pg_tblspc/7"), "/x");
}

TEST_P(DataDirExtractorTest, SymlinkTargetIsMapped) {
  TempDir root;
  std::string archive = TarBuilder()
                            .dir("pg_tblspc/")
                            .symlink("pg_tblspc/16384/", "/srv/old/ts")
                            .symlink("pg_tblspc/16385/", "/srv/other")
                            .finish();
  auto map = [](const std::string& target) {
    return target == "/srv/old/ts" ? std::string("/mnt/new/ts") : target;
  };
  DataDirExtractor extractor(root.path(), DataDirModes{},
                             tablespaces({{16384, "/srv/old/ts"}, {16385, "/srv/other"}}, map),
                             pool());
  extract(extractor, archive);
  EXPECT_TRUE(fs::is_symlink(root.path() / "pg_tblspc/16384"));
  EXPECT_EQ(fs::read_symlink(root.path() / "pg_tblspc/16384"), "/mnt/new/ts");
  EXPECT_EQ(fs::read_symlink(root.path() / "pg_tblspc/16385"), "/srv/other");
}

TEST_P(DataDirExtractorTest, PreexistingPgWalIsTolerated) {
  UmaskGuard umask_guard(022);
  TempDir root;
  // WAL streaming creates these concurrently, with whatever mode.
  fs::create_directories(root.path() / "pg_wal/archive_status");
  ::chmod((root.path() / "pg_wal").c_str(), 0755);
  std::string archive =
      TarBuilder().dir("pg_wal/").dir("pg_wal/archive_status/").file("PG_VERSION", "16\n").finish();
  DataDirExtractor extractor(root.path(), DataDirModes{}, identity, pool());
  EXPECT_NO_THROW(extract(extractor, archive));
  EXPECT_EQ(mode_of(root.path() / "pg_wal"), 0700u);
  EXPECT_EQ(mode_of(root.path() / "pg_wal/archive_status"), 0700u);
}

TEST_P(DataDirExtractorTest, ExistingFileIsAnError) {
  TempDir root;
  { std::ofstream(root.path() / "PG_VERSION") << "old"; }
  std::string archive = TarBuilder().file("PG_VERSION", "16\n").finish();
  DataDirExtractor extractor(root.path(), DataDirModes{}, identity, pool());
  try {
    extract(extractor, archive);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_EQ(std::string(e.what()), "could not create file \"" +
                                         (root.path() / "PG_VERSION").string() + "\": File exists");
  }
  EXPECT_EQ(read_file(root.path() / "PG_VERSION"), "old");
}

TEST_P(DataDirExtractorTest, DirectoryOverExistingFileIsAnError) {
  TempDir root;
  { std::ofstream(root.path() / "base") << "x"; }
  DataDirExtractor extractor(root.path(), DataDirModes{}, identity, pool());
  try {
    extract(extractor, TarBuilder().dir("base/").finish());
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("could not create directory"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("File exists"), std::string::npos);
  }
}

TEST_P(DataDirExtractorTest, MissingParentsAreCreated) {
  UmaskGuard umask_guard(077);
  TempDir root;
  DataDirExtractor extractor(root.path(), DataDirModes::from_data_directory_mode(0750),
                             tablespaces({{1, "/srv/ts"}}), pool());
  extract(extractor, TarBuilder()
                         .file("base/16384/2619", "rel")
                         .dir("x/y/z/")
                         .symlink("pg_tblspc/1/", "/srv/ts")
                         .finish());
  EXPECT_EQ(read_file(root.path() / "base/16384/2619"), "rel");
  EXPECT_EQ(mode_of(root.path() / "base"), 0750u);
  EXPECT_EQ(mode_of(root.path() / "base/16384"), 0750u);
  EXPECT_EQ(mode_of(root.path() / "x/y"), 0750u);
  EXPECT_EQ(mode_of(root.path() / "x/y/z"), 0750u);
  EXPECT_EQ(fs::read_symlink(root.path() / "pg_tblspc/1"), "/srv/ts");
}

TEST_P(DataDirExtractorTest, DotDotInsideTheTreeIsResolved) {
  TempDir root;
  DataDirExtractor extractor(root.path(), DataDirModes{}, identity, pool());
  protocol::TarMember dir = member("base", protocol::TarMemberType::kDirectory);
  extractor.member_begin(dir);
  extractor.member_end();
  protocol::TarMember file = member("base/../f", protocol::TarMemberType::kFile);
  file.size = 1;
  extractor.member_begin(file);
  extractor.member_data(as_bytes("z"));
  extractor.member_end();
  extractor.archive_end();
  finish_pool();
  EXPECT_EQ(read_file(root.path() / "f"), "z");
}

TEST_P(DataDirExtractorTest, UnsafePathIsRejected) {
  TempDir root;
  fs::create_directory(root.path() / "inner");
  DataDirExtractor extractor(root.path() / "inner", DataDirModes{}, identity, pool());
  for (const char* path : {"../escape", "/etc/escape", "a/../../escape", ".."}) {
    protocol::TarMember unsafe = member(path, protocol::TarMemberType::kFile);
    try {
      extractor.member_begin(unsafe);
      FAIL() << path;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kProtocol) << path;
    }
  }
  EXPECT_FALSE(fs::exists(root.path() / "escape"));
}

TEST_P(DataDirExtractorTest, MemberAtOrBelowExtractedSymlinkIsRejected) {
  TempDir root;
  fs::create_directory(root.path() / "data");
  fs::create_directory(root.path() / "outside");
  const std::string outside = (root.path() / "outside").string();
  DataDirExtractor extractor(root.path() / "data", DataDirModes{}, tablespaces({{1, outside}}),
                             pool());
  protocol::TarMember link = member("pg_tblspc/1", protocol::TarMemberType::kSymlink, outside);
  extractor.member_begin(link);
  extractor.member_end();
  for (auto type : {protocol::TarMemberType::kFile, protocol::TarMemberType::kDirectory}) {
    for (const char* path : {"pg_tblspc/1/evil", "pg_tblspc/1", "pg_tblspc/1/"}) {
      protocol::TarMember evil = member(path, type);
      EXPECT_THROW(extractor.member_begin(evil), Error) << path;
    }
  }
  EXPECT_TRUE(fs::is_empty(root.path() / "outside"));
}

// A link anywhere but pg_tblspc/<listed oid>, or to anywhere but the listed
// location, would let a later write (of this archive, of WAL, of the standby
// configuration) leave the target.
TEST_P(DataDirExtractorTest, OnlyListedTablespaceLinksAreCreated) {
  struct Case {
    const char* path;
    const char* target;
  };
  for (const Case& c : std::vector<Case>{{"d", "/x"},
                                         {"a/link", "../b"},
                                         {"a/link", "b"},
                                         {"pg_wal", "/tmp/elsewhere"},
                                         {"global/pg_control", "/nonexistent/dangling"},
                                         {"postgresql.auto.conf", "/etc/passwd"},
                                         {"pg_tblspc/16384", "/srv/other"},
                                         {"pg_tblspc/99", "/srv/ts"},
                                         {"pg_tblspc/16384/x", "/srv/ts"},
                                         {"pg_tblspc/016384", "/srv/ts"},
                                         {"pg_tblspc", "/srv/ts"}}) {
    TempDir root;
    DataDirExtractor extractor(root.path(), DataDirModes{}, tablespaces({{16384, "/srv/ts"}}),
                               pool());
    protocol::TarMember link = member(c.path, protocol::TarMemberType::kSymlink, c.target);
    try {
      extractor.member_begin(link);
      FAIL() << c.path << " -> " << c.target << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kProtocol) << c.path;
      EXPECT_NE(std::string(e.what()).find(c.path), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(fs::symlink_status(root.path() / c.path))) << c.path;
  }
}

TEST_P(DataDirExtractorTest, ATablespacesOwnArchiveHoldsNoLink) {
  TempDir root;
  DataDirExtractor extractor(root.path(), DataDirModes{}, identity, pool());
  protocol::TarMember link = member("pg_tblspc/16384", protocol::TarMemberType::kSymlink, "/srv");
  EXPECT_THROW(extractor.member_begin(link), Error);
  EXPECT_TRUE(fs::is_empty(root.path()));
}

TEST_P(DataDirExtractorTest, MissingRootFails) {
  TempDir root;
  DataDirExtractor extractor(root.path() / "missing", DataDirModes{}, identity, pool());
  EXPECT_THROW(extract(extractor, TarBuilder().file("f", "x").finish()), Error);
  EXPECT_FALSE(fs::exists(root.path() / "missing"));
}

}  // namespace
}  // namespace walstream::storage
