// An S3 client for the WAL archive: single-request PUT (never overwriting),
// HEAD, streaming GET, ListObjectsV2 and DELETE, over libcurl, which also
// signs every request (SigV4, CURLOPT_AWS_SIGV4). One client holds one
// connection (kept alive between requests) and is used by one thread.
//
// Failures are walstream::Error: kConnection when the server cannot be
// reached or a request times out, kServer when it answers with an error (the
// message carries S3's <Code> and <Message>, the hint the likely fix), kUsage
// for options that cannot work. No message ever holds the secret key or the
// session token. Idempotent requests, and conditional PUTs, which cannot
// overwrite, are retried on connection failures, timeouts, 5xx and 429
// (options.retry says how often and how long to wait).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "protocol/bytes.h"
#include "protocol/error.h"
#include "storage/s3_checksums.h"
#include "storage/s3_credentials.h"
#include "storage/s3_xml.h"

namespace walstream::storage {

using namespace std::chrono_literals;

struct S3RetryPolicy {
  // Attempts per request, the first included; 1 turns retries off.
  int max_attempts = 6;
  // Waits between attempts double from `initial_backoff` up to
  // `max_backoff`; each wait is drawn uniformly from [wait/2, wait].
  std::chrono::milliseconds initial_backoff = 200ms;
  std::chrono::milliseconds max_backoff = 10s;
};

struct S3ClientOptions {
  // scheme://host[:port] of the server (AWS_ENDPOINT_URL_S3 or
  // AWS_ENDPOINT_URL); empty: AWS itself, https://s3.REGION.amazonaws.com.
  std::string endpoint;
  // Signing region (AWS_REGION, else AWS_DEFAULT_REGION).
  std::string region = "us-east-1";
  // http://host/BUCKET/KEY rather than http://BUCKET.host/KEY. Most servers
  // other than AWS need it; AWS takes both for the buckets we can name.
  bool path_style = true;
  // Connecting (TCP and TLS) must take less than this.
  std::chrono::milliseconds connect_timeout = 10s;
  // A request fails when no byte moves in either direction for this long
  // (a server with a full disk can hold a PUT forever). Whole seconds.
  std::chrono::seconds stall_timeout = 60s;
  // Whole requests of small answers (HEAD, LIST, DELETE) take at most this.
  std::chrono::milliseconds small_request_timeout = 60s;
  // Keys per ListObjectsV2 page (1 to 1000).
  int list_page_size = 1000;
  S3RetryPolicy retry;
};

// Options from AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, AWS_REGION /
// AWS_DEFAULT_REGION and AWS_S3_ADDRESSING_STYLE ("path" or "virtual";
// default path with an endpoint, virtual without).
S3ClientOptions s3_client_options_from_environment(
    const EnvironmentLookup& environment = process_environment);

// A request that failed for a reason that may pass (the server unreachable
// or too slow, 5xx, 429) on its last attempt: trying again later is safe
// (no request of this client can overwrite an object).
class S3Unavailable : public Error {
 public:
  using Error::Error;
};

enum class S3PutOutcome {
  kCreated,  // the object is ours
  kExists,   // the key was taken (412 to If-None-Match: *): nothing written
};

struct S3ObjectInfo {
  std::uint64_t size = 0;
  std::string etag;             // quotes included, as the server sent it
  std::string checksum_sha256;  // base64; empty unless the server stores it
  bool etag_may_be_md5 = true;  // false for objects encrypted with KMS or SSE-C

  S3StoredDigest digest() const { return {size, etag, checksum_sha256, etag_may_be_md5}; }
};

// Receives an object's bytes in order, in pieces valid during the call only.
using S3Sink = std::function<void(ByteView)>;

class S3Client {
 public:
  // Throws walstream::Error (kUsage) for an endpoint that is not
  // http(s)://host[:port] (with at most "/" after it) or an empty region.
  S3Client(S3ClientOptions options, S3Credentials credentials);
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  // Uploads `content` as BUCKET/KEY unless the key exists (If-None-Match: *),
  // with its SHA-256 (signed and as x-amz-checksum-sha256) and Content-MD5,
  // so the server refuses damaged bytes. kExists says that the key was taken
  // — by someone else, or by this very upload when an answer was lost and
  // the request retried: compare the stored object (head_object,
  // compare_s3_content) to tell.
  S3PutOutcome put_object(const std::string& bucket, const std::string& key, ByteView content);
  // The same from `length` bytes of the file `fd` at `offset`, read twice
  // (checksums, then the upload: never all in memory). `checksums` are of
  // those bytes when the caller has them already.
  S3PutOutcome put_object(const std::string& bucket, const std::string& key, int fd,
                          std::uint64_t offset, std::uint64_t length,
                          const std::filesystem::path& path_for_errors,
                          std::optional<S3Checksums> checksums = std::nullopt);

  // nullopt when there is no such key.
  std::optional<S3ObjectInfo> head_object(const std::string& bucket, const std::string& key);

  // Streams the object into `sink` as it arrives (memory stays bounded by
  // libcurl's buffer). Returns nullopt when there is no such key, otherwise
  // what HEAD would have said. When the connection breaks mid-object the
  // rest is fetched from where it broke (a Range request conditional on the
  // ETag): `sink` sees every byte once, in order. An exception thrown by
  // `sink` ends the transfer and propagates.
  std::optional<S3ObjectInfo> get_object(const std::string& bucket, const std::string& key,
                                         const S3Sink& sink);

  // The first `length` (> 0) bytes of the object, or all of a shorter one,
  // with one Range request (a segment's first page, without fetching the
  // segment); nullopt when there is no such key. Not checked against the
  // object's digests, which cover the whole object.
  std::optional<std::string> get_object_prefix(const std::string& bucket, const std::string& key,
                                               std::size_t length);

  // Every object whose key starts with `prefix`, in key order (UTF-8 binary
  // order), page after page; only keys after `start_after` when given.
  std::vector<S3ListedObject> list_objects(const std::string& bucket, const std::string& prefix,
                                           const std::string& start_after = {});

  // Deletes BUCKET/KEY; deleting a missing key succeeds, as in S3.
  void delete_object(const std::string& bucket, const std::string& key);

  // From any thread: the request in progress ends within about a second
  // (libcurl's progress callback), and this and every later request throws
  // walstream::Error (kCancelled). A PUT cut short may still have been
  // stored: the caller's next run finds the key taken and compares.
  void cancel();

  const S3ClientOptions& options() const { return options_; }

 private:
  struct Impl;
  S3ClientOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace walstream::storage
