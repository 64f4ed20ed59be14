// Where the S3 client's keys come from, in the order the AWS tools use:
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), else the
// shared credentials file (AWS_SHARED_CREDENTIALS_FILE, default
// ~/.aws/credentials), profile AWS_PROFILE or "default". Never from the
// command line, where every user of the machine could read them. Nothing here
// ever puts a secret or a token into an error message: errors name the
// variable, the file, the profile, a line number, at most the key id.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace walstream::storage {

struct S3Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  // Temporary credentials (STS) come with a token, sent as
  // x-amz-security-token; empty for long-term keys.
  std::string session_token;
};

// Looks an environment variable up; nullopt when unset. Injected so that
// tests need not change the process environment.
using EnvironmentLookup = std::function<std::optional<std::string>(const std::string& name)>;
// The process environment (getenv).
std::optional<std::string> process_environment(const std::string& name);

// The keys of `profile` in the text of a shared credentials file (INI:
// "[profile]" sections of "key = value" lines, '#' and ';' comments;
// aws_access_key_id, aws_secret_access_key, aws_session_token). nullopt when
// the file has no such section. Throws walstream::Error (kUsage) when the
// section lacks a key or a line is not understood; `file` names the file in
// those messages, which never quote a line (it may hold a secret).
std::optional<S3Credentials> parse_s3_credentials_file(std::string_view text,
                                                       const std::string& profile,
                                                       const std::string& file);

// The credentials as described at the top. Throws walstream::Error (kUsage,
// with a hint naming the variables and the file) when there are none, when
// only one of the two key variables is set, or when the file is unreadable
// or malformed.
S3Credentials resolve_s3_credentials(const EnvironmentLookup& environment = process_environment);

}  // namespace walstream::storage
