#include "walreceiver/receive_metrics.h"

#include "protocol/prometheus_text.h"

namespace walstream::walreceiver {

namespace {

protocol::PrometheusHistogram histogram_data(const Histogram& histogram) {
  return {histogram.upper_bounds(), histogram.counts(), histogram.sum()};
}

}  // namespace

std::string render_receive_metrics(const ReceiveStats& stats, const ReceiveMetricsInfo& info,
                                   std::chrono::system_clock::time_point now) {
  protocol::PrometheusText text;
  text.gauge("walstream_receive_info", "Facts about this receiver, as labels.",
             {{"directory", info.directory}, {"slot", info.slot}}, 1);
  text.gauge("walstream_receive_streaming",
             "1 while WAL is being streamed, 0 while connecting or reconnecting.",
             stats.streaming() ? 1 : 0);
  text.counter("walstream_receive_received_bytes_total",
               "WAL bytes received from the server (again after a reconnect).",
               stats.received_bytes());
  text.counter("walstream_receive_flushed_bytes_total",
               "WAL bytes made durable in the archive (fdatasync), each byte once.",
               stats.flushed_bytes());
  text.gauge("walstream_receive_received_lsn", "End of the last WAL received, as a number.",
             stats.received_lsn() ? stats.received_lsn()->value : 0);
  text.gauge("walstream_receive_flushed_lsn", "End of the WAL made durable, as a number.",
             stats.flushed() ? stats.flushed()->lsn.value : 0);
  text.gauge("walstream_receive_server_wal_end_lsn",
             "The server's end of WAL as its newest message said, as a number.",
             stats.server_wal_end() ? stats.server_wal_end()->value : 0);
  text.gauge("walstream_receive_lag_bytes",
             "How far the durable WAL is behind the server's end of WAL, in bytes.",
             stats.lag_bytes());
  text.gauge("walstream_receive_lag_seconds",
             "0 when everything the server had is durable; else how long ago the server sent its "
             "newest message whose WAL end is durable here.",
             stats.lag_seconds(now));
  text.histogram("walstream_receive_fdatasync_seconds",
                 "Time taken by each fdatasync of a WAL segment file.",
                 histogram_data(stats.fdatasync_seconds()));
  text.histogram("walstream_receive_write_batch_bytes",
                 "Bytes per write handed to the storage (consecutive messages coalesced).",
                 histogram_data(stats.write_batch_bytes()));
  text.counter("walstream_receive_reconnects_total",
               "Connections lost and retried since the start.", stats.reconnects());
  text.gauge("walstream_receive_timeline", "The timeline being streamed (0 before the first).",
             stats.timeline());
  text.counter("walstream_receive_segments_completed_total",
               "WAL segments completed (synced, checked, renamed from .partial).",
               stats.segments_completed());
  text.counter("walstream_receive_segments_compressed_total", "WAL segments compressed with zstd.",
               stats.segments_compressed());
  text.counter("walstream_receive_files_uploaded_total",
               "Archive files confirmed in the S3 bucket (--archive s3://).",
               stats.files_uploaded());
  text.gauge("walstream_receive_spool_files",
             "Completed archive files in the spool waiting for their upload (--archive s3://).",
             stats.spool_waiting());
  text.gauge("walstream_receive_spool_full",
             "1 while the spool is full (--max-spool-size) and no WAL is read from the server.",
             stats.spool_full() ? 1 : 0);
  text.counter("walstream_receive_spool_full_total",
               "Times the spool filled up and reading from the server paused.",
               stats.spool_full_times());
  text.counter("walstream_receive_upload_retries_total",
               "Uploads that failed on an unreachable or overloaded bucket and were tried again.",
               stats.upload_retries());
  double last_error = 0;
  if (stats.last_error()) {
    last_error = std::chrono::duration<double>(stats.last_error()->time_since_epoch()).count();
  }
  text.gauge("walstream_receive_last_error_timestamp_seconds",
             "Unix time of the last lost connection or error; 0 when there was none.", last_error);
  return text.text();
}

}  // namespace walstream::walreceiver
