#include "protocol/tar.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "protocol/error.h"
#include "tests/support/tar_builder.h"

namespace walstream::protocol {
namespace {

using namespace std::string_literals;

using test_support::kTarMtime;
using test_support::TarBuilder;

// ---------------------------------------------------------------------------
// Recording what the parser reports

std::string octal(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%o", v);
  return buf;
}

class RecordingSink : public TarMemberSink {
 public:
  void member_begin(const TarMember& m) override {
    static constexpr const char* kTypeNames[] = {"file", "dir", "symlink"};
    std::string e = "begin "s + kTypeNames[static_cast<int>(m.type)] + " " + m.path +
                    " mode=" + octal(m.mode) + " size=" + std::to_string(m.size) +
                    " mtime=" + std::to_string(m.mtime);
    if (!m.link_target.empty()) e += " -> " + m.link_target;
    events.push_back(e);
  }
  void member_data(ByteView data) override {
    // Zero copy: every piece must point into the chunk being fed.
    EXPECT_FALSE(data.empty());
    EXPECT_GE(data.data(), chunk.data());
    EXPECT_LE(data.data() + data.size(), chunk.data() + chunk.size());
    // Coalesce, so that the event list does not depend on chunking.
    if (events.empty() || !events.back().starts_with("data ")) events.push_back("data ");
    events.back() += as_chars(data);
  }
  void member_end() override { events.push_back("end"); }
  void archive_end() override { events.push_back("archive_end"); }

  ByteView chunk;
  std::vector<std::string> events;
};

// Feeds `bytes` cut at `cuts` (sorted offsets) and returns the events, with
// "error: <message>" appended if the parser threw.
std::vector<std::string> parse(std::string_view bytes, const std::vector<std::size_t>& cuts,
                               TarParser::Trailer trailer = TarParser::Trailer::kRequired) {
  RecordingSink sink;
  TarParser parser(sink, trailer);
  try {
    std::size_t pos = 0;
    auto feed_to = [&](std::size_t end) {
      sink.chunk = as_bytes(bytes.substr(pos, end - pos));
      parser.feed(sink.chunk);
      pos = end;
    };
    for (std::size_t cut : cuts) feed_to(cut);
    feed_to(bytes.size());
    parser.finish();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kProtocol) << e.what();
    sink.events.push_back("error: "s + e.what());
  }
  return sink.events;
}

// Every way of cutting the input the tests try: one call, byte by byte, random
// cuts with fixed seeds, and cuts at (and next to) every structural boundary.
std::vector<std::pair<std::string, std::vector<std::size_t>>> split_plans(
    std::size_t size, const std::vector<std::size_t>& boundaries) {
  std::vector<std::pair<std::string, std::vector<std::size_t>>> plans;
  plans.push_back({"whole", {}});
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < size; ++i) every.push_back(i);
  plans.push_back({"one byte at a time", every});
  std::mt19937 rng(20240611);
  for (int round = 0; round < 20; ++round) {
    std::set<std::size_t> cuts;
    if (size > 1) {
      std::uniform_int_distribution<std::size_t> pos(1, size - 1);
      std::uniform_int_distribution<int> count(1, 12);
      for (int n = count(rng); n > 0; --n) cuts.insert(pos(rng));
    }
    plans.push_back({"random #" + std::to_string(round), {cuts.begin(), cuts.end()}});
  }
  plans.push_back({"boundaries", boundaries});
  for (int delta : {-1, 1}) {
    std::set<std::size_t> cuts;
    for (std::size_t b : boundaries) {
      const std::size_t c = b + static_cast<std::size_t>(delta);
      if (c > 0 && c < size) cuts.insert(c);
    }
    plans.push_back({"boundaries " + std::to_string(delta), {cuts.begin(), cuts.end()}});
  }
  return plans;
}

// Parses with every split plan, checks they all agree and returns the result.
std::vector<std::string> parse_all_ways(
    const TarBuilder& tar, TarParser::Trailer trailer = TarParser::Trailer::kRequired) {
  const std::vector<std::string> expected = parse(tar.bytes(), {}, trailer);
  for (const auto& [name, cuts] : split_plans(tar.bytes().size(), tar.boundaries())) {
    EXPECT_EQ(parse(tar.bytes(), cuts, trailer), expected) << "split plan: " << name;
  }
  return expected;
}

std::string pattern(std::size_t n, char seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + static_cast<char>(i % 251));
  return s;
}

// ---------------------------------------------------------------------------
// Whole archives

TEST(TarParserTest, RealisticBackupArchive) {
  const std::string label =
      "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n"
      "CHECKPOINT LOCATION: 0/2000060\nBACKUP METHOD: streamed\n";
  const std::string long_dir =
      "base/16384/a_rather_long_directory_name_used_only_to_push_the_path/past_one_hundred";
  const std::string control = pattern(512, 'c');
  const std::string relation = pattern(1000, 'r');

  TarBuilder tar;
  tar.file("backup_label", label)
      .dir("./global/")
      .dir("pg_wal/")
      .dir("pg_wal/archive_status/")
      .symlink("pg_tblspc/16384/", "/srv/pg/tblspc1")
      .member({.name = "2619_fsm", .size = 3, .mode = 0600, .prefix = long_dir}, "fsm")
      .file("standby.signal", "")
      .member({.name = "base/1/1259", .size = relation.size(), .base256_size = true}, relation)
      .file("global/pg_control", control, 0100600)  // file type bits are masked off
      .trailer();

  const std::string m = " mtime=" + std::to_string(kTarMtime);
  EXPECT_EQ(parse_all_ways(tar),
            (std::vector<std::string>{
                "begin file backup_label mode=600 size=" + std::to_string(label.size()) + m,
                "data " + label,
                "end",
                "begin dir global mode=700 size=0" + m,
                "end",
                "begin dir pg_wal mode=700 size=0" + m,
                "end",
                "begin dir pg_wal/archive_status mode=700 size=0" + m,
                "end",
                "begin symlink pg_tblspc/16384 mode=777 size=0" + m + " -> /srv/pg/tblspc1",
                "end",
                "begin file " + long_dir + "/2619_fsm mode=600 size=3" + m,
                "data fsm",
                "end",
                "begin file standby.signal mode=600 size=0" + m,
                "end",
                "begin file base/1/1259 mode=600 size=1000" + m,
                "data " + relation,
                "end",
                "begin file global/pg_control mode=600 size=512" + m,
                "data " + control,
                "end",
                "archive_end",
            }));
}

TEST(TarParserTest, EmptyArchiveIsJustTheTrailer) {
  TarBuilder tar;
  tar.trailer();
  EXPECT_EQ(parse_all_ways(tar), std::vector<std::string>{"archive_end"});
}

TEST(TarParserTest, ExtraZeroBytesAfterTrailerAreTolerated) {
  TarBuilder tar;
  tar.file("a", "x").trailer().zero_blocks(3).raw("\0\0\0"s);
  EXPECT_EQ(parse_all_ways(tar),
            (std::vector<std::string>{"begin file a mode=600 size=1 mtime=1700000000", "data x",
                                      "end", "archive_end"}));
}

TEST(TarParserTest, SignedChecksumVariantIsAccepted) {
  // A byte >= 0x80 in the name makes the signed and unsigned sums differ.
  TarBuilder tar;
  tar.member({.name = "donn\xc3\xa9"
                      "es",
              .size = 2,
              .signed_checksum = true},
             "ok")
      .member({.name = "caf\xc3\xa9", .size = 0, .signed_checksum = false})
      .trailer();
  EXPECT_EQ(parse_all_ways(tar), (std::vector<std::string>{
                                     "begin file donn\xc3\xa9"
                                     "es mode=600 size=2 mtime=1700000000",
                                     "data ok",
                                     "end",
                                     "begin file caf\xc3\xa9 mode=600 size=0 mtime=1700000000",
                                     "end",
                                     "archive_end",
                                 }));
}

TEST(TarParserTest, TypeFlagNulIsARegularFile) {
  TarBuilder tar;
  tar.member({.name = "old", .type = '\0', .size = 1}, "z").trailer();
  EXPECT_EQ(parse_all_ways(tar).front(), "begin file old mode=600 size=1 mtime=1700000000");
}

TEST(TarParserTest, PrefixIsJoinedOnlyForPosixMagic) {
  TarBuilder gnu;
  gnu.member({.name = "file", .prefix = "junk", .magic = "ustar  \0"s}).trailer();
  EXPECT_EQ(parse_all_ways(gnu).front(), "begin file file mode=600 size=0 mtime=1700000000");

  TarBuilder v7;
  v7.member({.name = "file", .prefix = "junk", .magic = ""}).trailer();
  EXPECT_EQ(parse_all_ways(v7).front(), "begin file file mode=600 size=0 mtime=1700000000");

  TarBuilder posix;
  posix.member({.name = "file", .prefix = "dir/sub"}).trailer();
  EXPECT_EQ(parse_all_ways(posix).front(),
            "begin file dir/sub/file mode=600 size=0 mtime=1700000000");
}

TEST(TarParserTest, SafeRelativeLinkTargetsAreAccepted) {
  TarBuilder tar;
  tar.symlink("a/b/link", "../c")
      .symlink("a/up", "..")  // resolves to the root itself: still inside
      .symlink("self", ".")
      .symlink("x/y", "z/../w")
      .trailer();
  const auto events = parse_all_ways(tar);
  EXPECT_EQ(events.back(), "archive_end");
  EXPECT_EQ(events.size(), 9u);
}

// ---------------------------------------------------------------------------
// Missing or truncated ends

TEST(TarParserTest, MissingTrailerRequiredVsOptional) {
  TarBuilder tar;
  tar.file("a", "abc").dir("d/");
  const std::vector<std::string> members = {"begin file a mode=600 size=3 mtime=1700000000",
                                            "data abc", "end",
                                            "begin dir d mode=700 size=0 mtime=1700000000", "end"};
  auto optional = members;
  optional.push_back("archive_end");
  EXPECT_EQ(parse_all_ways(tar, TarParser::Trailer::kOptional), optional);

  auto required = members;
  required.push_back("error: tar archive ends without its trailer");
  EXPECT_EQ(parse_all_ways(tar, TarParser::Trailer::kRequired), required);
}

TEST(TarParserTest, HalfTrailerRequiredVsOptional) {
  TarBuilder tar;
  tar.file("a", "abc").zero_blocks(1).raw(std::string(100, '\0'));
  EXPECT_EQ(parse_all_ways(tar, TarParser::Trailer::kOptional).back(), "archive_end");
  EXPECT_EQ(parse_all_ways(tar, TarParser::Trailer::kRequired).back(),
            "error: tar archive ends inside its trailer");
}

TEST(TarParserTest, TruncatedArchives) {
  TarBuilder full;
  full.file("first", "1").file("base/1/1259", pattern(700, 'q')).trailer();
  const std::size_t second_header = 1024;
  const std::size_t second_data = second_header + 512;

  struct Case {
    std::size_t size;
    std::string error;
  };
  const std::vector<Case> cases = {
      {100, "tar archive ends inside a member header"},
      {512, "tar archive ends inside member \"first\""},  // before the padding
      {1000, "tar archive ends inside member \"first\""},
      {second_header + 511, "tar archive ends inside a member header"},
      {second_data, "tar archive ends inside member \"base/1/1259\""},
      {second_data + 699, "tar archive ends inside member \"base/1/1259\""},
      {second_data + 700, "tar archive ends inside member \"base/1/1259\""},  // in padding
      {second_data + 1023, "tar archive ends inside member \"base/1/1259\""},
  };
  for (const auto& c : cases) {
    for (auto trailer : {TarParser::Trailer::kRequired, TarParser::Trailer::kOptional}) {
      TarBuilder tar = full;
      tar.truncate(c.size);
      EXPECT_EQ(parse_all_ways(tar, trailer).back(), "error: " + c.error) << "size " << c.size;
    }
  }
}

// ---------------------------------------------------------------------------
// Rejected input

std::string error_of(const TarBuilder& tar) {
  const auto events = parse_all_ways(tar);
  return events.empty() ? "" : events.back();
}

TEST(TarParserTest, BadChecksumIsRejected) {
  TarBuilder tar;
  tar.file("ok", "1").member({.name = "base/1/2", .checksum_delta = 1}).trailer();
  EXPECT_EQ(error_of(tar), "error: bad tar header checksum (member \"base/1/2\")");

  TarBuilder garbage;
  garbage.member({.name = "x", .checksum_field = "zzzzzzzz"}).trailer();
  EXPECT_EQ(error_of(garbage), "error: bad tar header checksum (member \"x\")");
}

TEST(TarParserTest, UnsafeMemberNamesAreRejected) {
  struct Case {
    std::string name;
    std::string prefix;
    std::string shown;
  };
  const std::vector<Case> cases = {
      {"../x", "", "../x"},
      {"/abs", "", "/abs"},
      {"/etc/passwd", "", "/etc/passwd"},
      {"a/../../x", "", "a/../../x"},
      {"..", "", ".."},
      {"../", "", "../"},
      {"./..", "", "./.."},
      {"./", "", "./"},
      {"a/..", "", "a/.."},
      {"x", "..", "../x"},
      {"x", "/root", "/root/x"},
  };
  for (const auto& c : cases) {
    TarBuilder tar;
    tar.member({.name = c.name, .prefix = c.prefix}).trailer();
    EXPECT_EQ(error_of(tar), "error: tar member \"" + c.shown + "\" has an unsafe path name")
        << c.name;
  }
}

TEST(TarParserTest, UnsafeLinkTargetsAreRejected) {
  struct Case {
    std::string name;
    std::string target;
  };
  const std::vector<Case> cases = {
      {"link", ".."},
      {"link", "../etc"},
      {"pg_tblspc/16384/", "../../../etc"},
      {"a/b/link", "../../../x"},
      {"a/link", "b/../../../x"},
  };
  for (const auto& c : cases) {
    TarBuilder tar;
    tar.symlink(c.name, c.target).trailer();
    std::string shown = c.name;
    EXPECT_EQ(error_of(tar),
              "error: tar symlink \"" + shown + "\" has an unsafe link target \"" + c.target + "\"")
        << c.name << " -> " << c.target;
  }

  TarBuilder empty;
  empty.symlink("link", "").trailer();
  EXPECT_EQ(error_of(empty), "error: tar symlink \"link\" has an empty target");
}

TEST(TarParserTest, UnsupportedMemberTypesAreRejected) {
  struct Case {
    char type;
    std::string shown;
  };
  const std::vector<Case> cases = {
      {'x', "'x' (pax extended header)"},
      {'g', "'g' (pax global header)"},
      {'L', "'L' (gnu long name)"},
      {'K', "'K' (gnu long name)"},
      {'1', "'1' (hard link)"},
      {'3', "'3'"},
      {'6', "'6'"},
      {'\x01', "'\\x01'"},
  };
  for (const auto& c : cases) {
    TarBuilder tar;
    tar.member({.name = "PaxHeader/x", .type = c.type, .size = 19}, "19 path=a_long_one\n")
        .trailer();
    EXPECT_EQ(error_of(tar),
              "error: unsupported tar member type " + c.shown + " for member \"PaxHeader/x\"");
  }
}

TEST(TarParserTest, DataAfterTrailerIsRejected) {
  TarBuilder after_trailer;
  after_trailer.file("a", "1").trailer().file("b", "2");
  EXPECT_EQ(error_of(after_trailer), "error: unexpected data after the tar archive trailer");

  // The first zero block already starts the trailer.
  TarBuilder after_one_block;
  after_one_block.file("a", "1").zero_blocks(1).file("b", "2").trailer();
  EXPECT_EQ(error_of(after_one_block), "error: unexpected data after the tar archive trailer");

  TarBuilder stray_byte;
  stray_byte.trailer().raw(std::string(600, '\0') + "!");
  EXPECT_EQ(error_of(stray_byte), "error: unexpected data after the tar archive trailer");
}

TEST(TarParserTest, MalformedNumbersAndSizesAreRejected) {
  TarBuilder bad_size;
  bad_size.member({.name = "f", .size_field = "12x"}).trailer();
  EXPECT_EQ(error_of(bad_size), "error: tar member \"f\" has a malformed numeric field");

  TarBuilder blank_size;
  blank_size.member({.name = "f", .size_field = std::string(12, ' ')}).trailer();
  EXPECT_EQ(error_of(blank_size), "error: tar member \"f\" has a malformed numeric field");

  TarBuilder dir_with_data;
  dir_with_data.member({.name = "d/", .type = '5', .size = 3}, "abc").trailer();
  EXPECT_EQ(error_of(dir_with_data), "error: tar member \"d/\" is not a file but has content");
}

// ---------------------------------------------------------------------------
// Call protocol

class CountingSink : public TarMemberSink {
 public:
  void member_begin(const TarMember&) override {
    if (throw_on_begin) throw Error(ErrorKind::kIo, "disk full");
  }
  void member_data(ByteView) override {}
  void member_end() override {}
  void archive_end() override { ++archive_ends; }
  int archive_ends = 0;
  bool throw_on_begin = false;
};

TEST(TarParserTest, FinishReportsArchiveEndExactlyOnce) {
  TarBuilder tar;
  tar.trailer();
  CountingSink sink;
  TarParser parser(sink, TarParser::Trailer::kRequired);
  parser.feed(as_bytes(tar.bytes()));
  parser.finish();
  parser.finish();
  EXPECT_EQ(sink.archive_ends, 1);
  try {
    parser.feed(as_bytes("x"));
    FAIL() << "feed after finish must throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInternal);
  }
}

TEST(TarParserTest, ParserIsUnusableAfterAnError) {
  TarBuilder tar;
  tar.file("a", "1");
  CountingSink sink;
  sink.throw_on_begin = true;
  TarParser parser(sink, TarParser::Trailer::kOptional);
  try {
    parser.feed(as_bytes(tar.bytes()));
    FAIL() << "sink error must propagate";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
  }
  EXPECT_THROW(parser.feed(as_bytes(std::string(512, '\0'))), Error);
  EXPECT_THROW(parser.finish(), Error);
  EXPECT_EQ(sink.archive_ends, 0);
}

TEST(TarParserTest, EmptyChunksAreHarmless) {
  TarBuilder tar;
  tar.file("a", "xyz").trailer();
  RecordingSink sink;
  TarParser parser(sink, TarParser::Trailer::kRequired);
  const ByteView all = as_bytes(tar.bytes());
  for (std::size_t i = 0; i < all.size(); ++i) {
    sink.chunk = all.subspan(i, 0);
    parser.feed(sink.chunk);
    sink.chunk = all.subspan(i, 1);
    parser.feed(sink.chunk);
  }
  parser.finish();
  EXPECT_EQ(sink.events, parse(tar.bytes(), {}));
}

// ---------------------------------------------------------------------------
// Helpers

TEST(ParseTarNumberTest, Table) {
  struct Case {
    std::string field;
    std::optional<std::uint64_t> expected;
  };
  const std::vector<Case> cases = {
      {"0000644 ", 0644},
      {"0000644\0"s, 0644},
      {" 644 \0"s, 0644},
      {"\0\0 17\0\0"s, 017},
      {"00000001750 ", 01750},
      {"77777777777\0"s, 077777777777},
      {"777777777777", 0777777777777},  // no terminator at all
      {"0", 0},
      {"", std::nullopt},
      {"        ", std::nullopt},
      {std::string(8, '\0'), std::nullopt},
      {"8", std::nullopt},
      {"12x", std::nullopt},
      {"12 3", std::nullopt},
      {"-1", std::nullopt},
      {"1777777777777777777777", 01777777777777777777777},  // UINT64_MAX
      {"2000000000000000000000", std::nullopt},             // overflow
      {"\x80\0\0\0\0\0\0\0\0\0\x02\x00"s, 512},
      {"\x80\0\0\0\x02\0\0\0\0\0\0\x01"s, 0x0200000000000001},  // 8 GiB and more
      {"\x80"s, 0},
      {"\x80\xff\xff\xff\xff\xff\xff\xff\xff"s, 0xffffffffffffffff},
      {"\x80\x01\0\0\0\0\0\0\0\0"s, std::nullopt},          // does not fit 64 bits
      {"\xff\xff\xff\xff\xff\xff\xff\xff"s, std::nullopt},  // negative base-256
  };
  for (const auto& c : cases) {
    EXPECT_EQ(parse_tar_number(as_bytes(c.field)), c.expected)
        << "field of size " << c.field.size();
  }
}

TEST(IsSafeRelativePathTest, Table) {
  struct Case {
    std::string path;
    bool safe;
  };
  const std::vector<Case> cases = {
      {"base/1/1259", true},
      {"backup_label", true},
      {"base/../pg_wal/x", true},
      {"./a", true},
      {"a/./b", true},
      {"a//b", true},
      {"a/b/../../c", true},
      {"..a", true},
      {"a..", true},
      {"...", true},
      {"", false},
      {".", false},
      {"./", false},
      {"..", false},
      {"../x", false},
      {"a/../../x", false},
      {"a/..", false},
      {"/etc/x", false},
      {"/", false},
      {"a/b/../../../c", false},
      {"a\0b"s, false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(is_safe_relative_path(c.path), c.safe) << "'" << c.path << "'";
  }
}

}  // namespace
}  // namespace walstream::protocol
