#include "storage/backup_verifier.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <system_error>

#include "protocol/backup_manifest.h"
#include "protocol/crc32c.h"
#include "protocol/error.h"
#include "protocol/hex.h"
#include "protocol/lsn.h"
#include "protocol/wal_file_names.h"
#include "protocol/wal_page.h"
#include "protocol/wal_reader.h"
#include "storage/file_util.h"
#include "storage/wal_archive_verifier.h"

namespace walstream::storage {
namespace {

namespace fs = std::filesystem;
using protocol::ChecksumAlgorithm;
using protocol::Lsn;
using protocol::WalReaderState;

constexpr std::size_t kReadChunk = 1 << 20;
// A manifest lists every file in one line of about 150 bytes; 1 GiB is
// millions of files, beyond any sane backup.
constexpr std::uint64_t kMaxManifestSize = std::uint64_t{1} << 30;

std::string quoted(const std::string& path) { return "\"" + path + "\""; }

std::string errno_text(int error_number) { return std::strerror(error_number); }

// Streams bytes into one of the manifest's checksum algorithms.
class FileHasher {
 public:
  explicit FileHasher(ChecksumAlgorithm algorithm) : algorithm_(algorithm) {
    if (algorithm_ == ChecksumAlgorithm::kCrc32c || algorithm_ == ChecksumAlgorithm::kNone) return;
    const EVP_MD* md = nullptr;
    switch (algorithm_) {
      case ChecksumAlgorithm::kSha224:
        md = EVP_sha224();
        break;
      case ChecksumAlgorithm::kSha256:
        md = EVP_sha256();
        break;
      case ChecksumAlgorithm::kSha384:
        md = EVP_sha384();
        break;
      default:
        md = EVP_sha512();
        break;
    }
    context_.reset(EVP_MD_CTX_new());
    if (!context_ || EVP_DigestInit_ex(context_.get(), md, nullptr) != 1) {
      throw Error(ErrorKind::kInternal, "could not initialise a SHA context (OpenSSL)");
    }
  }

  void update(const void* data, std::size_t size) {
    if (algorithm_ == ChecksumAlgorithm::kCrc32c) {
      crc_ = protocol::crc32c_update(crc_, ByteView(static_cast<const std::byte*>(data), size));
    } else if (context_ && EVP_DigestUpdate(context_.get(), data, size) != 1) {
      throw Error(ErrorKind::kInternal, "SHA update failed (OpenSSL)");
    }
  }

  std::vector<std::uint8_t> finish() {
    if (algorithm_ == ChecksumAlgorithm::kCrc32c) {
      // PostgreSQL stores the final CRC's bytes in host (little-endian) order.
      const std::uint32_t crc = protocol::crc32c_finish(crc_);
      std::vector<std::uint8_t> out(4);
      for (int i = 0; i < 4; ++i) out[i] = static_cast<std::uint8_t>(crc >> (8 * i));
      return out;
    }
    if (!context_) return {};
    std::vector<std::uint8_t> out(EVP_MAX_MD_SIZE);
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(context_.get(), out.data(), &length) != 1) {
      throw Error(ErrorKind::kInternal, "SHA final failed (OpenSSL)");
    }
    out.resize(length);
    return out;
  }

 private:
  struct ContextFree {
    void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
  };
  ChecksumAlgorithm algorithm_;
  std::uint32_t crc_ = protocol::kCrc32cInit;
  std::unique_ptr<EVP_MD_CTX, ContextFree> context_;
};

struct Expected {
  const protocol::ManifestFile* file = nullptr;
  bool seen = false;
  bool bad = false;  // a problem was reported already; skip its checksum
};

// The major in PG_VERSION ("15\n"); nullopt if unreadable or pre-10 ("9.6").
std::optional<int> server_major_of(const fs::path& root) {
  try {
    const std::string text = read_whole_file(root / "PG_VERSION", 64);
    std::size_t used = 0;
    const int value = std::stoi(text, &used);
    if (used < text.size() && text[used] == '.') return std::nullopt;
    return value;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

class Verifier {
 public:
  Verifier(const BackupVerifyOptions& options, std::vector<std::string>& problems)
      : options_(options), root_(options.directory), problems_(problems) {}

  void run() {
    const fs::path manifest_path = root_ / "backup_manifest";
    if (const auto major = server_major_of(root_);
        !fs::exists(manifest_path) && major && *major < 13) {
      // Not damage: servers before 13 make no manifest.
      throw Error(
          ErrorKind::kUsage, "\"" + root_.string() + "\" has no backup_manifest to verify against",
          "PostgreSQL " + std::to_string(*major) + " makes no backup manifest (13 and later do)");
    }
    const std::string text = read_whole_file(manifest_path, kMaxManifestSize);
    manifest_ = protocol::parse_backup_manifest(text);
    check_manifest_checksum(text);
    for (const auto& file : manifest_.files) expected_[file.path].file = &file;

    walk("", root_);
    for (auto& [path, entry] : expected_) {
      if (!entry.seen && !is_ignored(path)) {
        problem(quoted(path) + " is present in the manifest but not on disk");
      }
    }
    check_system_identifier();
    for (auto& [path, entry] : expected_) {
      if (entry.seen && !entry.bad && entry.file->algorithm != ChecksumAlgorithm::kNone) {
        check_checksum(path, *entry.file);
      }
    }
    if (options_.parse_wal) {
      for (const auto& range : manifest_.wal_ranges) check_wal_range(range);
    }
  }

 private:
  void problem(std::string message) { problems_.push_back(std::move(message)); }

  static bool is_ignored(const std::string& path) {
    for (const auto& ignored : backup_verify_ignored_paths()) {
      if (path == ignored || (path.size() > ignored.size() && path.starts_with(ignored) &&
                              path[ignored.size()] == '/')) {
        return true;
      }
    }
    return false;
  }

  void check_manifest_checksum(const std::string& text) {
    const std::size_t covered = protocol::manifest_checksum_range(text);
    FileHasher hasher(ChecksumAlgorithm::kSha256);
    hasher.update(text.data(), covered);
    const std::vector<std::uint8_t> actual = hasher.finish();
    if (actual != manifest_.manifest_checksum) {
      problem("manifest checksum mismatch: backup_manifest says " +
              protocol::to_hex(manifest_.manifest_checksum) + ", its content hashes to " +
              protocol::to_hex(actual));
    }
  }

  // Recursion like pg_verifybackup's: stat() follows symlinks, so
  // tablespaces under pg_tblspc are checked through their links.
  void walk(const std::string& relative_dir, const fs::path& dir) {
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) {
      problem("could not open directory " + quoted(relative_dir.empty() ? "." : relative_dir) +
              ": " + ec.message());
      return;
    }
    std::vector<std::string> names;
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      if (ec) break;
      names.push_back(it->path().filename().string());
    }
    if (ec) {
      problem("could not read directory " + quoted(relative_dir) + ": " + ec.message());
    }
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      const std::string relative = relative_dir.empty() ? name : relative_dir + "/" + name;
      if (is_ignored(relative)) continue;
      const fs::path path = dir / name;
      struct stat st {};
      if (::stat(path.c_str(), &st) != 0) {
        problem("could not stat file or directory " + quoted(relative) + ": " + errno_text(errno));
        continue;
      }
      if (S_ISDIR(st.st_mode)) {
        walk(relative, path);
        continue;
      }
      if (!S_ISREG(st.st_mode)) {
        problem(quoted(relative) + " is not a file or directory");
        continue;
      }
      auto found = expected_.find(relative);
      if (found == expected_.end()) {
        problem(quoted(relative) + " is present on disk but not in the manifest");
        continue;
      }
      Expected& entry = found->second;
      entry.seen = true;
      if (static_cast<std::uint64_t>(st.st_size) != entry.file->size) {
        problem(quoted(relative) + " has size " + std::to_string(st.st_size) +
                " on disk but size " + std::to_string(entry.file->size) + " in the manifest");
        entry.bad = true;
      }
    }
  }

  void check_checksum(const std::string& relative, const protocol::ManifestFile& file) {
    const fs::path path = root_ / relative;
    const int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (raw < 0) {
      problem("could not open file " + quoted(relative) + ": " + errno_text(errno));
      return;
    }
    UniqueFd fd(raw);
    FileHasher hasher(file.algorithm);
    std::vector<char> buffer(kReadChunk);
    std::uint64_t total = 0;
    for (;;) {
      const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        problem("could not read file " + quoted(relative) + ": " + errno_text(errno));
        return;
      }
      if (n == 0) break;
      hasher.update(buffer.data(), static_cast<std::size_t>(n));
      total += static_cast<std::uint64_t>(n);
    }
    if (total != file.size) {
      problem("file " + quoted(relative) + " should contain " + std::to_string(file.size) +
              " bytes, but read " + std::to_string(total) + " bytes");
      return;
    }
    if (hasher.finish() != file.checksum) {
      problem("checksum mismatch for file " + quoted(relative) + " (" +
              std::string(protocol::checksum_algorithm_name(file.algorithm)) + ")");
    }
  }

  // The first 8 bytes of pg_control are the system identifier, in host order.
  std::optional<std::uint64_t> control_system_id() {
    const fs::path path = root_ / "global" / "pg_control";
    const int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (raw < 0) return std::nullopt;
    UniqueFd fd(raw);
    std::uint64_t id = 0;
    if (::pread(fd.get(), &id, sizeof id, 0) != static_cast<ssize_t>(sizeof id)) {
      return std::nullopt;
    }
    return id;
  }

  void check_system_identifier() {
    control_system_id_ = control_system_id();
    if (!manifest_.system_id) return;
    if (!control_system_id_) {
      problem("could not read the system identifier from \"global/pg_control\"");
    } else if (*control_system_id_ != *manifest_.system_id) {
      problem("\"global/pg_control\": manifest system identifier is " +
              std::to_string(*manifest_.system_id) + ", but control file has " +
              std::to_string(*control_system_id_));
    }
  }

  // The WAL segment size, from the first WAL segment's long page header.
  std::optional<std::uint64_t> wal_segment_size() {
    if (segment_size_checked_) return segment_size_;
    segment_size_checked_ = true;
    std::error_code ec;
    std::vector<std::string> names;
    for (fs::directory_iterator it(root_ / "pg_wal", ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (protocol::parse_wal_segment_file_name(name, protocol::kAnySegmentSize) &&
          it->is_regular_file(ec)) {
        names.push_back(name);
      }
    }
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      std::byte header[protocol::kWalLongPageHeaderSize];
      const int raw = ::open((root_ / "pg_wal" / name).c_str(), O_RDONLY | O_CLOEXEC);
      if (raw < 0) continue;
      UniqueFd fd(raw);
      if (::pread(fd.get(), header, sizeof header, 0) != static_cast<ssize_t>(sizeof header)) {
        continue;
      }
      const auto parsed = protocol::parse_long_page_header(ByteView(header, sizeof header));
      if (parsed && protocol::is_valid_wal_segment_size(parsed->segment_size)) {
        segment_size_ = parsed->segment_size;
        break;
      }
    }
    return segment_size_;
  }

  std::optional<std::uint16_t> wal_page_magic() {
    std::optional<int> major = options_.server_major;
    if (!major) major = server_major_of(root_);
    if (!major) return std::nullopt;
    return protocol::xlog_page_magic_for_major(*major);
  }

  void check_wal_range(const protocol::ManifestWalRange& range) {
    const std::string what = "timeline " + std::to_string(range.timeline) + " from " +
                             protocol::to_string(range.start) + " to " +
                             protocol::to_string(range.end);
    const auto magic = wal_page_magic();
    if (!magic) {
      problem("cannot parse the WAL for " + what +
              ": unknown server version (PG_VERSION unreadable or not 11 to 18; give "
              "--server-major)");
      return;
    }
    const auto segment_size = wal_segment_size();
    if (!segment_size) {
      problem("WAL for " + what + " is missing: pg_wal holds no valid WAL segment");
      return;
    }
    const auto first = protocol::segment_number(range.start, *segment_size);
    const auto last = range.end > range.start
                          ? protocol::segment_number(Lsn{range.end.value - 1}, *segment_size)
                          : first;

    // Every needed segment must be there, complete and named plainly.
    std::optional<protocol::SegmentNo> first_missing;
    for (auto segno = first; segno <= last; ++segno) {
      const std::string name =
          protocol::wal_segment_file_name(range.timeline, segno, *segment_size);
      const fs::path path = root_ / "pg_wal" / name;
      struct stat st {};
      std::string trouble;
      if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
        std::error_code ec;
        const std::string partial = protocol::wal_file_name(
            {protocol::WalFileKind::kPartialSegment, range.timeline, segno}, *segment_size);
        trouble = fs::exists(root_ / "pg_wal" / partial, ec)
                      ? "is only present as \"pg_wal/" + partial + "\""
                      : "is missing";
      } else if (static_cast<std::uint64_t>(st.st_size) != *segment_size) {
        trouble = "has " + std::to_string(st.st_size) + " bytes, expected " +
                  std::to_string(*segment_size);
      }
      if (!trouble.empty()) {
        problem("WAL segment \"pg_wal/" + name + "\" " + trouble + " (needed for " + what + ")");
        if (!first_missing) first_missing = segno;
      }
    }

    protocol::WalReaderOptions reader_options;
    reader_options.page_magic = *magic;
    reader_options.segment_size = *segment_size;
    reader_options.start = Lsn{range.start.value - range.start.value % protocol::kWalPageSize};
    reader_options.stop_at = range.end;
    reader_options.system_id = manifest_.system_id ? manifest_.system_id : control_system_id_;
    protocol::WalReader reader(reader_options);
    auto file_of = [&](Lsn lsn) {
      return "pg_wal/" +
             protocol::wal_segment_file_name(
                 range.timeline, protocol::segment_number(lsn, *segment_size), *segment_size);
    };
    for (auto segno = first; segno <= last && reader.state() == WalReaderState::kReading; ++segno) {
      if (first_missing && segno >= *first_missing) return;  // reported above
      const std::uint64_t offset = segno == first ? reader_options.start.value % *segment_size : 0;
      try {
        feed_wal_file(reader, root_ / file_of(protocol::segment_start_lsn(segno, *segment_size)),
                      false, offset);
      } catch (const Error& e) {
        problem(e.what());
        return;
      }
    }
    switch (reader.state()) {
      case WalReaderState::kReachedStop:
        return;
      case WalReaderState::kCorrupt: {
        const auto& bad = *reader.problem();
        problem("invalid WAL record at " + protocol::to_string(bad.lsn) + " in \"" +
                file_of(bad.lsn) + "\": " + bad.reason + " (" + what + ")");
        return;
      }
      case WalReaderState::kEndOfWal:
      case WalReaderState::kReading:
        if (reader.state() == WalReaderState::kReading && reader.fed_up_to() >= range.end) return;
        problem("WAL ends at " + protocol::to_string(reader.end_of_valid_wal()) + " in \"" +
                file_of(reader.end_of_valid_wal()) + "\", before the end of " + what);
        return;
    }
  }

  const BackupVerifyOptions& options_;
  fs::path root_;
  std::vector<std::string>& problems_;
  protocol::BackupManifest manifest_;
  std::map<std::string, Expected> expected_;
  std::optional<std::uint64_t> control_system_id_;
  bool segment_size_checked_ = false;
  std::optional<std::uint64_t> segment_size_;
};

}  // namespace

const std::vector<std::string>& backup_verify_ignored_paths() {
  static const std::vector<std::string> kIgnored = {
      "backup_manifest", "pg_wal",         "postgresql.auto.conf",
      "recovery.signal", "standby.signal", "recovery.conf",
  };
  return kIgnored;
}

std::vector<std::string> verify_backup(const BackupVerifyOptions& options) {
  std::vector<std::string> problems;
  Verifier(options, problems).run();
  return problems;
}

}  // namespace walstream::storage
