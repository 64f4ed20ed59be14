#include "storage/s3_xml.h"

#include <expat.h>

#include <charconv>
#include <limits>
#include <memory>

#include "protocol/error.h"
#include "protocol/quote_untrusted.h"

namespace walstream::storage {
namespace {

// S3 keys are at most 1 kB, tokens and messages a few hundred bytes: a longer
// text is not a document we expect.
constexpr std::size_t kMaxTextLength = 64 * 1024;
constexpr int kMaxDepth = 16;

// Collects, for each element, its path from the root ("Error/Code") and its
// text, and hands elements to a handler as they start and end. Handlers do
// not throw (expat is C): they return why they refuse the document.
class XmlReader {
 public:
  struct Handler {
    virtual ~Handler() = default;
    virtual std::optional<std::string> start(const std::string& path) = 0;
    virtual std::optional<std::string> end(const std::string& path, const std::string& text) = 0;
  };

  explicit XmlReader(Handler& handler) : handler_(handler), parser_(XML_ParserCreate("UTF-8")) {
    if (!parser_) throw Error(ErrorKind::kInternal, "out of memory creating an XML parser");
    XML_SetUserData(parser_.get(), this);
    XML_SetElementHandler(parser_.get(), &XmlReader::on_start, &XmlReader::on_end);
    XML_SetCharacterDataHandler(parser_.get(), &XmlReader::on_text);
    // A DOCTYPE could declare entities (billion laughs): none is accepted.
    XML_SetStartDoctypeDeclHandler(parser_.get(), &XmlReader::on_doctype);
  }

  // Empty on success, else why the document was refused.
  std::string parse(std::string_view xml) {
    if (xml.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
      return "document too large";
    }
    const XML_Status status =
        XML_Parse(parser_.get(), xml.data(), static_cast<int>(xml.size()), XML_TRUE);
    if (!failure_.empty()) return failure_;
    if (status != XML_STATUS_OK) {
      return std::string(XML_ErrorString(XML_GetErrorCode(parser_.get()))) + " at line " +
             std::to_string(XML_GetCurrentLineNumber(parser_.get()));
    }
    return {};
  }

 private:
  struct ParserFree {
    void operator()(XML_Parser parser) const { XML_ParserFree(parser); }
  };

  static XmlReader& self(void* data) { return *static_cast<XmlReader*>(data); }

  void fail(std::string why) {
    if (failure_.empty()) failure_ = std::move(why);
    XML_StopParser(parser_.get(), XML_FALSE);
  }

  static void on_start(void* data, const XML_Char* name, const XML_Char** /*attributes*/) {
    XmlReader& reader = self(data);
    if (++reader.depth_ > kMaxDepth) return reader.fail("elements nested too deeply");
    if (!reader.path_.empty()) reader.path_ += '/';
    reader.path_ += name;
    reader.text_.clear();
    if (auto refused = reader.handler_.start(reader.path_)) reader.fail(std::move(*refused));
  }

  static void on_end(void* data, const XML_Char* /*name*/) {
    XmlReader& reader = self(data);
    if (auto refused = reader.handler_.end(reader.path_, reader.text_)) {
      return reader.fail(std::move(*refused));
    }
    reader.text_.clear();
    const auto slash = reader.path_.rfind('/');
    reader.path_.resize(slash == std::string::npos ? 0 : slash);
    --reader.depth_;
  }

  static void on_text(void* data, const XML_Char* text, int length) {
    XmlReader& reader = self(data);
    if (reader.text_.size() + static_cast<std::size_t>(length) > kMaxTextLength) {
      return reader.fail("an element's text is longer than " + std::to_string(kMaxTextLength) +
                         " bytes");
    }
    reader.text_.append(text, static_cast<std::size_t>(length));
  }

  static void on_doctype(void* data, const XML_Char*, const XML_Char*, const XML_Char*, int) {
    self(data).fail("a document type declaration");
  }

  Handler& handler_;
  std::unique_ptr<XML_ParserStruct, ParserFree> parser_;
  std::string path_;
  std::string text_;
  int depth_ = 0;
  std::string failure_;
};

[[noreturn]] void bad_list(const std::string& why) {
  throw ProtocolError("invalid ListObjectsV2 response from the S3 server: " + why);
}

class ListPageHandler : public XmlReader::Handler {
 public:
  std::optional<std::string> start(const std::string& path) override {
    if (!root_seen_) {
      root_seen_ = true;
      if (path != "ListBucketResult") {
        return "the root element is " + protocol::quote_untrusted(path) + ", not ListBucketResult";
      }
    }
    if (path == "ListBucketResult/Contents") {
      page_.objects.emplace_back();
      has_key_ = false;
    }
    return std::nullopt;
  }

  std::optional<std::string> end(const std::string& path, const std::string& text) override {
    if (path == "ListBucketResult/Contents/Key") {
      page_.objects.back().key = text;
      has_key_ = true;
    } else if (path == "ListBucketResult/Contents/Size") {
      std::uint64_t size = 0;
      const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), size);
      if (error != std::errc() || end != text.data() + text.size() || text.empty()) {
        return "object size " + protocol::quote_untrusted(text) + " is not a number";
      }
      page_.objects.back().size = size;
    } else if (path == "ListBucketResult/Contents/ETag") {
      page_.objects.back().etag = text;
    } else if (path == "ListBucketResult/Contents") {
      if (!has_key_) return "an object without a key";
    } else if (path == "ListBucketResult/IsTruncated") {
      if (text != "true" && text != "false") {
        return "IsTruncated is " + protocol::quote_untrusted(text);
      }
      page_.is_truncated = text == "true";
    } else if (path == "ListBucketResult/NextContinuationToken") {
      page_.next_continuation_token = text;
    }
    return std::nullopt;
  }

  S3ListPage take() {
    if (!root_seen_) bad_list("an empty document");
    if (page_.is_truncated && page_.next_continuation_token.empty()) {
      bad_list("a truncated page without a NextContinuationToken");
    }
    return std::move(page_);
  }

 private:
  S3ListPage page_;
  bool root_seen_ = false;
  bool has_key_ = false;
};

class ErrorBodyHandler : public XmlReader::Handler {
 public:
  std::optional<std::string> start(const std::string& path) override {
    if (path.find('/') == std::string::npos) is_error_ = path == "Error";
    return std::nullopt;
  }
  std::optional<std::string> end(const std::string& path, const std::string& text) override {
    if (path == "Error/Code") body_.code = text;
    if (path == "Error/Message") body_.message = text;
    return std::nullopt;
  }
  std::optional<S3ErrorBody> take() {
    if (!is_error_ || body_.code.empty()) return std::nullopt;
    return std::move(body_);
  }

 private:
  S3ErrorBody body_;
  bool is_error_ = false;
};

}  // namespace

S3ListPage parse_s3_list_page(std::string_view xml) {
  ListPageHandler handler;
  XmlReader reader(handler);
  const std::string failure = reader.parse(xml);
  if (!failure.empty()) bad_list(failure);
  return handler.take();
}

std::optional<S3ErrorBody> parse_s3_error_body(std::string_view xml) {
  ErrorBodyHandler handler;
  XmlReader reader(handler);
  if (!reader.parse(xml).empty()) return std::nullopt;
  return handler.take();
}

}  // namespace walstream::storage
