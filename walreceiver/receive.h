// `walstream receive`: a durable, gap-free WAL archive kept by streaming, in
// pg_receivewal's layout. Continues after what the directory holds, follows
// timeline switches, reconnects with backoff, and can serve as a synchronous
// standby (flush reported as soon as each batch is durable). With an S3
// archive the directory is a spool: complete files are uploaded, confirmed
// and removed, and the bucket and the spool are resumed from as one archive.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "protocol/lsn.h"
#include "protocol/s3_location.h"
#include "storage/s3_client.h"
#include "storage/s3_credentials.h"
#include "walreceiver/connection_options.h"
#include "walreceiver/listen_address.h"
#include "walreceiver/receive_stats.h"

namespace walstream::walreceiver {

// --archive s3://BUCKET/PREFIX: the directory becomes a spool whose complete
// files are uploaded to the bucket and then removed from it.
struct S3ArchiveTarget {
  protocol::S3Location location;
  storage::S3ClientOptions client;
  storage::S3Credentials credentials;
  int parallelism = 3;  // uploads at a time
  // --max-spool-size: completed files waiting for upload, in bytes counted
  // as whole segments; at the bound reading from the server pauses.
  std::uint64_t max_spool_bytes = std::uint64_t{1} << 30;
};

struct ReceiveOptions {
  ConnectionOptions connection;
  std::filesystem::path directory;
  std::optional<std::string> slot;
  bool create_slot = false;  // create -S (fine if it exists) and exit
  bool drop_slot = false;    // drop -S and exit
  std::optional<protocol::Lsn> endpos;
  bool no_loop = false;
  std::chrono::milliseconds status_interval{10'000};
  bool synchronous = false;
  // New segments are written with O_DIRECT (false with --no-direct-io:
  // through the page cache).
  bool direct_io = true;
  std::optional<int> zstd_level;
  std::optional<S3ArchiveTarget> s3_archive;
  // --ack=remote (with s3_archive): the flush reported to the slot advances
  // only past WAL confirmed in the bucket; otherwise once durable here.
  bool remote_ack = false;
  std::uint64_t fsync_batch_bytes = 8 * 1024 * 1024;
  std::chrono::milliseconds fsync_batch_window{200};
  std::chrono::milliseconds max_reconnect_delay{30'000};
  // Serve Prometheus metrics (GET /metrics) here while receiving
  // (--metrics-listen); bound before the first connection.
  std::optional<ListenAddress> metrics_listen;
  // For a live status line: called on the io thread right away and then
  // about once a second while receiving, and once more with `finished` when
  // the run ends (not when it fails).
  std::function<void(const ReceiveStats& stats, bool finished)> on_status;
};

// Runs until endpos, SIGINT/SIGTERM (exit status 0) or a fatal error (throws
// walstream::Error). Returns the exit status.
int run_receive(const ReceiveOptions& options);

}  // namespace walstream::walreceiver
