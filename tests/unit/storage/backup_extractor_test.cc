#include "storage/backup_extractor.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "protocol/error.h"
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

void feed_in_chunks(BackupExtractor& extractor, const std::string& bytes, std::size_t chunk) {
  ByteView view = as_bytes(bytes);
  for (std::size_t at = 0; at < view.size(); at += chunk) {
    extractor.archive_data(view.subspan(at, std::min(chunk, view.size() - at)));
  }
}

class BackupExtractorTest : public ::testing::Test {
 protected:
  void SetUp() override { fs::create_directory(data_dir()); }

  fs::path data_dir() const { return temp_.path() / "data"; }
  fs::path tablespace_dir() const { return temp_.path() / "ts_new"; }

  BackupExtractorOptions options(DataDirModes modes = {}) const {
    BackupExtractorOptions o;
    o.data_dir = data_dir();
    o.modes = modes;
    fs::path mapped = tablespace_dir();
    o.map_tablespace = [mapped](const std::string& location) {
      return location == "/srv/ts_old" ? mapped.string() : location;
    };
    return o;
  }

  // The tablespace list the tests' backups come with.
  std::vector<protocol::TablespaceInfo> listed() const {
    return {protocol::TablespaceInfo{}, protocol::TablespaceInfo{16400, "/srv/ts_old", {}},
            protocol::TablespaceInfo{16500, (temp_.path() / "same_path_ts").string(), {}}};
  }

  TempDir temp_{"backup"};
};

TEST_F(BackupExtractorTest, FullEventSequence) {
  UmaskGuard umask_guard(077);
  BackupExtractor extractor(options(DataDirModes::from_data_directory_mode(0750)));
  extractor.expect_tablespaces(listed());

  std::string base = TarBuilder()
                         .file("PG_VERSION", "16\n")
                         .dir("global/")
                         .file("global/pg_control", std::string(8192, '\x5a'))
                         .dir("pg_tblspc/")
                         .symlink("pg_tblspc/16400/", "/srv/ts_old")
                         .dir("pg_wal/")
                         .finish();
  extractor.archive_begin("base.tar", "");
  feed_in_chunks(extractor, base, 777);
  extractor.archive_end();
  extractor.progress(10000);

  std::string tablespace = TarBuilder()
                               .dir("PG_16_202307071/")
                               .dir("PG_16_202307071/5/")
                               .file("PG_16_202307071/5/16401", "table data")
                               .finish();
  extractor.archive_begin("16400.tar", "/srv/ts_old");
  feed_in_chunks(extractor, tablespace, 100);
  extractor.archive_end();
  extractor.progress(20000);

  extractor.manifest_begin();
  extractor.manifest_data(as_bytes("{\"PostgreSQL-Backup-Manifest-Version\": 1,\n"));
  extractor.manifest_data(as_bytes("\"Files\": []}\n"));
  EXPECT_FALSE(extractor.manifest_received());
  extractor.manifest_end();

  EXPECT_TRUE(extractor.manifest_received());
  EXPECT_EQ(extractor.bytes_done(), 20000u);
  EXPECT_EQ(read_file(data_dir() / "PG_VERSION"), "16\n");
  EXPECT_EQ(read_file(data_dir() / "global/pg_control"), std::string(8192, '\x5a'));
  EXPECT_EQ(mode_of(data_dir() / "global"), 0750u);
  EXPECT_EQ(mode_of(data_dir() / "global/pg_control"), 0640u);
  EXPECT_EQ(fs::read_symlink(data_dir() / "pg_tblspc/16400"), tablespace_dir());
  // The missing tablespace directory was created with the directory mode.
  EXPECT_EQ(mode_of(tablespace_dir()), 0750u);
  EXPECT_EQ(read_file(tablespace_dir() / "PG_16_202307071/5/16401"), "table data");
  // Reachable through the data directory's link too.
  EXPECT_EQ(read_file(data_dir() / "pg_tblspc/16400/PG_16_202307071/5/16401"), "table data");
  EXPECT_FALSE(fs::exists(data_dir() / "backup_manifest"));
  EXPECT_EQ(read_file(data_dir() / "backup_manifest.tmp"),
            "{\"PostgreSQL-Backup-Manifest-Version\": 1,\n\"Files\": []}\n");
  EXPECT_EQ(mode_of(data_dir() / "backup_manifest.tmp"), 0640u);

  EXPECT_TRUE(commit_backup_manifest(data_dir(), /*durable=*/true));
  EXPECT_EQ(read_file(data_dir() / "backup_manifest"),
            "{\"PostgreSQL-Backup-Manifest-Version\": 1,\n\"Files\": []}\n");
  EXPECT_EQ(mode_of(data_dir() / "backup_manifest"), 0640u);
  EXPECT_FALSE(fs::exists(data_dir() / "backup_manifest.tmp"));
}

// backup_manifest is the "backup complete" marker: the extractor leaves the
// manifest under its temporary name, and only the clone's last step, after
// the final sync, gives it the final one.
TEST_F(BackupExtractorTest, ManifestKeepsTemporaryNameAfterItArrives) {
  BackupExtractor extractor(options());
  extractor.expect_tablespaces(listed());
  extractor.archive_begin("base.tar", "");
  feed_in_chunks(extractor, TarBuilder().file("PG_VERSION", "16\n").finish(), 512);
  extractor.archive_end();
  extractor.manifest_begin();
  extractor.manifest_data(as_bytes("{\"PostgreSQL-Backup-Manifest-Version\": 1}\n"));
  extractor.manifest_end();

  EXPECT_TRUE(extractor.manifest_received());
  EXPECT_FALSE(fs::exists(data_dir() / "backup_manifest"));
  EXPECT_EQ(read_file(data_dir() / "backup_manifest.tmp"),
            "{\"PostgreSQL-Backup-Manifest-Version\": 1}\n");
}

struct CommitCase {
  const char* name;
  bool durable;
};

class CommitBackupManifestTest : public BackupExtractorTest,
                                 public ::testing::WithParamInterface<CommitCase> {};

TEST_P(CommitBackupManifestTest, RenamesTheTemporaryManifest) {
  { std::ofstream(data_dir() / "backup_manifest.tmp") << "manifest"; }
  EXPECT_TRUE(commit_backup_manifest(data_dir(), GetParam().durable)) << GetParam().name;
  EXPECT_EQ(read_file(data_dir() / "backup_manifest"), "manifest");
  EXPECT_FALSE(fs::exists(data_dir() / "backup_manifest.tmp"));
}

TEST_P(CommitBackupManifestTest, NoManifestBefore13IsNotAnError) {
  EXPECT_FALSE(commit_backup_manifest(data_dir(), GetParam().durable)) << GetParam().name;
  EXPECT_FALSE(fs::exists(data_dir() / "backup_manifest"));
}

TEST_P(CommitBackupManifestTest, FailedRenameIsAnIoError) {
  { std::ofstream(data_dir() / "backup_manifest.tmp") << "manifest"; }
  fs::create_directory(data_dir() / "backup_manifest");  // rename(2): EISDIR
  try {
    commit_backup_manifest(data_dir(), GetParam().durable);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("backup_manifest.tmp"), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, CommitBackupManifestTest,
                         ::testing::Values(CommitCase{"durable", true},
                                           CommitCase{"rename only (-N)", false}));

TEST_F(BackupExtractorTest, EmptyTablespaceDirectoryIsAccepted) {
  fs::create_directory(tablespace_dir());
  BackupExtractor extractor(options());
  extractor.expect_tablespaces(listed());
  extractor.archive_begin("16400.tar", "/srv/ts_old");
  feed_in_chunks(extractor, TarBuilder().file("f", "x").finish(), 512);
  extractor.archive_end();
  EXPECT_EQ(read_file(tablespace_dir() / "f"), "x");
}

TEST_F(BackupExtractorTest, NonEmptyTablespaceDirectoryIsRefused) {
  fs::create_directory(tablespace_dir());
  { std::ofstream(tablespace_dir() / "leftover") << "x"; }
  BackupExtractor extractor(options());
  extractor.expect_tablespaces(listed());
  try {
    extractor.archive_begin("16400.tar", "/srv/ts_old");
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
    EXPECT_EQ(std::string(e.what()),
              "tablespace directory \"" + tablespace_dir().string() + "\" exists and is not empty");
  }
}

TEST_F(BackupExtractorTest, UnmappedTablespaceUsesServerPath) {
  // Without a mapping, the server-side location is used as is.
  fs::path location = temp_.path() / "same_path_ts";
  BackupExtractorOptions o = options();
  o.map_tablespace = nullptr;
  BackupExtractor extractor(std::move(o));
  extractor.expect_tablespaces(listed());
  extractor.archive_begin("16500.tar", location.string());
  feed_in_chunks(extractor, TarBuilder().file("g", "y").finish(), 4096);
  extractor.archive_end();
  EXPECT_EQ(read_file(location / "g"), "y");
}

TEST_F(BackupExtractorTest, ServerCompressedArchiveIsDecompressedWhileExtracted) {
  const std::string tar =
      TarBuilder().dir("base/").file("base/1", std::string(100000, 'q')).finish();
  std::string compressed(ZSTD_compressBound(tar.size()), '\0');
  compressed.resize(ZSTD_compress(compressed.data(), compressed.size(), tar.data(), tar.size(), 1));
  BackupExtractor extractor(options());
  extractor.expect_tablespaces(listed());
  extractor.archive_begin("base.tar.zst", "");
  feed_in_chunks(extractor, compressed, 777);
  extractor.archive_end();
  EXPECT_EQ(read_file(temp_.path() / "data" / "base" / "1"), std::string(100000, 'q'));
}

TEST_F(BackupExtractorTest, UnknownArchiveNamesAreRefused) {
  BackupExtractor extractor(options());
  extractor.expect_tablespaces(listed());
  for (const char* name : {"base.tar.bz2", "x.tar.zst", "base.zst", "../base.tar.gz"}) {
    EXPECT_THROW(extractor.archive_begin(name, ""), Error) << name;
  }
}

TEST_F(BackupExtractorTest, UnexpectedArchiveNameIsRefused) {
  BackupExtractor extractor(options());
  extractor.expect_tablespaces(listed());
  for (const char* name : {"foo.tar", "base", ".tar", "12a.tar"}) {
    EXPECT_THROW(extractor.archive_begin(name, ""), Error) << name;
  }
}

TEST_F(BackupExtractorTest, TruncatedArchiveFailsAtEnd) {
  BackupExtractor extractor(options());
  extractor.expect_tablespaces(listed());
  std::string archive = TarBuilder().file("f", std::string(2000, 'q')).finish();
  extractor.archive_begin("base.tar", "");
  feed_in_chunks(extractor, archive.substr(0, 1024), 1024);
  EXPECT_THROW(extractor.archive_end(), Error);
}

TEST_F(BackupExtractorTest, OptionalTrailerForOldServers) {
  BackupExtractorOptions o = options();
  o.tar_trailer = protocol::TarParser::Trailer::kOptional;
  BackupExtractor extractor(std::move(o));
  extractor.expect_tablespaces(listed());
  extractor.archive_begin("base.tar", "");
  feed_in_chunks(extractor, TarBuilder().file("PG_VERSION", "13\n").finish(false), 300);
  extractor.archive_end();
  EXPECT_EQ(read_file(data_dir() / "PG_VERSION"), "13\n");
}

TEST_F(BackupExtractorTest, DataOutsideArchiveIsAProtocolError) {
  BackupExtractor extractor(options());
  extractor.expect_tablespaces(listed());
  EXPECT_THROW(extractor.archive_data(as_bytes("x")), Error);
  EXPECT_THROW(extractor.archive_end(), Error);
  EXPECT_THROW(extractor.manifest_data(as_bytes("x")), Error);
  EXPECT_THROW(extractor.manifest_end(), Error);
}

TEST_F(BackupExtractorTest, ArchivesTheTablespaceListDoesNotNameAreRefused) {
  struct Case {
    const char* name;
    const char* path;
  };
  for (const Case& c : std::vector<Case>{{"16400.tar", "/srv/elsewhere"},
                                         {"16401.tar", "/srv/ts_old"},
                                         {"base.tar", "/srv/ts_old"},
                                         {"16400.tar", ""},
                                         {"16400.tar", "srv/ts_old"}}) {
    BackupExtractor extractor(options());
    extractor.expect_tablespaces(listed());
    try {
      extractor.archive_begin(c.name, c.path);
      FAIL() << c.name << " at \"" << c.path << "\" was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kProtocol) << c.name;
    }
  }
  EXPECT_FALSE(fs::exists(tablespace_dir()));
  EXPECT_FALSE(fs::exists("/srv/elsewhere"));
}

TEST_F(BackupExtractorTest, ATablespaceListWithARelativeLocationIsRefused) {
  BackupExtractor extractor(options());
  EXPECT_THROW(extractor.expect_tablespaces({protocol::TablespaceInfo{1, "relative/ts", {}}}),
               Error);
  EXPECT_THROW(extractor.expect_tablespaces({protocol::TablespaceInfo{1, "", {}}}), Error);
  EXPECT_THROW(extractor.expect_tablespaces({protocol::TablespaceInfo{{}, "/srv/ts", {}}}), Error);
}

TEST_F(BackupExtractorTest, AnArchiveTwiceOrAfterTheManifestIsRefused) {
  BackupExtractor extractor(options());
  extractor.expect_tablespaces(listed());
  extractor.archive_begin("base.tar", "");
  feed_in_chunks(extractor, TarBuilder().file("PG_VERSION", "16\n").finish(), 512);
  extractor.archive_end();
  EXPECT_THROW(extractor.archive_begin("base.tar", ""), Error);
  extractor.manifest_begin();
  extractor.manifest_data(as_bytes("{}"));
  extractor.manifest_end();
  EXPECT_THROW(extractor.archive_begin("16400.tar", "/srv/ts_old"), Error);
  EXPECT_FALSE(fs::exists(tablespace_dir()));
}

TEST_F(BackupExtractorTest, AManifestBeyondTheLimitIsRefused) {
  BackupExtractorOptions o = options();
  o.max_manifest_bytes = 100;
  BackupExtractor extractor(std::move(o));
  extractor.manifest_begin();
  extractor.manifest_data(as_bytes(std::string(100, 'm')));
  try {
    extractor.manifest_data(as_bytes("m"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kProtocol);
    EXPECT_EQ(std::string(e.what()), "the backup manifest is larger than 100 bytes");
  }
  EXPECT_EQ(fs::file_size(data_dir() / "backup_manifest.tmp"), 100u);
}

TEST_F(BackupExtractorTest, AManifestIsNeverWrittenThroughALink) {
  const fs::path outside = temp_.path() / "outside";
  { std::ofstream(outside) << "keep"; }
  fs::create_symlink(outside, data_dir() / "backup_manifest.tmp");
  BackupExtractor extractor(options());
  EXPECT_THROW(extractor.manifest_begin(), Error);
  EXPECT_EQ(read_file(outside), "keep");
}

}  // namespace
}  // namespace walstream::storage
