#include "storage/s3_client.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <exception>
#include <map>
#include <random>
#include <thread>
#include <utility>

#include "protocol/error.h"
#include "protocol/quote_untrusted.h"
#include "protocol/s3_location.h"
#include "storage/file_util.h"

namespace walstream::storage {
namespace {

// SHA-256 of no bytes: the x-amz-content-sha256 of requests without a body.
constexpr const char* kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
// Error bodies are a few hundred bytes, list pages up to ~300 kB (1000 keys).
constexpr std::size_t kMaxErrorBody = 64 * 1024;
constexpr std::size_t kMaxListBody = 16 * 1024 * 1024;
constexpr long kHttpPreconditionFailed = 412;
constexpr long kHttpNotFound = 404;
constexpr long kHttpTooManyRequests = 429;
constexpr long kHttpPartialContent = 206;
constexpr long kHttpRangeNotSatisfiable = 416;

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

std::optional<std::uint64_t> parse_unsigned(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

void global_init() {
  // Once per process (a static's initialization is); the failure is thrown
  // outside it, so no caller waits on an initialization that threw.
  static const CURLcode initialized = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (initialized != CURLE_OK) throw Error(ErrorKind::kInternal, "could not initialize libcurl");
}

// scheme://host[:port] from the user's endpoint, checked by libcurl's URL
// parser. The text is not quoted back when it carries user information: that
// part may be a password.
struct Endpoint {
  std::string scheme;
  std::string host;  // "[::1]" for IPv6
  std::string port;  // empty: the scheme's
};

Endpoint parse_endpoint(const std::string& text, const std::string& region) {
  if (text.empty()) return Endpoint{"https", "s3." + region + ".amazonaws.com", ""};
  const auto invalid = [&](const std::string& why, bool quote = true) {
    return Error(
        ErrorKind::kUsage,
        "invalid S3 endpoint" + (quote ? " " + protocol::quote_untrusted(text) : "") + ": " + why,
        "set AWS_ENDPOINT_URL to http(s)://HOST[:PORT], e.g. http://127.0.0.1:9000");
  };
  struct UrlFree {
    void operator()(CURLU* url) const { curl_url_cleanup(url); }
  };
  std::unique_ptr<CURLU, UrlFree> url(curl_url());
  if (!url) throw Error(ErrorKind::kInternal, "out of memory parsing a URL");
  if (curl_url_set(url.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) {
    throw invalid("not a URL", text.find('@') == std::string::npos);
  }
  const auto part = [&](CURLUPart which) -> std::optional<std::string> {
    char* value = nullptr;
    if (curl_url_get(url.get(), which, &value, 0) != CURLUE_OK || value == nullptr) {
      return std::nullopt;
    }
    std::string out(value);
    curl_free(value);
    return out;
  };
  if (part(CURLUPART_USER) || part(CURLUPART_PASSWORD)) {
    throw invalid("it holds user information (credentials come from the environment)", false);
  }
  Endpoint endpoint;
  endpoint.scheme = lower(part(CURLUPART_SCHEME).value_or(""));
  if (endpoint.scheme != "http" && endpoint.scheme != "https") {
    throw invalid("the scheme must be http or https");
  }
  endpoint.host = part(CURLUPART_HOST).value_or("");
  if (endpoint.host.empty()) throw invalid("no host");
  endpoint.port = part(CURLUPART_PORT).value_or("");
  const std::string path = part(CURLUPART_PATH).value_or("/");
  if ((path != "/" && !path.empty()) || part(CURLUPART_QUERY) || part(CURLUPART_FRAGMENT)) {
    throw invalid("an endpoint has no path, query or fragment");
  }
  return endpoint;
}

// How an attempt failed, and whether another attempt may succeed.
struct Failure {
  Error error;
  bool retryable;
};

bool is_retryable_status(long status) { return status >= 500 || status == kHttpTooManyRequests; }

bool is_transient_curl_error(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

struct CurlFree {
  void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};

struct SlistFree {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using HeaderList = std::unique_ptr<curl_slist, SlistFree>;

// Where a PUT's body comes from: memory or a file.
struct UploadSource {
  ByteView memory;
  int fd = -1;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::filesystem::path path;
};

struct Response {
  long status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;

  std::string header(const std::string& name) const {
    const auto found = headers.find(name);
    return found == headers.end() ? std::string() : found->second;
  }
};

struct Request {
  std::string method;  // GET, HEAD, PUT, DELETE
  std::string bucket;
  std::string key;
  // Sorted by name and percent-encoded, without '?' (curl 7.88 signs the
  // query as written).
  std::string query;
  std::vector<std::string> headers;
  const UploadSource* upload = nullptr;
  // Streams a 2xx body here (with the response's status and headers)
  // instead of keeping it.
  const std::function<void(const Response&, ByteView)>* sink = nullptr;
  std::size_t max_body = kMaxErrorBody;
  bool small = true;  // bounded by small_request_timeout
};

// An S3 error code as it goes into a message: bare when it looks like one
// ("NoSuchKey"), quoted otherwise (it comes from the server).
std::string code_text(const std::string& code) {
  const bool plain = code.size() <= 64 && std::all_of(code.begin(), code.end(), [](char c) {
                       return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
                     });
  return plain ? code : protocol::quote_untrusted(code);
}

S3ObjectInfo object_info(const Response& response, std::uint64_t size) {
  S3ObjectInfo info;
  info.size = size;
  info.etag = response.header("etag");
  info.checksum_sha256 = response.header("x-amz-checksum-sha256");
  const std::string encryption = response.header("x-amz-server-side-encryption");
  info.etag_may_be_md5 = (encryption.empty() || encryption == "AES256") &&
                         response.header("x-amz-server-side-encryption-customer-algorithm").empty();
  return info;
}

}  // namespace

S3ClientOptions s3_client_options_from_environment(const EnvironmentLookup& environment) {
  const auto variable = [&](const char* name) -> std::optional<std::string> {
    auto value = environment(name);
    if (value && value->empty()) value.reset();
    return value;
  };
  S3ClientOptions options;
  options.endpoint =
      variable("AWS_ENDPOINT_URL_S3").value_or(variable("AWS_ENDPOINT_URL").value_or(""));
  options.region =
      variable("AWS_REGION").value_or(variable("AWS_DEFAULT_REGION").value_or(options.region));
  options.path_style = !options.endpoint.empty();
  if (const auto style = variable("AWS_S3_ADDRESSING_STYLE")) {
    if (*style == "path") {
      options.path_style = true;
    } else if (*style == "virtual") {
      options.path_style = false;
    } else if (*style != "auto") {
      throw Error(ErrorKind::kUsage,
                  "invalid AWS_S3_ADDRESSING_STYLE " + protocol::quote_untrusted(*style),
                  "use path, virtual or auto");
    }
  }
  return options;
}

struct S3Client::Impl {
  Impl(const S3ClientOptions& given_options, S3Credentials given_credentials)
      : options(given_options),
        credentials(std::move(given_credentials)),
        random(std::random_device{}()) {
    if (options.region.empty()) {
      throw Error(ErrorKind::kUsage, "no S3 region", "set AWS_REGION (any name for most servers)");
    }
    if (options.list_page_size < 1 || options.list_page_size > 1000) {
      throw Error(ErrorKind::kUsage, "S3 list page size must be 1 to 1000");
    }
    if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
      throw Error(ErrorKind::kUsage, "no S3 credentials",
                  "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
    }
    endpoint = parse_endpoint(options.endpoint, options.region);
    signing = "aws:amz:" + options.region + ":s3";
    global_init();
    handle.reset(curl_easy_init());
    if (!handle) throw Error(ErrorKind::kInternal, "could not create a libcurl handle");
  }

  std::string url(const Request& request) const {
    const std::string port = endpoint.port.empty() ? "" : ":" + endpoint.port;
    const std::string path = protocol::s3_uri_encode(request.key, true);
    std::string out = options.path_style ? endpoint.scheme + "://" + endpoint.host + port + "/" +
                                               request.bucket + (path.empty() ? "" : "/" + path)
                                         : endpoint.scheme + "://" + request.bucket + "." +
                                               endpoint.host + port + "/" + path;
    if (!request.query.empty()) out += "?" + request.query;
    return out;
  }

  // "PUT s3://bucket/key": what a message says the request was.
  static std::string describe(const Request& request) {
    return "S3 " + request.method + " s3://" + request.bucket + "/" + request.key;
  }

  // Runs `request` with retries; returns the final response (any status
  // that is not retried) or throws.
  Response run(const Request& request,
               const std::function<void(Request&, int)>& before_attempt = {}) {
    std::chrono::milliseconds wait = options.retry.initial_backoff;
    for (int attempt = 1;; ++attempt) {
      throw_if_cancelled(request);
      Request current = request;
      if (before_attempt) before_attempt(current, attempt);
      std::optional<Failure> failure;
      Response response = attempt_once(current, failure);
      if (!failure) return response;
      if (!failure->retryable) throw failure->error;
      if (attempt >= options.retry.max_attempts) {
        std::string message = failure->error.what();
        if (attempt > 1) message += " (after " + std::to_string(attempt) + " attempts)";
        throw S3Unavailable(failure->error.kind(), std::move(message), failure->error.hint());
      }
      std::uniform_int_distribution<long long> jitter(wait.count() / 2, wait.count());
      sleep_unless_cancelled(std::chrono::milliseconds(jitter(random)));
      wait = std::min(wait * 2, options.retry.max_backoff);
    }
  }

  struct Transfer {
    Impl* impl;
    const Request* request;
    Response* response;
    std::uint64_t upload_position = 0;
    std::exception_ptr exception;
  };

  static std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
    auto& transfer = *static_cast<Transfer*>(user);
    const std::string_view line(data, size * count);
    try {
      if (line.starts_with("HTTP/")) {
        // A new response (after 100 Continue, say): forget the last one's.
        transfer.response->headers.clear();
      } else if (const auto colon = line.find(':'); colon != std::string_view::npos) {
        transfer.response->headers[lower(trim(line.substr(0, colon)))] =
            std::string(trim(line.substr(colon + 1)));
      }
    } catch (...) {
      transfer.exception = std::current_exception();
      return 0;
    }
    return size * count;
  }

  static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
    auto& transfer = *static_cast<Transfer*>(user);
    const std::size_t length = size * count;
    try {
      long status = 0;
      curl_easy_getinfo(transfer.impl->handle.get(), CURLINFO_RESPONSE_CODE, &status);
      transfer.response->status = status;
      if (status >= 200 && status < 300 && transfer.request->sink != nullptr) {
        (*transfer.request->sink)(*transfer.response,
                                  ByteView(reinterpret_cast<const std::byte*>(data), length));
      } else {
        std::string& body = transfer.response->body;
        // Past the cap the rest is dropped (an error body stays readable).
        const std::size_t room =
            transfer.request->max_body - std::min(body.size(), transfer.request->max_body);
        body.append(data, std::min(length, room));
      }
    } catch (...) {
      transfer.exception = std::current_exception();
      return 0;  // CURLE_WRITE_ERROR
    }
    return length;
  }

  static std::size_t on_read(char* buffer, std::size_t size, std::size_t count, void* user) {
    auto& transfer = *static_cast<Transfer*>(user);
    const UploadSource& source = *transfer.request->upload;
    const std::uint64_t left = source.length - transfer.upload_position;
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(size * count, left));
    if (want == 0) return 0;
    if (source.fd < 0) {
      std::copy_n(reinterpret_cast<const char*>(source.memory.data()) + transfer.upload_position,
                  want, buffer);
      transfer.upload_position += want;
      return want;
    }
    for (;;) {
      const ssize_t n = ::pread(source.fd, buffer, want,
                                static_cast<off_t>(source.offset + transfer.upload_position));
      if (n > 0) {
        transfer.upload_position += static_cast<std::uint64_t>(n);
        return static_cast<std::size_t>(n);
      }
      if (n < 0 && errno == EINTR) continue;
      try {
        if (n < 0) throw_io_error("read file", source.path, errno);
        throw Error(ErrorKind::kIo,
                    "file \"" + source.path.string() + "\" became shorter during its upload");
      } catch (...) {
        transfer.exception = std::current_exception();
      }
      return CURL_READFUNC_ABORT;
    }
  }

  // Called by libcurl about once a second, and as data moves: a non-zero
  // answer aborts the transfer (CURLE_ABORTED_BY_CALLBACK).
  static int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return static_cast<Impl*>(user)->cancelled.load() ? 1 : 0;
  }

  void throw_if_cancelled(const Request& request) const {
    if (cancelled.load()) throw Error(ErrorKind::kCancelled, describe(request) + " cancelled");
  }

  void sleep_unless_cancelled(std::chrono::milliseconds wait) const {
    const auto until = std::chrono::steady_clock::now() + wait;
    while (!cancelled.load() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(
          std::chrono::milliseconds(50), until - std::chrono::steady_clock::now()));
    }
  }

  static int on_seek(void* user, curl_off_t offset, int origin) {
    auto& transfer = *static_cast<Transfer*>(user);
    if (origin != SEEK_SET || offset < 0 ||
        static_cast<std::uint64_t>(offset) > transfer.request->upload->length) {
      return CURL_SEEKFUNC_CANTSEEK;
    }
    transfer.upload_position = static_cast<std::uint64_t>(offset);
    return CURL_SEEKFUNC_OK;
  }

  Response attempt_once(const Request& request, std::optional<Failure>& failure) {
    CURL* curl = handle.get();
    Response response;
    Transfer transfer{this, &request, &response, 0, nullptr};
    std::array<char, CURL_ERROR_SIZE> error_text{};

    HeaderList headers;
    const auto add_header = [&](const std::string& header) {
      // Returns the list's head, or nullptr (leaving the list as it was).
      curl_slist* head = curl_slist_append(headers.get(), header.c_str());
      if (head == nullptr) throw Error(ErrorKind::kInternal, "out of memory building a request");
      (void)headers.release();
      headers.reset(head);
    };
    for (const auto& header : request.headers) add_header(header);
    if (!credentials.session_token.empty()) {
      add_header("x-amz-security-token: " + credentials.session_token);
    }
    const std::string target = url(request);

    curl_easy_setopt(curl, CURLOPT_URL, target.c_str());
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_text.data());
    curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, signing.c_str());
    curl_easy_setopt(curl, CURLOPT_USERNAME, credentials.access_key_id.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, credentials.secret_access_key.c_str());
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(options.connect_timeout.count()));
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME,
                     static_cast<long>(std::max<long long>(1, options.stall_timeout.count())));
    if (request.small) {
      curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                       static_cast<long>(options.small_request_timeout.count()));
    }
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, &Impl::on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, this);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &Impl::on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Impl::on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
    if (request.method == "HEAD") {
      curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (request.method == "PUT") {
      curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE,
                       static_cast<curl_off_t>(request.upload->length));
      curl_easy_setopt(curl, CURLOPT_READFUNCTION, &Impl::on_read);
      curl_easy_setopt(curl, CURLOPT_READDATA, &transfer);
      curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, &Impl::on_seek);
      curl_easy_setopt(curl, CURLOPT_SEEKDATA, &transfer);
    } else if (request.method != "GET") {
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());

    const CURLcode code = curl_easy_perform(curl);
    if (code == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
    // Nothing of this request (the secret, pointers to this frame) stays set
    // on the handle; its connection does.
    curl_easy_reset(curl);
    if (transfer.exception) std::rethrow_exception(transfer.exception);
    if (code == CURLE_ABORTED_BY_CALLBACK) throw_if_cancelled(request);
    if (code != CURLE_OK) {
      // libcurl's own text (one line, naming the host the user gave).
      const std::string detail = error_text[0] != '\0' ? std::string(error_text.data())
                                                       : std::string(curl_easy_strerror(code));
      failure = Failure{
          Error(ErrorKind::kConnection,
                describe(request) +
                    (code == CURLE_OPERATION_TIMEDOUT ? " timed out: " : " failed: ") + detail,
                code == CURLE_OPERATION_TIMEDOUT
                    ? "the S3 server is unreachable or too slow; check AWS_ENDPOINT_URL"
                    : "check AWS_ENDPOINT_URL and that the S3 server is up"),
          is_transient_curl_error(code)};
      return response;
    }
    if (is_retryable_status(response.status)) {
      failure = Failure{server_error(request, response), true};
    }
    return response;
  }

  // One PUT that never overwrites: a retry after a lost answer finds the key
  // taken by itself (kExists), which the caller tells apart by content.
  S3PutOutcome put(const std::string& bucket, const std::string& key, const UploadSource& source,
                   const S3Checksums& checksums) {
    Request request;
    request.method = "PUT";
    request.bucket = bucket;
    request.key = key;
    request.upload = &source;
    request.small = false;
    request.headers = {
        "x-amz-content-sha256: " + checksums.sha256_hex(),
        "x-amz-checksum-sha256: " + checksums.sha256_base64(),
        "Content-MD5: " + checksums.md5_base64(),
        "Content-Type: application/octet-stream",
        "If-None-Match: *",
    };
    const Response response = run(request);
    if (response.status == kHttpPreconditionFailed) return S3PutOutcome::kExists;
    if (response.status < 200 || response.status >= 300) throw server_error(request, response);
    return S3PutOutcome::kCreated;
  }

  // One line: the request, S3's code and message, the HTTP status; the hint
  // names the likely fix (and the key id at most, never the secret).
  Error server_error(const Request& request, const Response& response) const {
    const auto body = parse_s3_error_body(response.body);
    std::string code = body ? body->code : std::string();
    if (code.empty()) {
      switch (response.status) {
        case 400:
          code = "BadRequest";
          break;
        case 403:
          code = "Forbidden";
          break;
        case 404:
          code = "NotFound";
          break;
        case 301:
          code = "PermanentRedirect";
          break;
        default:
          break;
      }
    }
    std::string message = describe(request) + " failed: ";
    message += code.empty() ? "HTTP " + std::to_string(response.status)
                            : code_text(code) + " (HTTP " + std::to_string(response.status) + ")";
    if (body && !body->message.empty()) message += ": " + protocol::quote_untrusted(body->message);
    return Error(ErrorKind::kServer, message, hint_for(code, request));
  }

  std::string hint_for(const std::string& code, const Request& request) const {
    const std::string key_id =
        "access key id " + protocol::quote_untrusted(credentials.access_key_id);
    if (code == "SignatureDoesNotMatch") {
      return "check AWS_SECRET_ACCESS_KEY (the secret of " + key_id + ") and AWS_REGION";
    }
    if (code == "InvalidAccessKeyId")
      return "check AWS_ACCESS_KEY_ID: the server does not know " + key_id;
    if (code == "AccessDenied" || code == "Forbidden") {
      return "check the credentials (" + key_id + ") and their permissions on bucket \"" +
             request.bucket + "\"";
    }
    if (code == "NoSuchBucket")
      return "create bucket \"" + request.bucket + "\" or fix the location";
    if (code == "RequestTimeTooSkewed") return "this machine's clock is off: synchronize it";
    if (code == "ExpiredToken" || code == "InvalidToken" || code == "TokenRefreshRequired") {
      return "renew the temporary credentials (AWS_SESSION_TOKEN)";
    }
    if (code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed" ||
        code == "IllegalLocationConstraintException") {
      return "the bucket is in another region: set AWS_REGION";
    }
    if (code == "BadDigest" || code == "XAmzContentSHA256Mismatch" || code == "InvalidDigest") {
      return "the bytes were damaged on their way to the server; try again";
    }
    if (code == "SlowDown" || code == "ServiceUnavailable" || code == "InternalError") {
      return "the server is overloaded or failing; try again later";
    }
    return {};
  }

  S3ClientOptions options;
  S3Credentials credentials;
  Endpoint endpoint;
  std::string signing;
  std::unique_ptr<CURL, CurlFree> handle;
  std::minstd_rand random;
  // cancel(): from any thread.
  std::atomic<bool> cancelled{false};
};

S3Client::S3Client(S3ClientOptions options, S3Credentials credentials)
    : options_(std::move(options)),
      impl_(std::make_unique<Impl>(options_, std::move(credentials))) {}

S3Client::~S3Client() = default;

void S3Client::cancel() { impl_->cancelled.store(true); }

S3PutOutcome S3Client::put_object(const std::string& bucket, const std::string& key,
                                  ByteView content) {
  UploadSource source;
  source.memory = content;
  source.length = content.size();
  return impl_->put(bucket, key, source, s3_checksums(content));
}

S3PutOutcome S3Client::put_object(const std::string& bucket, const std::string& key, int fd,
                                  std::uint64_t offset, std::uint64_t length,
                                  const std::filesystem::path& path_for_errors,
                                  std::optional<S3Checksums> checksums) {
  if (!checksums) checksums = s3_checksums(fd, offset, length, path_for_errors);
  UploadSource source;
  source.fd = fd;
  source.offset = offset;
  source.length = length;
  source.path = path_for_errors;
  return impl_->put(bucket, key, source, *checksums);
}

std::optional<S3ObjectInfo> S3Client::head_object(const std::string& bucket,
                                                  const std::string& key) {
  Request request;
  request.method = "HEAD";
  request.bucket = bucket;
  request.key = key;
  request.headers = {std::string("x-amz-content-sha256: ") + kEmptyPayloadSha256,
                     "x-amz-checksum-mode: ENABLED"};
  const Response response = impl_->run(request);
  if (response.status == kHttpNotFound) return std::nullopt;
  if (response.status < 200 || response.status >= 300) {
    throw impl_->server_error(request, response);
  }
  const auto size = parse_unsigned(response.header("content-length"));
  if (!size) {
    throw ProtocolError(Impl::describe(request) + ": the answer has no valid Content-Length");
  }
  return object_info(response, *size);
}

std::optional<S3ObjectInfo> S3Client::get_object(const std::string& bucket, const std::string& key,
                                                 const S3Sink& sink) {
  Request request;
  request.method = "GET";
  request.bucket = bucket;
  request.key = key;
  request.small = false;
  request.headers = {std::string("x-amz-content-sha256: ") + kEmptyPayloadSha256,
                     "x-amz-checksum-mode: ENABLED"};

  std::optional<S3ObjectInfo> info;  // from the first answer with a body
  std::uint64_t delivered = 0;       // bytes handed to `sink`
  std::uint64_t position = 0;        // object offset of the current answer's next byte
  bool answer_started = false;
  S3ChecksumAccumulator digests;
  const auto bad_answer = [&](const std::string& why) {
    return ProtocolError(Impl::describe(request) + ": " + why);
  };
  const std::function<void(const Response&, ByteView)> receive = [&](const Response& response,
                                                                     ByteView piece) {
    if (!answer_started) {
      answer_started = true;
      if (!info) {
        const auto size = parse_unsigned(response.header("content-length"));
        if (response.status != 200 || !size)
          throw bad_answer("the answer has no valid Content-Length");
        info = object_info(response, *size);
      }
      position = 0;
      if (response.status == kHttpPartialContent) {
        // "bytes START-END/TOTAL", starting where the last answer broke.
        const std::string range = response.header("content-range");
        const auto dash = range.find('-');
        const auto start = range.starts_with("bytes ") && dash != std::string::npos
                               ? parse_unsigned(std::string_view(range).substr(6, dash - 6))
                               : std::nullopt;
        if (!start || *start != delivered) {
          throw bad_answer("the resumed answer covers " + protocol::quote_untrusted(range) +
                           ", not bytes from " + std::to_string(delivered));
        }
        position = *start;
      }
    }
    // A server that ignored the Range header sends the start again: skip it.
    if (position < delivered) {
      const std::uint64_t skip = std::min<std::uint64_t>(delivered - position, piece.size());
      piece = piece.subspan(static_cast<std::size_t>(skip));
      position += skip;
    }
    if (piece.empty()) return;
    if (delivered + piece.size() > info->size) throw bad_answer("more bytes than Content-Length");
    digests.update(piece);
    sink(piece);
    delivered += piece.size();
    position += piece.size();
  };
  request.sink = &receive;
  // A retry after bytes went out asks for the rest of the same object.
  const auto before_attempt = [&](Request& attempt, int) {
    answer_started = false;
    if (delivered > 0 && info) {
      attempt.headers.push_back("Range: bytes=" + std::to_string(delivered) + "-");
      attempt.headers.push_back("If-Match: " + info->etag);
    }
  };

  const Response response = impl_->run(request, before_attempt);
  if (response.status == kHttpNotFound && delivered == 0) {
    // A missing bucket is an error, not a missing object.
    const auto body = parse_s3_error_body(response.body);
    if (!body || body->code == "NoSuchKey") return std::nullopt;
    throw impl_->server_error(request, response);
  }
  if (response.status != 200 && response.status != kHttpPartialContent) {
    throw impl_->server_error(request, response);
  }
  if (!info) {  // an empty object: no body, no sink call
    const auto size = parse_unsigned(response.header("content-length"));
    if (!size) throw bad_answer("the answer has no valid Content-Length");
    info = object_info(response, *size);
  }
  if (delivered != info->size) {
    throw bad_answer("received " + std::to_string(delivered) + " bytes of an object of " +
                     std::to_string(info->size));
  }
  if (compare_s3_content(digests.finish(), delivered, info->digest()) ==
      S3ContentMatch::kDifferent) {
    throw Error(ErrorKind::kServer,
                Impl::describe(request) + ": the bytes received do not match the object's " +
                    (info->checksum_sha256.empty() ? "ETag (MD5)" : "SHA-256 checksum"),
                "the object may be damaged; try again");
  }
  return info;
}

std::optional<std::string> S3Client::get_object_prefix(const std::string& bucket,
                                                       const std::string& key, std::size_t length) {
  if (length == 0) throw Error(ErrorKind::kInternal, "get_object_prefix of 0 bytes");
  Request request;
  request.method = "GET";
  request.bucket = bucket;
  request.key = key;
  // Room for an error body too; a body that ignored the Range is cut below.
  request.max_body = std::max(length, kMaxErrorBody);
  request.headers = {std::string("x-amz-content-sha256: ") + kEmptyPayloadSha256,
                     "Range: bytes=0-" + std::to_string(length - 1)};
  Response response = impl_->run(request);
  if (response.status == kHttpNotFound) {
    const auto body = parse_s3_error_body(response.body);
    if (!body || body->code == "NoSuchKey") return std::nullopt;
    throw impl_->server_error(request, response);
  }
  if (response.status == kHttpRangeNotSatisfiable) return std::string();  // an empty object
  // 200: a server that ignored the Range; the body was cut at `length`.
  if (response.status != 200 && response.status != kHttpPartialContent) {
    throw impl_->server_error(request, response);
  }
  if (response.body.size() > length) response.body.resize(length);
  return std::move(response.body);
}

std::vector<S3ListedObject> S3Client::list_objects(const std::string& bucket,
                                                   const std::string& prefix,
                                                   const std::string& start_after) {
  std::vector<S3ListedObject> objects;
  std::string token;
  for (;;) {
    // Parameters in name order, encoded as SigV4 wants them.
    std::string query;
    if (!token.empty())
      query += "continuation-token=" + protocol::s3_uri_encode(token, false) + "&";
    query += "list-type=2&max-keys=" + std::to_string(options_.list_page_size);
    if (!prefix.empty()) query += "&prefix=" + protocol::s3_uri_encode(prefix, false);
    if (!start_after.empty() && token.empty()) {
      query += "&start-after=" + protocol::s3_uri_encode(start_after, false);
    }
    Request request;
    request.method = "GET";
    request.bucket = bucket;
    request.query = query;
    request.max_body = kMaxListBody;
    request.headers = {std::string("x-amz-content-sha256: ") + kEmptyPayloadSha256};
    const Response response = impl_->run(request);
    if (response.status != 200) throw impl_->server_error(request, response);
    S3ListPage page = parse_s3_list_page(response.body);
    for (auto& object : page.objects) objects.push_back(std::move(object));
    if (!page.is_truncated) return objects;
    if (page.next_continuation_token == token) {
      throw ProtocolError("S3 list of s3://" + bucket + "/" + prefix +
                          ": the server returned the same continuation token twice");
    }
    token = std::move(page.next_continuation_token);
  }
}

void S3Client::delete_object(const std::string& bucket, const std::string& key) {
  Request request;
  request.method = "DELETE";
  request.bucket = bucket;
  request.key = key;
  request.headers = {std::string("x-amz-content-sha256: ") + kEmptyPayloadSha256};
  const Response response = impl_->run(request);
  if (response.status != 204 && response.status != 200 && response.status != kHttpNotFound) {
    throw impl_->server_error(request, response);
  }
}

}  // namespace walstream::storage
