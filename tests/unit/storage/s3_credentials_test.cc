#include "storage/s3_credentials.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "protocol/error.h"

using namespace walstream::storage;
using walstream::Error;
using walstream::ErrorKind;

namespace {

namespace fs = std::filesystem;

constexpr const char* kSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
constexpr const char* kToken = "FwoGZXIvYXdzEXAMPLETOKEN";

EnvironmentLookup environment(std::map<std::string, std::string> variables) {
  return [variables = std::move(variables)](const std::string& name) -> std::optional<std::string> {
    const auto found = variables.find(name);
    if (found == variables.end()) return std::nullopt;
    return found->second;
  };
}

// The message and hint of the Error `action` throws; fails the test
// otherwise.
template <typename Action>
std::string error_of(Action action, ErrorKind kind = ErrorKind::kUsage) {
  try {
    action();
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), kind);
    return std::string(error.what()) + "; hint: " + error.hint();
  }
  ADD_FAILURE() << "no error";
  return {};
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "s3-credentials-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }
  fs::path write(const std::string& name, const std::string& content) const {
    const fs::path file = path_ / name;
    fs::create_directories(file.parent_path());
    std::ofstream(file) << content;
    return file;
  }

 private:
  fs::path path_;
};

TEST(S3CredentialsTest, TakesTheEnvironmentFirst) {
  TempDir dir;
  const fs::path file = dir.write(
      "credentials", "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = x\n");
  const S3Credentials credentials = resolve_s3_credentials(environment({
      {"AWS_ACCESS_KEY_ID", "AKIAENV"},
      {"AWS_SECRET_ACCESS_KEY", kSecret},
      {"AWS_SESSION_TOKEN", kToken},
      {"AWS_SHARED_CREDENTIALS_FILE", file.string()},
  }));
  EXPECT_EQ(credentials.access_key_id, "AKIAENV");
  EXPECT_EQ(credentials.secret_access_key, kSecret);
  EXPECT_EQ(credentials.session_token, kToken);
}

TEST(S3CredentialsTest, RefusesHalfTheKeysInTheEnvironment) {
  for (const char* set : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}) {
    const std::string message = error_of([&] {
      resolve_s3_credentials(environment({{set, kSecret}, {"HOME", "/nonexistent"}}));
    });
    EXPECT_NE(message.find("is set but"), std::string::npos) << message;
    EXPECT_EQ(message.find(kSecret), std::string::npos) << message;
  }
}

TEST(S3CredentialsTest, ReadsTheProfileOfTheSharedFile) {
  TempDir dir;
  dir.write(".aws/credentials",
            "# keys\n"
            "[default]\n"
            "aws_access_key_id=AKIADEFAULT\n"
            "aws_secret_access_key=default-secret\n"
            "\n"
            "[archive]\n"
            "  AWS_ACCESS_KEY_ID = AKIAARCHIVE  \n"
            "; the secret\n"
            "aws_secret_access_key = " +
                std::string(kSecret) +
                "\n"
                "aws_session_token = " +
                kToken + "\n");
  const auto home = dir.path().string();
  const S3Credentials by_default = resolve_s3_credentials(environment({{"HOME", home}}));
  EXPECT_EQ(by_default.access_key_id, "AKIADEFAULT");
  EXPECT_EQ(by_default.secret_access_key, "default-secret");
  EXPECT_EQ(by_default.session_token, "");

  const S3Credentials archive =
      resolve_s3_credentials(environment({{"HOME", home}, {"AWS_PROFILE", "archive"}}));
  EXPECT_EQ(archive.access_key_id, "AKIAARCHIVE");
  EXPECT_EQ(archive.secret_access_key, kSecret);
  EXPECT_EQ(archive.session_token, kToken);
}

TEST(S3CredentialsTest, AFileNamedByTheEnvironmentReplacesTheHomeOne) {
  TempDir dir;
  dir.write(".aws/credentials", "[default]\naws_access_key_id=HOME\naws_secret_access_key=s\n");
  const fs::path other =
      dir.write("other", "[default]\naws_access_key_id=OTHER\naws_secret_access_key=s\n");
  const S3Credentials credentials = resolve_s3_credentials(environment(
      {{"HOME", dir.path().string()}, {"AWS_SHARED_CREDENTIALS_FILE", other.string()}}));
  EXPECT_EQ(credentials.access_key_id, "OTHER");
}

TEST(S3CredentialsTest, SaysWhereItLookedWhenThereAreNone) {
  TempDir dir;
  const std::string message = error_of([&] {
    resolve_s3_credentials(environment({{"HOME", dir.path().string()}}));
  });
  EXPECT_NE(message.find("no S3 credentials"), std::string::npos) << message;
  EXPECT_NE(message.find(".aws/credentials"), std::string::npos) << message;
  EXPECT_NE(message.find("AWS_ACCESS_KEY_ID"), std::string::npos) << message;
}

TEST(S3CredentialsTest, AMissingFileNamedByTheUserIsAnError) {
  TempDir dir;
  const std::string message = error_of(
      [&] {
        resolve_s3_credentials(
            environment({{"AWS_SHARED_CREDENTIALS_FILE", (dir.path() / "missing").string()}}));
      },
      ErrorKind::kIo);
  EXPECT_NE(message.find("missing"), std::string::npos) << message;
}

TEST(S3CredentialsTest, AMissingProfileIsNamed) {
  TempDir dir;
  dir.write(".aws/credentials", "[default]\naws_access_key_id=A\naws_secret_access_key=s\n");
  const std::string message = error_of([&] {
    resolve_s3_credentials(environment({{"HOME", dir.path().string()}, {"AWS_PROFILE", "prod"}}));
  });
  EXPECT_NE(message.find("has no profile \"prod\""), std::string::npos) << message;
}

TEST(S3CredentialsFileTest, ErrorsNeverQuoteALine) {
  // Each file holds the secret on a line the parser refuses or cannot use.
  const std::string secret = kSecret;
  for (const std::string& text : {
           "[default]\naws_access_key_id = A\n" + secret + "\n",
           "[default]\naws_access_key_id = A\n[" + secret + "\n",
           "[default]\naws_access_key_id = A\n = " + secret + "\n",
           "[default]\naws_secret_access_key = " + secret + "\n",
           "[default]\naws_access_key_id = " + secret + "\naws_secret_access_key =\n",
       }) {
    const std::string message =
        error_of([&] { parse_s3_credentials_file(text, "default", "/home/u/.aws/credentials"); });
    EXPECT_EQ(message.find(secret), std::string::npos) << message;
    EXPECT_NE(message.find("/home/u/.aws/credentials"), std::string::npos) << message;
  }
}

TEST(S3CredentialsFileTest, NamesTheLineAndTheMissingKey) {
  EXPECT_NE(error_of([] {
              parse_s3_credentials_file("[a]\n\nnonsense\n", "a", "f");
            }).find("line 3: not a key = value line"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              parse_s3_credentials_file("[a]\naws_access_key_id=K\n", "a", "f");
            }).find("profile \"a\" has no aws_secret_access_key"),
            std::string::npos);
}

TEST(S3CredentialsFileTest, KeysOutsideTheProfileAreNotTaken) {
  const auto credentials = parse_s3_credentials_file(
      "aws_access_key_id = TOP\n"
      "[other]\naws_access_key_id = OTHER\naws_secret_access_key = o\n"
      "[mine]\naws_access_key_id = MINE\naws_secret_access_key = m\n"
      "[other]\naws_session_token = t\n",
      "mine", "f");
  ASSERT_TRUE(credentials);
  EXPECT_EQ(credentials->access_key_id, "MINE");
  EXPECT_EQ(credentials->secret_access_key, "m");
  EXPECT_EQ(credentials->session_token, "");
  EXPECT_EQ(parse_s3_credentials_file("[other]\n", "mine", "f"), std::nullopt);
}

}  // namespace
