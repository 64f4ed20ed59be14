// storage::S3Client against a real S3 server (Ceph's RADOS Gateway, one per
// suite: rgw_server.h). What the client stores is checked through curl, an
// independent client, where it matters.
#include "storage/s3_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "protocol/error.h"
#include "tests/integration/rgw_server.h"
#include "tests/integration/tcp_fault_proxy.h"
#include "tests/integration/test_env.h"

namespace walstream::it {
namespace {

using storage::S3Client;
using storage::S3ClientOptions;
using storage::S3ContentMatch;
using storage::S3Credentials;
using storage::S3PutOutcome;
using testing::HasSubstr;
using testing::Not;

constexpr std::size_t k16MiB = 16 * 1024 * 1024;

ByteView bytes_of(const std::string& text) {
  return ByteView(reinterpret_cast<const std::byte*>(text.data()), text.size());
}

std::string random_bytes(std::size_t size, std::uint32_t seed) {
  std::mt19937 generator(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(generator());
  return out;
}

// Everything an Error says, for assertions on what it must not say.
std::string full_text(const Error& error) {
  return std::string(error.what()) + " hint: " + error.hint();
}

// A listener on a free loopback port that reads one request's head on a
// thread of its own, answers 500 and closes.
class RequestCatcher {
 public:
  RequestCatcher() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (listener_ < 0 ||
        ::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener_, 4) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("cannot listen on loopback");
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~RequestCatcher() {
    ::shutdown(listener_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    ::close(listener_);
  }
  int port() const { return port_; }
  // The request head (waits for the thread).
  std::string request() {
    if (thread_.joinable()) thread_.join();
    return request_;
  }

 private:
  void serve() {
    const int connection = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (connection < 0) return;
    char buffer[4096];
    while (request_.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = ::read(connection, buffer, sizeof buffer);
      if (n <= 0) break;
      request_.append(buffer, static_cast<std::size_t>(n));
    }
    const std::string answer =
        "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    (void)::write(connection, answer.data(), answer.size());
    ::close(connection);
  }

  int listener_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::string request_;
};

class S3ClientTest : public RgwTest {
 protected:
  S3ClientOptions options() const {
    S3ClientOptions options;
    options.endpoint = server().endpoint();
    options.region = server().region();
    options.path_style = true;
    options.connect_timeout = 5s;
    options.stall_timeout = 30s;
    return options;
  }
  S3Credentials credentials() const {
    return {server().access_key_id(), server().secret_access_key(), ""};
  }
  S3Client client() const { return S3Client(options(), credentials()); }

  // The object's bytes as GET streams them, and the pieces' largest size.
  static std::string fetch(S3Client& client, const std::string& key,
                           std::size_t* largest_piece = nullptr, int* pieces = nullptr) {
    std::string content;
    const auto info = client.get_object(bucket(), key, [&](ByteView piece) {
      content.append(reinterpret_cast<const char*>(piece.data()), piece.size());
      if (largest_piece != nullptr) *largest_piece = std::max(*largest_piece, piece.size());
      if (pieces != nullptr) ++*pieces;
    });
    EXPECT_TRUE(info.has_value()) << key;
    if (info) {
      EXPECT_EQ(info->size, content.size());
    }
    return content;
  }
};

TEST_F(S3ClientTest, PutsHeadsAndStreamsA16MiBObjectFromAFile) {
  const std::string content = random_bytes(k16MiB, 1);
  const std::filesystem::path file = TestEnv::unique_path("segment");
  write_file(file, "header" + content);
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  const std::string key = unique_prefix() + "000000010000000000000003";
  S3Client s3 = client();

  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(s3.put_object(bucket(), key, fd, 6, content.size(), file), S3PutOutcome::kCreated);
  const auto put_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  // Again: the key is taken, whatever the size of the body.
  EXPECT_EQ(s3.put_object(bucket(), key, fd, 0, content.size(), file), S3PutOutcome::kExists);
  ::close(fd);

  const auto info = s3.head_object(bucket(), key);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->size, content.size());
  const storage::S3Checksums checksums = storage::s3_checksums(bytes_of(content));
  // The server kept our bytes: its ETag is their MD5 (a single-part upload),
  // and where it stores a SHA-256 it is ours.
  EXPECT_EQ(info->etag, "\"" + checksums.md5_hex() + "\"");
  if (!info->checksum_sha256.empty()) {
    EXPECT_EQ(info->checksum_sha256, checksums.sha256_base64());
  }
  EXPECT_EQ(storage::compare_s3_content(checksums, content.size(), info->digest()),
            S3ContentMatch::kSame);

  std::size_t largest_piece = 0;
  int pieces = 0;
  const auto get_started = std::chrono::steady_clock::now();
  EXPECT_TRUE(fetch(s3, key, &largest_piece, &pieces) == content);
  const auto get_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - get_started);
  // Streamed in libcurl's pieces, never handed over whole.
  EXPECT_GT(pieces, 16);
  EXPECT_LE(largest_piece, 1024u * 1024u);
  // curl reads back the same bytes.
  EXPECT_TRUE(server().get_object(bucket(), key) == content);
  std::cout << "16 MiB: PUT " << put_ms.count() << " ms, GET " << get_ms.count() << " ms\n";
}

TEST_F(S3ClientTest, PutsFromMemoryAndKeepsKeysWithUnusualCharacters) {
  S3Client s3 = client();
  for (const std::string name :
       {"plain", "cluster=main/(x)!*'~.zst", "with space+plus", "caf\xc3\xa9", "a%2Fb"}) {
    const std::string key = unique_prefix() + name;
    const std::string content = "content of " + name;
    EXPECT_EQ(s3.put_object(bucket(), key, bytes_of(content)), S3PutOutcome::kCreated) << name;
    EXPECT_EQ(fetch(s3, key), content) << name;
    const auto listed = s3.list_objects(bucket(), key);
    ASSERT_EQ(listed.size(), 1u) << name;
    EXPECT_EQ(listed[0].key, key);
  }
  // An empty object.
  const std::string empty_key = unique_prefix() + "empty";
  EXPECT_EQ(s3.put_object(bucket(), empty_key, ByteView()), S3PutOutcome::kCreated);
  EXPECT_EQ(fetch(s3, empty_key), "");
  EXPECT_EQ(s3.head_object(bucket(), empty_key)->size, 0u);
}

TEST_F(S3ClientTest, APutOnAnExistingKeyChangesNothingAndSaysExists) {
  S3Client s3 = client();
  const std::string key = unique_prefix() + "000000010000000000000004.zst";
  const std::string first = random_bytes(100000, 2);
  const std::string second = random_bytes(100000, 3);
  ASSERT_EQ(s3.put_object(bucket(), key, bytes_of(first)), S3PutOutcome::kCreated);

  EXPECT_EQ(s3.put_object(bucket(), key, bytes_of(second)), S3PutOutcome::kExists);
  EXPECT_EQ(s3.put_object(bucket(), key, bytes_of(first)), S3PutOutcome::kExists);
  EXPECT_TRUE(server().get_object(bucket(), key) == first);

  // The caller tells its own upload from someone else's by the content.
  const auto info = s3.head_object(bucket(), key);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(storage::compare_s3_content(storage::s3_checksums(bytes_of(first)), first.size(),
                                        info->digest()),
            S3ContentMatch::kSame);
  EXPECT_EQ(storage::compare_s3_content(storage::s3_checksums(bytes_of(second)), second.size(),
                                        info->digest()),
            S3ContentMatch::kDifferent);
}

TEST_F(S3ClientTest, AWrongSecretIsSignatureDoesNotMatchAndNeverShown) {
  const std::string wrong_secret = "WrongSecretKey0123456789abcdefghijklmno";
  S3Client s3(options(), {server().access_key_id(), wrong_secret, ""});
  const std::string key = unique_prefix() + "object";
  try {
    s3.put_object(bucket(), key, bytes_of("x"));
    FAIL() << "a PUT with a wrong secret succeeded";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kServer);
    const std::string text = full_text(error);
    EXPECT_THAT(text, HasSubstr("SignatureDoesNotMatch"));
    EXPECT_THAT(text, HasSubstr("HTTP 403"));
    EXPECT_THAT(text, HasSubstr("s3://" + bucket() + "/" + key));
    EXPECT_THAT(error.hint(), HasSubstr("AWS_SECRET_ACCESS_KEY"));
    EXPECT_THAT(text, Not(HasSubstr(wrong_secret)));
    EXPECT_THAT(text, Not(HasSubstr(server().secret_access_key())));
    EXPECT_EQ(text.find('\n'), std::string::npos) << text;
  }
  // The same for GET and LIST (bodies), and HEAD (none: only the status).
  for (int request = 0; request < 3; ++request) {
    try {
      if (request == 0) s3.get_object(bucket(), key, [](ByteView) {});
      if (request == 1) s3.list_objects(bucket(), unique_prefix());
      if (request == 2) s3.head_object(bucket(), key);
      ADD_FAILURE() << "request " << request << " with a wrong secret succeeded";
    } catch (const Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::kServer);
      const std::string text = full_text(error);
      EXPECT_THAT(text, HasSubstr(request == 2 ? "HTTP 403" : "SignatureDoesNotMatch"));
      EXPECT_THAT(text, Not(HasSubstr(wrong_secret)));
    }
  }
  EXPECT_EQ(client().head_object(bucket(), key), std::nullopt);
}

TEST_F(S3ClientTest, AnUnknownKeyIdIsNamedInTheHint) {
  S3Client s3(options(), {"NOSUCHKEYID000000000", server().secret_access_key(), ""});
  try {
    s3.list_objects(bucket(), "");
    FAIL() << "a LIST with an unknown key id succeeded";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kServer);
    EXPECT_THAT(full_text(error), HasSubstr("InvalidAccessKeyId"));
    EXPECT_THAT(error.hint(), HasSubstr("NOSUCHKEYID000000000"));
    EXPECT_THAT(full_text(error), Not(HasSubstr(server().secret_access_key())));
  }
}

TEST_F(S3ClientTest, ASessionTokenIsSentSignedAndNeverShown) {
  const std::string token = "FwoGZXIvYXdzEMadeUpSessionToken0123456789";
  S3ClientOptions once = options();
  once.retry.max_attempts = 1;

  // What goes on the wire, caught by a listener that answers 500.
  RequestCatcher catcher;
  S3ClientOptions to_catcher = once;
  to_catcher.endpoint = "http://127.0.0.1:" + std::to_string(catcher.port());
  S3Client caught(to_catcher, {server().access_key_id(), server().secret_access_key(), token});
  try {
    caught.head_object(bucket(), "key");
    FAIL() << "a 500 was taken for an answer";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kServer);
    EXPECT_THAT(full_text(error), Not(HasSubstr(token)));
  }
  const std::string request = catcher.request();
  EXPECT_THAT(request, HasSubstr("\r\nx-amz-security-token: " + token + "\r\n"));
  // Signed: listed among the Authorization header's SignedHeaders.
  const auto signed_headers = request.find("SignedHeaders=");
  ASSERT_NE(signed_headers, std::string::npos) << request;
  EXPECT_THAT(request.substr(signed_headers, request.find(',', signed_headers) - signed_headers),
              HasSubstr("x-amz-security-token"));
  EXPECT_THAT(request, Not(HasSubstr(server().secret_access_key())));

  // The gateway's user has long-term keys; RADOS Gateway ignores a token with
  // them (AWS would refuse it), and the signed header does not disturb the
  // signature.
  const std::string key = unique_prefix() + "object";
  S3Client with_token(once, {server().access_key_id(), server().secret_access_key(), token});
  EXPECT_EQ(with_token.put_object(bucket(), key, bytes_of("x")), S3PutOutcome::kCreated);
  EXPECT_TRUE(with_token.head_object(bucket(), key).has_value());
}

TEST_F(S3ClientTest, AMissingKeyIsNotFoundAndAMissingBucketAnError) {
  S3Client s3 = client();
  const std::string key = unique_prefix() + "000000010000000000000009.zst";
  bool called = false;
  EXPECT_EQ(s3.get_object(bucket(), key, [&](ByteView) { called = true; }), std::nullopt);
  EXPECT_FALSE(called);
  EXPECT_EQ(s3.head_object(bucket(), key), std::nullopt);
  EXPECT_TRUE(s3.list_objects(bucket(), key).empty());
  EXPECT_NO_THROW(s3.delete_object(bucket(), key));

  try {
    s3.get_object("no-such-bucket", key, [](ByteView) {});
    FAIL() << "a GET from a missing bucket was \"not found\"";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kServer);
    EXPECT_THAT(full_text(error), HasSubstr("NoSuchBucket"));
    EXPECT_THAT(error.hint(), HasSubstr("no-such-bucket"));
  }
}

TEST_F(S3ClientTest, DeletesObjects) {
  S3Client s3 = client();
  const std::string key = unique_prefix() + "object";
  ASSERT_EQ(s3.put_object(bucket(), key, bytes_of("x")), S3PutOutcome::kCreated);
  s3.delete_object(bucket(), key);
  EXPECT_EQ(s3.head_object(bucket(), key), std::nullopt);
  // The key is free again.
  EXPECT_EQ(s3.put_object(bucket(), key, bytes_of("y")), S3PutOutcome::kCreated);
}

TEST_F(S3ClientTest, ListsPageAfterPage) {
  S3ClientOptions small_pages = options();
  small_pages.list_page_size = 4;
  S3Client s3(small_pages, credentials());
  const std::string prefix = unique_prefix();
  std::vector<std::string> keys;
  for (int i = 0; i < 23; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "%024X.zst", i * 37);
    keys.push_back(prefix + "wal/" + name);
    ASSERT_EQ(s3.put_object(bucket(), keys.back(), bytes_of(std::string(i, 'x'))),
              S3PutOutcome::kCreated);
  }
  // Neighbours that must not be listed.
  ASSERT_EQ(s3.put_object(bucket(), prefix + "other/x", bytes_of("x")), S3PutOutcome::kCreated);
  ASSERT_EQ(s3.put_object(bucket(), prefix + "wa", bytes_of("x")), S3PutOutcome::kCreated);
  std::sort(keys.begin(), keys.end());

  const auto listed = s3.list_objects(bucket(), prefix + "wal/");
  std::vector<std::string> listed_keys;
  for (const auto& object : listed) listed_keys.push_back(object.key);
  EXPECT_EQ(listed_keys, keys);
  for (const auto& object : listed) {
    const std::string name = object.key.substr(object.key.rfind('/') + 1);
    const auto i = std::stoul(name.substr(0, 24), nullptr, 16) / 37;
    EXPECT_EQ(object.size, i) << object.key;
    EXPECT_FALSE(object.etag.empty());
  }

  const auto after = s3.list_objects(bucket(), prefix + "wal/", keys[10]);
  ASSERT_EQ(after.size(), keys.size() - 11);
  EXPECT_EQ(after.front().key, keys[11]);
}

TEST_F(S3ClientTest, AnEndpointNobodyListensOnIsAConnectionErrorSoon) {
  ReservedPort nobody;
  S3ClientOptions unreachable = options();
  unreachable.endpoint = "http://127.0.0.1:" + std::to_string(nobody.port());
  unreachable.retry.max_attempts = 3;
  unreachable.retry.initial_backoff = 100ms;
  S3Client s3(unreachable, credentials());
  const auto started = std::chrono::steady_clock::now();
  try {
    s3.head_object(bucket(), "key");
    FAIL() << "a HEAD to a closed port succeeded";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kConnection);
    EXPECT_THAT(error.what(), HasSubstr(std::to_string(nobody.port())));
    EXPECT_THAT(error.what(), HasSubstr("after 3 attempts"));
    EXPECT_THAT(error.hint(), HasSubstr("AWS_ENDPOINT_URL"));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

TEST_F(S3ClientTest, AServerThatNeverAnswersTimesOut) {
  // Accepts connections (the kernel does, from the backlog) and says nothing.
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener, 16), 0);
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);

  S3ClientOptions silent = options();
  silent.endpoint = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port));
  silent.stall_timeout = 1s;
  silent.small_request_timeout = 1500ms;
  silent.retry.max_attempts = 2;
  silent.retry.initial_backoff = 100ms;
  S3Client s3(silent, credentials());
  for (int request = 0; request < 2; ++request) {
    const auto started = std::chrono::steady_clock::now();
    try {
      if (request == 0) s3.head_object(bucket(), "key");                  // bounded as a whole
      if (request == 1) s3.get_object(bucket(), "key", [](ByteView) {});  // by the stall
      ADD_FAILURE() << "request " << request << " to a silent server succeeded";
    } catch (const Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::kConnection);
      EXPECT_THAT(error.what(), HasSubstr("timed out"));
    }
    const auto elapsed = std::chrono::steady_clock::now() - started;
    EXPECT_GE(elapsed, 2s);
    EXPECT_LT(elapsed, 8s);
  }
  ::close(listener);
}

// Through a proxy that breaks the first connections in front of the gateway.
class S3ClientRetryTest : public S3ClientTest {
 protected:
  S3Client client_through(TcpFaultProxy& proxy, int max_attempts = 4) const {
    S3ClientOptions through = options();
    through.endpoint = "http://127.0.0.1:" + std::to_string(proxy.port());
    through.retry.max_attempts = max_attempts;
    through.retry.initial_backoff = 20ms;
    return S3Client(through, credentials());
  }
};

TEST_F(S3ClientRetryTest, RetriesSlowDownAndThenSucceeds) {
  const std::string key = unique_prefix() + "object";
  ASSERT_EQ(client().put_object(bucket(), key, bytes_of("content")), S3PutOutcome::kCreated);
  TcpFaultProxy proxy(server().s3_port());
  using Fault = TcpFaultProxy::Fault;
  const std::vector<TcpFaultProxy::Plan> two_503{{Fault::kAnswer503}, {Fault::kAnswer503}};
  // Faults hit new connections: a fresh client for each request.
  proxy.plan(two_503);
  {
    S3Client s3 = client_through(proxy);
    EXPECT_EQ(fetch(s3, key), "content");
  }
  proxy.plan(two_503);
  EXPECT_EQ(client_through(proxy).head_object(bucket(), key)->size, 7u);
  proxy.plan(two_503);
  EXPECT_EQ(client_through(proxy).list_objects(bucket(), key).size(), 1u);
  proxy.plan(two_503);
  EXPECT_EQ(client_through(proxy).put_object(bucket(), key + "2", bytes_of("x")),
            S3PutOutcome::kCreated);
  // Each 503 closed its connection: three per request.
  EXPECT_EQ(proxy.request_heads().size(), 12u);

  // Past the attempts, the last answer is the error.
  S3Client impatient = client_through(proxy, 2);
  proxy.plan(two_503);
  try {
    impatient.head_object(bucket(), key);
    FAIL() << "two 503s did not fail a client making two attempts";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kServer);
    EXPECT_THAT(error.what(), HasSubstr("HTTP 503"));
    EXPECT_THAT(error.what(), HasSubstr("after 2 attempts"));
  }
}

TEST_F(S3ClientRetryTest, AGetCutMidObjectResumesWhereItBroke) {
  const std::string key = unique_prefix() + "000000010000000000000005";
  const std::string content = random_bytes(k16MiB, 5);
  ASSERT_EQ(client().put_object(bucket(), key, bytes_of(content)), S3PutOutcome::kCreated);
  TcpFaultProxy proxy(server().s3_port());
  S3Client s3 = client_through(proxy);
  proxy.plan({{TcpFaultProxy::Fault::kCutAnswerAfter, 5 * 1024 * 1024},
              {TcpFaultProxy::Fault::kCutAnswerAfter, 9 * 1024 * 1024}});
  EXPECT_TRUE(fetch(s3, key) == content);
  const auto heads = proxy.request_heads();
  ASSERT_EQ(heads.size(), 3u);
  EXPECT_THAT(heads[0], Not(HasSubstr("Range:")));
  // Each retry asks for the rest of the same object (same ETag).
  for (int i : {1, 2}) {
    EXPECT_THAT(heads[i], HasSubstr("Range: bytes="));
    EXPECT_THAT(heads[i],
                HasSubstr("If-Match: \"" + storage::s3_checksums(bytes_of(content)).md5_hex()));
  }
}

TEST_F(S3ClientRetryTest, APutWhoseAnswerWasLostFindsItsOwnObject) {
  const std::string key = unique_prefix() + "000000010000000000000006.zst";
  const std::string content = random_bytes(200000, 6);
  TcpFaultProxy proxy(server().s3_port());
  S3Client s3 = client_through(proxy);
  // The gateway stores the object; its answer never arrives.
  proxy.plan({{TcpFaultProxy::Fault::kCutAnswerAfter, 0}});
  EXPECT_EQ(s3.put_object(bucket(), key, bytes_of(content)), S3PutOutcome::kExists);
  EXPECT_EQ(proxy.request_heads().size(), 2u);
  // Which the caller recognises as its own upload.
  EXPECT_EQ(storage::compare_s3_content(storage::s3_checksums(bytes_of(content)), content.size(),
                                        s3.head_object(bucket(), key)->digest()),
            S3ContentMatch::kSame);
  EXPECT_TRUE(server().get_object(bucket(), key) == content);
}

TEST_F(S3ClientTest, RefusesEndpointsItCannotUse) {
  for (const char* endpoint : {"ftp://127.0.0.1:21", "http://127.0.0.1:9000/path", "not a url",
                               "http://user:endpoint-password@127.0.0.1:9000"}) {
    S3ClientOptions bad = options();
    bad.endpoint = endpoint;
    try {
      S3Client s3(bad, credentials());
      ADD_FAILURE() << "accepted " << endpoint;
    } catch (const Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::kUsage) << endpoint;
      EXPECT_THAT(full_text(error), Not(HasSubstr("endpoint-password")));
    }
  }
}

}  // namespace
}  // namespace walstream::it
