#include "storage/data_dir_extractor.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "protocol/backup_archives.h"
#include "protocol/error.h"
#include "protocol/quote_untrusted.h"

namespace walstream::storage {

namespace {

namespace fs = std::filesystem;

// "a/b/" and "a/./b" -> "a/b"; "" and "a/.." -> ".".
fs::path normalize_member_path(std::string_view member_path) {
  while (!member_path.empty() && member_path.back() == '/') member_path.remove_suffix(1);
  fs::path normal = fs::path(member_path).lexically_normal();
  if (normal.empty()) return ".";
  std::string text = normal.string();
  while (text.size() > 1 && text.back() == '/') text.pop_back();
  return text;
}

bool is_below(const fs::path& path, const fs::path& ancestor) {
  auto p = path.begin();
  for (auto a = ancestor.begin(); a != ancestor.end(); ++a, ++p) {
    if (p == path.end() || *p != *a) return false;
  }
  return true;
}

bool is_existing_directory(const fs::path& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// mkdir with exactly `mode` (the umask may have masked bits); an existing
// directory is accepted as it is. Returns false if the parent is missing.
bool make_directory(const fs::path& path, mode_t mode, bool chmod_existing) {
  if (::mkdir(path.c_str(), mode) != 0) {
    const int mkdir_error = errno;
    if (mkdir_error == ENOENT) return false;
    // pg_wal and pg_wal/archive_status may already exist: WAL streaming runs
    // concurrently and creates them.
    if (mkdir_error != EEXIST || !is_existing_directory(path)) {
      throw_io_error("create directory", path, mkdir_error);
    }
    if (!chmod_existing) return true;
  }
  if (::chmod(path.c_str(), mode) != 0) throw_io_error("set permissions on directory", path, errno);
  return true;
}

// The server sends parents before their children, so this only runs for
// archives that leave directories out.
void make_parents(const fs::path& root, const fs::path& relative, mode_t mode) {
  fs::path dir = root;
  fs::path parent = relative.parent_path();
  for (const fs::path& component : parent) {
    dir /= component;
    if (!make_directory(dir, mode, /*chmod_existing=*/false)) {
      throw_io_error("create directory", dir, ENOENT);
    }
  }
}

}  // namespace

DataDirModes DataDirModes::from_data_directory_mode(mode_t data_directory_mode) {
  if ((data_directory_mode & 0070) != 0) return {0750, 0640};
  return {0700, 0600};
}

DataDirExtractor::DataDirExtractor(std::filesystem::path root, DataDirModes modes,
                                   TablespaceLinks links, FileWritePool* pool)
    : root_(std::move(root)), modes_(modes), links_(std::move(links)), pool_(pool) {}

void DataDirExtractor::member_begin(const protocol::TarMember& member) {
  if (current_file_ || current_stream_) {
    throw Error(ErrorKind::kInternal, "tar member \"" + member.path + "\" began inside another");
  }
  // The tar parser checks this too; re-checked because this is what keeps
  // writes inside root_.
  if (!protocol::is_safe_relative_path(member.path)) {
    throw ProtocolError("tar member has unsafe path name " +
                        protocol::quote_untrusted(member.path));
  }
  fs::path relative = normalize_member_path(member.path);
  for (const fs::path& link : created_links_) {
    if (is_below(relative, link)) {
      throw ProtocolError("tar member " + protocol::quote_untrusted(member.path) +
                          " is at or below symbolic link \"" + link.string() + "\"");
    }
  }
  fs::path path = relative == "." ? root_ : root_ / relative;

  switch (member.type) {
    case protocol::TarMemberType::kDirectory:
      // Mode from data_directory_mode, not from the header: that is what the
      // server will insist on when it starts on this directory.
      if (!make_directory(path, modes_.directory, /*chmod_existing=*/true)) {
        make_parents(root_, relative, modes_.directory);
        make_directory(path, modes_.directory, /*chmod_existing=*/true);
      }
      known_directories_.insert(relative == "." ? std::string() : relative.string());
      break;

    case protocol::TarMemberType::kFile: {
      if (pool_) {
        // The pool creates the file on a writer thread; its directory must
        // be there by then.
        const fs::path parent = relative.parent_path();
        if (!known_directories_.contains(parent.string())) {
          make_parents(root_, relative, modes_.directory);
          known_directories_.insert(parent.string());
        }
        current_path_ = std::move(path);
        current_stream_ = pool_->create(current_path_, modes_.file);
        break;
      }
      constexpr int kFlags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
      int fd = ::open(path.c_str(), kFlags, modes_.file);
      if (fd < 0 && errno == ENOENT) {
        make_parents(root_, relative, modes_.directory);
        fd = ::open(path.c_str(), kFlags, modes_.file);
      }
      if (fd < 0) throw_io_error("create file", path, errno);
      current_file_ = UniqueFd(fd);
      current_path_ = std::move(path);
      if (::fchmod(current_file_.get(), modes_.file) != 0) {
        throw_io_error("set permissions on file", current_path_, errno);
      }
      break;
    }

    case protocol::TarMemberType::kSymlink: {
      // Only a tablespace link, to where the tablespace list said that
      // tablespace is: any other link would let later writes (of this
      // archive, of WAL, of the standby configuration) follow it.
      const auto oid = protocol::tablespace_link_oid(relative.string());
      const auto listed = oid ? links_.locations.find(*oid) : links_.locations.end();
      if (listed == links_.locations.end()) {
        throw Error(ErrorKind::kProtocol,
                    "tar member " + protocol::quote_untrusted(member.path) +
                        " is a symbolic link, and only pg_tblspc/<oid> of a listed tablespace "
                        "may be one",
                    "a link in the primary's data directory other than a tablespace's cannot be "
                    "cloned; replace it by a directory on the primary");
      }
      if (member.link_target != listed->second) {
        throw ProtocolError("tablespace link " + protocol::quote_untrusted(member.path) +
                            " points to " + protocol::quote_untrusted(member.link_target) +
                            ", but the tablespace list names " +
                            protocol::quote_untrusted(listed->second));
      }
      const std::string target = links_.map ? links_.map(listed->second) : listed->second;
      if (::symlink(target.c_str(), path.c_str()) != 0) {
        if (errno != ENOENT) throw_io_error("create symbolic link", path, errno);
        make_parents(root_, relative, modes_.directory);
        if (::symlink(target.c_str(), path.c_str()) != 0) {
          throw_io_error("create symbolic link", path, errno);
        }
      }
      created_links_.push_back(std::move(relative));
      break;
    }
  }
}

void DataDirExtractor::member_data(ByteView data) {
  if (current_stream_) {
    current_stream_.append(data);
  } else if (current_file_) {
    write_all(current_file_.get(), data, current_path_);
  } else {
    throw Error(ErrorKind::kInternal, "tar data outside a file member");
  }
  bytes_written_ += data.size();
}

void DataDirExtractor::member_end() {
  if (current_stream_) current_stream_.close();
  if (current_file_) current_file_.close(current_path_);
}

void DataDirExtractor::archive_end() { member_end(); }

}  // namespace walstream::storage
