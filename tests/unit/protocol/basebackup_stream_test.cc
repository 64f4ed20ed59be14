#include "protocol/basebackup_stream.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocol/error.h"

namespace walstream::protocol {
namespace {

using namespace std::string_literals;

class RecordingHandler : public BackupStreamHandler {
 public:
  void archive_begin(std::string_view name, std::string_view path) override {
    events.push_back("archive_begin " + std::string(name) + " [" + std::string(path) + "]");
  }
  void archive_data(ByteView data) override {
    events.push_back("archive_data " + std::string(as_chars(data)));
  }
  void archive_end() override { events.push_back("archive_end"); }
  void manifest_begin() override { events.push_back("manifest_begin"); }
  void manifest_data(ByteView data) override {
    events.push_back("manifest_data " + std::string(as_chars(data)));
  }
  void manifest_end() override { events.push_back("manifest_end"); }
  void progress(std::uint64_t bytes_done) override {
    events.push_back("progress " + std::to_string(bytes_done));
  }

  std::vector<std::string> events;
};

std::string new_archive(std::string_view name, std::string_view path) {
  return "n"s.append(name).append(1, '\0').append(path).append(1, '\0');
}

std::string progress(std::uint64_t v) {
  std::string m(9, '\0');
  m[0] = 'p';
  store_be64(reinterpret_cast<std::byte*>(m.data() + 1), v);
  return m;
}

// Feeds the messages then finishes; "error: <message>" ends the list on a throw.
std::vector<std::string> decode(const std::vector<std::string>& messages) {
  RecordingHandler handler;
  BackupStreamDecoder decoder(handler);
  try {
    for (const auto& m : messages) decoder.feed(as_bytes(m));
    decoder.finish();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kProtocol) << e.what();
    handler.events.push_back("error: "s + e.what());
  }
  return handler.events;
}

TEST(BackupStreamDecoderTest, FullScriptedSequence) {
  EXPECT_EQ(decode({
                new_archive("16384.tar", "/srv/pg/tblspc1"),
                "dtar bytes 1",
                "dtar bytes 2",
                progress(0x0000000100000002),
                new_archive("base.tar", ""),
                "dmain data",
                "m",
                "d{\"PostgreSQL-Backup-Manifest-Version\": 1,",
                "d\"Files\": []}",
            }),
            (std::vector<std::string>{
                "archive_begin 16384.tar [/srv/pg/tblspc1]",
                "archive_data tar bytes 1",
                "archive_data tar bytes 2",
                "progress 4294967298",
                "archive_end",
                "archive_begin base.tar []",
                "archive_data main data",
                "archive_end",
                "manifest_begin",
                "manifest_data {\"PostgreSQL-Backup-Manifest-Version\": 1,",
                "manifest_data \"Files\": []}",
                "manifest_end",
            }));
}

TEST(BackupStreamDecoderTest, FinishClosesTheOpenArchive) {
  EXPECT_EQ(
      decode({new_archive("base.tar.zst", ""), "d\x28\xb5\x2f\xfd"s, progress(1)}),
      (std::vector<std::string>{"archive_begin base.tar.zst []", "archive_data \x28\xb5\x2f\xfd",
                                "progress 1", "archive_end"}));
}

TEST(BackupStreamDecoderTest, EmptyStreamAndProgressOnly) {
  EXPECT_EQ(decode({}), std::vector<std::string>{});
  EXPECT_EQ(decode({progress(0), progress(~0ull)}),
            (std::vector<std::string>{"progress 0", "progress 18446744073709551615"}));
}

TEST(BackupStreamDecoderTest, EmptyDataMessagesAreDropped) {
  EXPECT_EQ(decode({new_archive("base.tar", ""), "d", "m", "d"}),
            (std::vector<std::string>{"archive_begin base.tar []", "archive_end", "manifest_begin",
                                      "manifest_end"}));
}

TEST(BackupStreamDecoderTest, BinaryArchiveDataPassesThroughUnchanged) {
  const std::string payload = "d\0\0\xff\x01n\0"s;
  const auto events = decode({new_archive("base.tar", ""), payload});
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[1], "archive_data " + payload.substr(1));
}

TEST(BackupStreamDecoderTest, Errors) {
  struct Case {
    std::string what;
    std::vector<std::string> messages;
    std::string error;
  };
  const std::string open = new_archive("base.tar", "");
  const std::vector<Case> cases = {
      {"empty message", {open, ""}, "empty message in base backup stream"},
      {"unknown type", {open, "x123"}, "unknown message type 0x78 in base backup stream"},
      {"unknown binary type", {"\xfe"s}, "unknown message type 0xfe in base backup stream"},
      {"data before any archive", {"dabc"}, "base backup stream sends data before any archive"},
      {"archive after manifest",
       {open, "m", new_archive("1.tar", "/x")},
       "base backup stream starts an archive after the manifest"},
      {"manifest twice", {open, "m", "m"}, "base backup stream starts the manifest twice"},
      {"empty archive name",
       {new_archive("", "")},
       "invalid archive name \"\" in base backup stream"},
      {"hidden archive name",
       {new_archive(".tar", "")},
       "invalid archive name \".tar\" in base backup stream"},
      {"dot-dot archive name",
       {new_archive("..", "")},
       "invalid archive name \"..\" in base backup stream"},
      {"slash in archive name",
       {new_archive("../base.tar", "")},
       "invalid archive name \"../base.tar\" in base backup stream"},
      {"slash in middle",
       {new_archive("a/b.tar", "")},
       "invalid archive name \"a/b.tar\" in base backup stream"},
      {"backslash in archive name",
       {new_archive("a\\b.tar", "")},
       "invalid archive name \"a\\\\b.tar\" in base backup stream"},
      {"'n' without any NUL",
       {"nbase.tar"},
       "truncated 'n' (new archive) message in base backup stream"},
      {"'n' without second NUL",
       {"nbase.tar\0/path"s},
       "truncated 'n' (new archive) message in base backup stream"},
      {"bare 'n'", {"n"}, "truncated 'n' (new archive) message in base backup stream"},
      {"'n' with trailing bytes",
       {open + "xy"},
       "'n' (new archive) message in base backup stream has 2 trailing bytes"},
      {"'n' with a third string",
       {open + "extra"s + '\0'},
       "'n' (new archive) message in base backup stream has 6 trailing bytes"},
      {"short progress",
       {progress(7).substr(0, 8)},
       "'p' (progress) message in base backup stream has 7 bytes of payload, expected 8"},
      {"long progress",
       {progress(7) + "\0"s},
       "'p' (progress) message in base backup stream has 9 bytes of payload, expected 8"},
      {"bare progress",
       {"p"},
       "'p' (progress) message in base backup stream has 0 bytes of payload, expected 8"},
      {"'m' with payload",
       {open, "m{}"},
       "'m' (manifest) message in base backup stream has 2 unexpected bytes of payload"},
  };
  for (const auto& c : cases) {
    const auto events = decode(c.messages);
    ASSERT_FALSE(events.empty()) << c.what;
    EXPECT_EQ(events.back(), "error: " + c.error) << c.what;
  }
}

TEST(BackupStreamDecoderTest, BadMessageDoesNotCloseTheArchive) {
  // Validation happens before the previous archive is closed.
  EXPECT_EQ(decode({new_archive("base.tar", ""), new_archive("", "")}),
            (std::vector<std::string>{"archive_begin base.tar []",
                                      "error: invalid archive name \"\" in base backup stream"}));
}

TEST(BackupStreamDecoderTest, CallProtocol) {
  RecordingHandler handler;
  BackupStreamDecoder decoder(handler);
  decoder.feed(as_bytes(new_archive("base.tar", "")));
  decoder.finish();
  decoder.finish();  // idempotent
  EXPECT_EQ(handler.events, (std::vector<std::string>{"archive_begin base.tar []", "archive_end"}));
  try {
    decoder.feed(as_bytes("dx"));
    FAIL() << "feed after finish must throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInternal);
  }

  RecordingHandler handler2;
  BackupStreamDecoder failed(handler2);
  EXPECT_THROW(failed.feed(as_bytes("dx")), Error);
  EXPECT_THROW(failed.feed(as_bytes(new_archive("base.tar", ""))), Error);
  EXPECT_THROW(failed.finish(), Error);
  EXPECT_TRUE(handler2.events.empty());
}

}  // namespace
}  // namespace walstream::protocol
