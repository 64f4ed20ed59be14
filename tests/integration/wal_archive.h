// LSNs, WAL file names and archive checks for integration tests, computed
// independently of the code under test. Servers in these tests use 1 MB WAL
// segments (initdb --wal-segsize=1), so that little WAL makes many segments.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tests/integration/test_env.h"

namespace walstream::it {

constexpr std::uint64_t kSegmentSize = 1024 * 1024;  // initdb --wal-segsize=1
constexpr std::uint64_t kSegmentsPerXLogId = 0x100000000ULL / kSegmentSize;

// "X/X" (any hex digit count) to a 64-bit LSN; throws on anything else.
std::uint64_t parse_lsn(const std::string& text);
std::string format_lsn(std::uint64_t lsn);

inline std::uint64_t segno_of(std::uint64_t lsn) { return lsn / kSegmentSize; }
inline std::uint64_t offset_in_segment(std::uint64_t lsn) { return lsn % kSegmentSize; }
// The last segment that holds WAL before `lsn`.
inline std::uint64_t last_segno_before(std::uint64_t lsn) { return segno_of(lsn - 1); }

std::string segment_name(std::uint32_t timeline, std::uint64_t segno);

enum class FileKind { kComplete, kPartial, kCompressed, kHistory, kOther };

struct ArchiveFile {
  std::string name;
  FileKind kind = FileKind::kOther;
  std::uint32_t timeline = 0;
  std::uint64_t segno = 0;
  bool is_segment() const {
    return kind == FileKind::kComplete || kind == FileKind::kPartial ||
           kind == FileKind::kCompressed;
  }
};

ArchiveFile classify(const std::string& name);
// Every file of an archive directory, sorted by name.
std::vector<ArchiveFile> list_archive(const std::filesystem::path& dir);
// "NAME SIZE" lines, for assertion messages.
std::string describe_archive(const std::filesystem::path& dir);

// What is wrong with an archive that should hold every segment from its first
// one through segment `through_segno`: holes (a segment number covered by no
// file of any timeline; a timeline switch continues segment N of timeline T
// with segment N of a later one), a .partial that is not the newest segment
// of its timeline or sits next to the completed segment, files that are not
// WAL, an archive ending too early. Empty when all is well.
// `after_kill`: the archive of a killed receiver, which may hold several
// .partial segments in a row at the top of a timeline (full ones the syncer
// had not renamed yet); they must still sit above every completed one.
std::string archive_problems(const std::filesystem::path& dir, std::uint64_t through_segno,
                             bool after_kill = false);

// The server's WAL flush position, on a primary or (replay position) on a
// standby.
std::string flush_lsn(PgCluster& server);

// Writes a little WAL and switches segments `segments` times; returns the
// flush position after the last write, before the last switch (inside the
// last segment written to).
std::string generate_wal(PgCluster& server, int segments);

// A started primary with 1 MB segments and role r (REPLICATION, kPassword).
std::unique_ptr<PgCluster> start_primary(std::string_view name, PgClusterOptions options = {});

// pgbench -i -s 1 on `server` (asserts it succeeded).
void pgbench_init(PgCluster& server);
// pgbench writing in the background until stopped (or destroyed).
std::unique_ptr<Process> start_load(PgCluster& server);
// Stops what start_load started (SIGINT; expects it gone within 30 s).
void stop_load(Process& load);

// A physical slot that reserves WAL from now on.
void create_slot(PgCluster& server, const std::string& slot);

// Runs `pg_receivewal -S slot -E endpos` into `dir` to completion: the
// reference receivers are compared with.
CommandResult pg_receivewal_to(const std::filesystem::path& dir, const PgCluster& server,
                               const std::string& slot, const std::string& endpos);

// Where two byte strings first differ, for assertion messages.
std::string first_difference(const std::string& expected, const std::string& actual);

// Complete (uncompressed) segments below segment number `below_segno` must be
// the same set, byte for byte, in both archives.
void expect_same_complete_segments(const std::filesystem::path& reference,
                                   const std::filesystem::path& actual, std::uint64_t below_segno);

// The segment of `lsn` on `timeline` (complete or .partial) holds the same
// first offset(lsn) bytes in the archive `actual_dir` as `reference_file` (a
// segment of another archive or of a server's pg_wal).
void expect_same_prefix(const std::filesystem::path& reference_file,
                        const std::filesystem::path& actual_dir, std::uint64_t lsn,
                        std::uint32_t timeline = 1);

// Shared by the receive and matrix timeline tests: `receiver` streams into
// `archive` from `standby`, a standby of `primary`. Waits until it streams a
// timeline 1 segment, stops the primary, promotes the standby, writes WAL on
// timeline 2, and waits until the archive holds that segment and
// 00000002.history with the receiver still running. Sets `on_timeline_2` to an
// LSN written on timeline 2. Fails fatally otherwise: wrap the call in
// ASSERT_NO_FATAL_FAILURE.
void follow_timeline_switch(PgCluster& primary, PgCluster& standby, Process& receiver,
                            const std::filesystem::path& archive, std::uint64_t& on_timeline_2);

}  // namespace walstream::it
