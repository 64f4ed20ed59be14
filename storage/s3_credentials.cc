#include "storage/s3_credentials.h"

#include <cerrno>
#include <cstdlib>
#include <map>

#include "protocol/error.h"
#include "protocol/quote_untrusted.h"
#include "storage/file_util.h"

namespace walstream::storage {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kMaxCredentialsFileSize = 1024 * 1024;
constexpr std::string_view kWhitespace = " \t\r";
constexpr const char* kCredentialsHint =
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or write them into ~/.aws/credentials "
    "(AWS_SHARED_CREDENTIALS_FILE, profile AWS_PROFILE or \"default\")";

std::string_view trim(std::string_view text) {
  const auto start = text.find_first_not_of(kWhitespace);
  if (start == std::string_view::npos) return {};
  const auto end = text.find_last_not_of(kWhitespace);
  return text.substr(start, end - start + 1);
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// A set, non-empty variable.
std::optional<std::string> variable(const EnvironmentLookup& environment, const std::string& name) {
  auto value = environment(name);
  if (value && value->empty()) value.reset();
  return value;
}

}  // namespace

std::optional<std::string> process_environment(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

std::optional<S3Credentials> parse_s3_credentials_file(std::string_view text,
                                                       const std::string& profile,
                                                       const std::string& file) {
  const auto bad_line = [&](int number, const std::string& why) -> Error {
    // The line itself is never quoted: it may hold a secret.
    return Error(ErrorKind::kUsage,
                 "credentials file \"" + file + "\", line " + std::to_string(number) + ": " + why,
                 "lines are [profile] or key = value");
  };
  std::optional<std::map<std::string, std::string>> found;
  bool in_profile = false;
  int number = 0;
  while (!text.empty()) {
    const auto newline = text.find('\n');
    const std::string_view line = trim(text.substr(0, newline));
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    ++number;
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      if (line.back() != ']') throw bad_line(number, "a section header without ']'");
      const std::string_view name = trim(line.substr(1, line.size() - 2));
      in_profile = name == profile;
      // A profile given twice: its keys merge, as the AWS tools do.
      if (in_profile && !found) found.emplace();
      continue;
    }
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) throw bad_line(number, "not a key = value line");
    const std::string key = lower(trim(line.substr(0, eq)));
    if (key.empty()) throw bad_line(number, "a value without a key");
    // Keys before any section, or of other profiles, are not ours.
    if (in_profile) (*found)[key] = std::string(trim(line.substr(eq + 1)));
  }
  if (!found) return std::nullopt;
  S3Credentials credentials;
  const auto take = [&](const char* key, std::string& into, bool required) {
    const auto value = found->find(key);
    if (value != found->end()) into = value->second;
    if (required && into.empty()) {
      throw Error(ErrorKind::kUsage,
                  "credentials file \"" + file + "\": profile " +
                      protocol::quote_untrusted(profile) + " has no " + key,
                  kCredentialsHint);
    }
  };
  take("aws_access_key_id", credentials.access_key_id, true);
  take("aws_secret_access_key", credentials.secret_access_key, true);
  take("aws_session_token", credentials.session_token, false);
  return credentials;
}

S3Credentials resolve_s3_credentials(const EnvironmentLookup& environment) {
  const auto key_id = variable(environment, "AWS_ACCESS_KEY_ID");
  const auto secret = variable(environment, "AWS_SECRET_ACCESS_KEY");
  if (key_id && secret) {
    return S3Credentials{*key_id, *secret,
                         variable(environment, "AWS_SESSION_TOKEN").value_or(std::string())};
  }
  if (key_id || secret) {
    throw Error(ErrorKind::kUsage,
                std::string(key_id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY") +
                    " is set but " + (key_id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID") +
                    " is not",
                "set both, or neither to use the credentials file");
  }

  const auto given_file = variable(environment, "AWS_SHARED_CREDENTIALS_FILE");
  fs::path file;
  if (given_file) {
    file = *given_file;
  } else if (const auto home = variable(environment, "HOME")) {
    file = fs::path(*home) / ".aws" / "credentials";
  } else {
    throw Error(ErrorKind::kUsage, "no S3 credentials (no AWS_ACCESS_KEY_ID, no HOME)",
                kCredentialsHint);
  }
  const std::string profile = variable(environment, "AWS_PROFILE").value_or("default");
  std::error_code error;
  const bool exists = fs::exists(file, error);
  if (!exists && !given_file && !variable(environment, "AWS_PROFILE")) {
    throw Error(ErrorKind::kUsage,
                "no S3 credentials: AWS_ACCESS_KEY_ID is not set and \"" + file.string() +
                    "\" does not exist",
                kCredentialsHint);
  }
  const std::string text = read_whole_file(file, kMaxCredentialsFileSize);
  auto credentials = parse_s3_credentials_file(text, profile, file.string());
  if (!credentials) {
    throw Error(ErrorKind::kUsage,
                "credentials file \"" + file.string() + "\" has no profile " +
                    protocol::quote_untrusted(profile),
                kCredentialsHint);
  }
  return *credentials;
}

}  // namespace walstream::storage
