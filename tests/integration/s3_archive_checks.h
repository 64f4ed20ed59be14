// What the S3 archive tests check again and again: the bucket's contents as
// walstream's own scan sees them, the spool's leftovers, and a backup
// recovered from the bucket with `walstream restore-wal`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/s3_location.h"
#include "storage/s3_archive_scan.h"
#include "tests/integration/rgw_server.h"
#include "tests/integration/test_env.h"

namespace walstream::it {

// The gateway's AWS_* variables and the replication password: what a
// `walstream receive --archive s3://` child needs.
EnvOverrides s3_receive_env(const RgwServer& gateway);

// PREFIX of `location` as `receive` and `verify` see it (1 MB segments).
storage::S3ArchiveScan scan_bucket(const RgwServer& gateway, const protocol::S3Location& location);

// The bucket holds segment `segno` of timeline 1 and no segment before it
// is missing.
bool bucket_holds_through(const RgwServer& gateway, const protocol::S3Location& location,
                          std::uint64_t segno);

// Complete segments (plain or .zst) left in a spool: none once uploaded.
std::vector<std::string> completed_in_spool(const std::filesystem::path& spool);

// Starts the backup in PgCluster::clone_data_dir(clone_name) as a server that
// recovers from `url` with `walstream restore-wal` (recovery.signal, no
// primary_conninfo) and promotes at the archive's end; asserts that it comes
// out of recovery within two minutes. Null after a failed assertion.
std::unique_ptr<PgCluster> recover_from_bucket(std::string_view clone_name, const std::string& url,
                                               const RgwServer& gateway);

// Commits row (1, 'last committed row') into the table `marker` as the
// primary's last commit and switches WAL; returns the segment number (on
// timeline 1) of that commit.
std::uint64_t commit_marker_row(PgCluster& primary);

// Lines of a server log that say a WAL file came from restore_command.
int restored_files(const std::string& log);

}  // namespace walstream::it
