#include "ironroot/protocol/jobs.hpp"

#include <algorithm>
#include <array>
#include <exception>
#include <limits>
#include <utility>

#include "ironroot/protocol/provisioning.hpp"
#include "json_fields.hpp"

namespace ironroot::protocol {

std::string bounded_status_details_value(std::string text) {
  if (text.empty()) text = "-";
  if (text.size() <= kMaxStatusDetailsValueLength) return text;
  std::size_t end = kMaxStatusDetailsValueLength;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xc0) == 0x80) --end;
  text.resize(end);
  return text;
}
namespace {

using nlohmann::json;

constexpr std::string_view kThings = "/things/";
constexpr std::string_view kJobs = "/jobs/";
constexpr std::string_view kGet = "get";
constexpr std::string_view kStartNext = "start-next";
constexpr std::string_view kUpdate = "update";
constexpr std::string_view kNotify = "notify";
constexpr std::string_view kNotifyNext = "notify-next";
constexpr std::string_view kAccepted = "accepted";
constexpr std::string_view kRejected = "rejected";

constexpr std::int64_t kMaxLong = std::numeric_limits<std::int64_t>::max();

constexpr std::array<std::pair<JobExecutionStatus, std::string_view>, 8> kStatusNames{{
    {JobExecutionStatus::queued, "QUEUED"},
    {JobExecutionStatus::in_progress, "IN_PROGRESS"},
    {JobExecutionStatus::succeeded, "SUCCEEDED"},
    {JobExecutionStatus::failed, "FAILED"},
    {JobExecutionStatus::timed_out, "TIMED_OUT"},
    {JobExecutionStatus::rejected, "REJECTED"},
    {JobExecutionStatus::removed, "REMOVED"},
    {JobExecutionStatus::canceled, "CANCELED"},
}};

bool is_job_id_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
         c == '-';
}

bool is_status_details_key_char(char c) {
  return is_job_id_char(c) || c == ':';
}

// Splits "a/b/c" into its levels; nullopt when there are more than `max` levels.
std::optional<std::vector<std::string_view>> split_levels(std::string_view text, std::size_t max) {
  std::vector<std::string_view> levels;
  while (true) {
    if (levels.size() == max) return std::nullopt;
    const auto slash = text.find('/');
    levels.push_back(text.substr(0, slash));
    if (slash == std::string_view::npos) return levels;
    text.remove_prefix(slash + 1);
  }
}

std::optional<Reply> parse_reply(std::string_view level) {
  if (level == kAccepted) return Reply::accepted;
  if (level == kRejected) return Reply::rejected;
  return std::nullopt;
}

std::string_view reply_level(Reply reply) {
  return reply == Reply::accepted ? kAccepted : kRejected;
}

// What remains of a topic after "<prefix>/things/<thing>/jobs/", with the thing name; nullopt
// when the topic is not in a valid thing's jobs namespace.
std::optional<std::pair<std::string_view, std::string_view>> split_namespace(
    const TopicPrefix& prefix, std::string_view topic) {
  const std::string& p = prefix.str();
  if (!topic.starts_with(p)) return std::nullopt;
  topic.remove_prefix(p.size());
  if (!topic.starts_with(kThings)) return std::nullopt;
  topic.remove_prefix(kThings.size());
  const auto end = topic.find('/');
  if (end == std::string_view::npos) return std::nullopt;
  const std::string_view thing = topic.substr(0, end);
  if (!is_valid_thing_name(thing)) return std::nullopt;
  topic.remove_prefix(end);
  if (!topic.starts_with(kJobs)) return std::nullopt;
  topic.remove_prefix(kJobs.size());
  return std::make_pair(thing, topic);
}

// ---- UTF-8 and field checks

// The code points of `text`; nullopt if it is not valid UTF-8 (RFC 3629: shortest form, no
// surrogates, at most U+10FFFF).
std::optional<std::vector<char32_t>> decode_utf8(std::string_view text) {
  std::vector<char32_t> out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    char32_t cp = 0;
    char32_t min = 0;
    if (lead < 0x80) {
      length = 1;
      cp = lead;
    } else if ((lead & 0xe0) == 0xc0) {
      length = 2;
      cp = lead & 0x1fu;
      min = 0x80;
    } else if ((lead & 0xf0) == 0xe0) {
      length = 3;
      cp = lead & 0x0fu;
      min = 0x800;
    } else if ((lead & 0xf8) == 0xf0) {
      length = 4;
      cp = lead & 0x07u;
      min = 0x10000;
    } else {
      return std::nullopt;
    }
    if (text.size() - i < length) return std::nullopt;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (next & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return std::nullopt;
    out.push_back(cp);
    i += length;
  }
  return out;
}

// Whether `cp` is in Unicode's general category C as far as it is stable: control (Cc), format
// (Cf), private use (Co) and the noncharacters. Code points unassigned today are not refused.
bool is_other_character(char32_t cp) {
  if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return true;                    // Cc
  if ((cp >= 0xe000 && cp <= 0xf8ff) || cp >= 0xf0000) return true;            // Co
  if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe) return true;  // nonchar.
  constexpr std::array<std::pair<char32_t, char32_t>, 20> kFormat{{
      {0x00ad, 0x00ad},   {0x0600, 0x0605},   {0x061c, 0x061c},   {0x06dd, 0x06dd},
      {0x070f, 0x070f},   {0x0890, 0x0891},   {0x08e2, 0x08e2},   {0x180e, 0x180e},
      {0x200b, 0x200f},   {0x202a, 0x202e},   {0x2060, 0x2064},   {0x2066, 0x206f},
      {0xfeff, 0xfeff},   {0xfff9, 0xfffb},   {0x110bd, 0x110bd}, {0x110cd, 0x110cd},
      {0x13430, 0x1343f}, {0x1bca0, 0x1bca3}, {0x1d173, 0x1d17a}, {0xe0001, 0xe007f},
  }};
  return std::any_of(kFormat.begin(), kFormat.end(),
                     [cp](const auto& range) { return cp >= range.first && cp <= range.second; });
}

// A key taken from the payload, shortened for messages.
std::string shown(std::string_view key) {
  return key.size() <= 64 ? std::string(key) : std::string(key.substr(0, 64)) + "...";
}

Result<std::optional<std::string>> client_token_field(const json& document) {
  const json* value = fields::find(document, "clientToken");
  if (value == nullptr) return std::optional<std::string>();
  if (!value->is_string()) {
    return fail(std::string("clientToken: must be a string, not ") + fields::type_name(*value));
  }
  const auto& token = value->get_ref<const std::string&>();
  auto points = decode_utf8(token);
  if (!points) return fail("clientToken: not valid UTF-8");
  if (points->size() > kMaxClientTokenLength) {
    return fail("clientToken: " + std::to_string(points->size()) + " characters, more than the " +
                std::to_string(kMaxClientTokenLength) + " allowed");
  }
  return std::optional<std::string>(token);
}

Result<std::optional<StatusDetails>> status_details_field(const json& document) {
  const json* value = fields::find(document, "statusDetails");
  if (value == nullptr) return std::optional<StatusDetails>();
  if (!value->is_object()) {
    return fail(std::string("statusDetails: must be an object of strings, not ") +
                fields::type_name(*value));
  }
  if (value->size() > kMaxStatusDetails) {
    return fail("statusDetails: " + std::to_string(value->size()) + " entries, more than the " +
                std::to_string(kMaxStatusDetails) + " allowed");
  }
  StatusDetails out;
  for (const auto& [key, entry] : value->items()) {
    if (key.empty() || key.size() > kMaxStatusDetailsKeyLength ||
        !std::all_of(key.begin(), key.end(), is_status_details_key_char)) {
      return fail("statusDetails: the key \"" + shown(key) +
                  "\" is not 1 to 128 characters of a-z, A-Z, 0-9, ':', '_' and '-'");
    }
    const std::string where = "statusDetails." + key;
    if (!entry.is_string()) {
      return fail(where + ": must be a string, not " + fields::type_name(entry));
    }
    const auto& text = entry.get_ref<const std::string&>();
    auto points = decode_utf8(text);
    if (!points) return fail(where + ": not valid UTF-8");
    if (points->empty()) return fail(where + ": must not be empty");
    if (points->size() > kMaxStatusDetailsValueLength) {
      return fail(where + ": " + std::to_string(points->size()) + " characters, more than the " +
                  std::to_string(kMaxStatusDetailsValueLength) + " allowed");
    }
    if (std::any_of(points->begin(), points->end(), is_other_character)) {
      return fail(where + ": contains a control, format or private-use character");
    }
    out.emplace(key, text);
  }
  return std::optional<StatusDetails>(std::move(out));
}

Result<std::optional<std::int64_t>> optional_integer(const json& document, const char* key,
                                                     std::int64_t min, std::int64_t max) {
  if (fields::find(document, key) == nullptr) return std::optional<std::int64_t>();
  auto value = fields::required_integer(document, key, min, max);
  if (!value) return tl::unexpected(value.error());
  return std::optional<std::int64_t>(*value);
}

Result<bool> optional_boolean(const json& document, const char* key, bool absent) {
  const json* value = fields::find(document, key);
  if (value == nullptr) return absent;
  if (!value->is_boolean()) {
    return fail(std::string(key) + ": must be a boolean, not " + fields::type_name(*value));
  }
  return value->get<bool>();
}

Result<std::optional<std::int64_t>> step_timeout_field(const json& document) {
  return optional_integer(document, "stepTimeoutInMinutes", kMinStepTimeoutInMinutes,
                          kMaxStepTimeoutInMinutes);
}

// Collects a request's clientToken first, so that every later error can carry it.
class RequestReader {
 public:
  explicit RequestReader(const json& document) : document_(document) {}

  // Checks the shape and reads the clientToken. Must be called first.
  JobsResult<std::optional<std::string>> start() {
    if (!document_.is_object()) {
      return refuse(
          Error{std::string("the payload is ") + fields::type_name(document_) + ", not an object"});
    }
    auto token = client_token_field(document_);
    if (!token) return refuse(token.error());
    token_ = *token;
    return token_;
  }

  template <class T>
  JobsResult<T> check(Result<T> value) const {
    if (!value) return refuse(value.error());
    return std::move(*value);
  }

  tl::unexpected<JobsRequestError> refuse(const Error& error) const {
    return tl::unexpected(
        JobsRequestError{std::string(jobs_errors::kInvalidRequest), error.message, token_});
  }

  const json& document() const { return document_; }

 private:
  const json& document_;
  std::optional<std::string> token_;
};

json status_details_to_json(const StatusDetails& details) {
  json out = json::object();
  for (const auto& [key, value] : details) out[key] = value;
  return out;
}

void put_client_token(json& out, const std::optional<std::string>& token) {
  if (token) out["clientToken"] = *token;
}

template <class Request>
struct RequestName;
template <>
struct RequestName<GetPendingJobExecutionsRequest> {
  static constexpr const char* value = "GetPendingJobExecutions";
};
template <>
struct RequestName<StartNextPendingJobExecutionRequest> {
  static constexpr const char* value = "StartNextPendingJobExecution";
};
template <>
struct RequestName<DescribeJobExecutionRequest> {
  static constexpr const char* value = "DescribeJobExecution";
};
template <>
struct RequestName<UpdateJobExecutionRequest> {
  static constexpr const char* value = "UpdateJobExecution";
};

}  // namespace

bool is_valid_job_id(std::string_view id) {
  return !id.empty() && id.size() <= kMaxJobIdSize &&
         std::all_of(id.begin(), id.end(), is_job_id_char);
}

// ---- Topics

Result<std::string> jobs_topic(const TopicPrefix& prefix, const JobsTopic& topic) {
  if (!is_valid_thing_name(topic.thing_name)) {
    return fail("invalid thing name \"" + topic.thing_name +
                "\": use 1 to 128 characters among a-z, A-Z, 0-9, ':', '_' and '-'");
  }
  std::string out = prefix.str() + std::string(kThings) + topic.thing_name + std::string(kJobs);
  const bool takes_job_id =
      topic.operation == JobsOperation::describe || topic.operation == JobsOperation::update;
  if (!takes_job_id && !topic.job_id.empty()) {
    return fail("only DescribeJobExecution and UpdateJobExecution topics name a job");
  }
  if (takes_job_id) {
    const bool next_allowed = topic.operation == JobsOperation::describe;
    if (!is_valid_job_id(topic.job_id) && !(next_allowed && topic.job_id == kNextJobId)) {
      return fail("invalid job id \"" + topic.job_id +
                  "\": use 1 to 64 characters among a-z, A-Z, 0-9, '_' and '-'" +
                  (next_allowed ? ", or $next" : ""));
    }
    out += topic.job_id;
    out += '/';
  }
  switch (topic.operation) {
    case JobsOperation::get_pending:
    case JobsOperation::describe:
      out += kGet;
      break;
    case JobsOperation::start_next:
      out += kStartNext;
      break;
    case JobsOperation::update:
      out += kUpdate;
      break;
    case JobsOperation::notify:
    case JobsOperation::notify_next:
      if (topic.reply != Reply::none) return fail("notify and notify-next have no replies");
      out += topic.operation == JobsOperation::notify ? kNotify : kNotifyNext;
      return out;
  }
  if (topic.reply != Reply::none) {
    out += '/';
    out += reply_level(topic.reply);
  }
  return out;
}

std::optional<JobsTopic> parse_jobs_topic(const TopicPrefix& prefix, std::string_view topic) {
  auto space = split_namespace(prefix, topic);
  if (!space) return std::nullopt;
  auto levels = split_levels(space->second, 3);
  if (!levels) return std::nullopt;
  const auto& l = *levels;

  JobsTopic out;
  out.thing_name = std::string(space->first);
  // One level: get, start-next, notify, notify-next. Two: get or start-next with a reply, or
  // <jobId>/get|update. Three: <jobId>/get|update with a reply.
  if (l.size() <= 2 && (l[0] == kGet || l[0] == kStartNext)) {
    out.operation = l[0] == kGet ? JobsOperation::get_pending : JobsOperation::start_next;
    if (l.size() == 2) {
      auto reply = parse_reply(l[1]);
      if (reply) {
        out.reply = *reply;
        return out;
      }
      // Not a reply: "get/<x>" and "start-next/<x>" may still be <jobId>/<operation>.
    } else {
      return out;
    }
  }
  if (l.size() == 1) {
    if (l[0] == kNotify) {
      out.operation = JobsOperation::notify;
      return out;
    }
    if (l[0] == kNotifyNext) {
      out.operation = JobsOperation::notify_next;
      return out;
    }
    return std::nullopt;
  }
  if (l[1] == kGet) {
    if (!is_valid_job_id(l[0]) && l[0] != kNextJobId) return std::nullopt;
    out.operation = JobsOperation::describe;
  } else if (l[1] == kUpdate) {
    if (!is_valid_job_id(l[0])) return std::nullopt;
    out.operation = JobsOperation::update;
  } else {
    return std::nullopt;
  }
  out.job_id = std::string(l[0]);
  out.reply = Reply::none;
  if (l.size() == 3) {
    auto reply = parse_reply(l[2]);
    if (!reply) return std::nullopt;
    out.reply = *reply;
  }
  return out;
}

JobsTopic reply_topic(const JobsTopic& request, Reply reply) {
  JobsTopic out = request;
  out.reply = reply;
  return out;
}

Result<std::string> jobs_notify_topic(const TopicPrefix& prefix, std::string_view thing_name) {
  return jobs_topic(prefix, JobsTopic{std::string(thing_name), JobsOperation::notify, "", {}});
}

Result<std::string> jobs_notify_next_topic(const TopicPrefix& prefix, std::string_view thing_name) {
  return jobs_topic(prefix, JobsTopic{std::string(thing_name), JobsOperation::notify_next, "", {}});
}

std::optional<std::string> jobs_namespace_thing(const TopicPrefix& prefix, std::string_view topic) {
  auto space = split_namespace(prefix, topic);
  if (!space) return std::nullopt;
  return std::string(space->first);
}

std::vector<std::string> jobs_request_filters(const TopicPrefix& prefix) {
  const std::string base = prefix.str() + std::string(kThings) + "+" + std::string(kJobs);
  return {base + std::string(kGet), base + std::string(kStartNext), base + "+/" + std::string(kGet),
          base + "+/" + std::string(kUpdate)};
}

// ---- States

std::string_view to_string(JobExecutionStatus status) {
  for (const auto& [value, name] : kStatusNames) {
    if (value == status) return name;
  }
  return "QUEUED";
}

std::optional<JobExecutionStatus> parse_job_execution_status(std::string_view name) {
  for (const auto& [value, text] : kStatusNames) {
    if (text == name) return value;
  }
  return std::nullopt;
}

bool is_terminal(JobExecutionStatus status) {
  return status != JobExecutionStatus::queued && status != JobExecutionStatus::in_progress;
}

// The transitions a device may make, from AWS's developer guide ("Jobs and job execution
// states", iot-jobs-lifecycle) and API reference (UpdateJobExecution: "The new status for the job
// execution (IN_PROGRESS, FAILED, SUCCESS, or REJECTED)"; InvalidStateTransition: "an attempt to
// change a request in state SUCCESS to state IN_PROGRESS"):
//
//   from \ to     IN_PROGRESS  SUCCEEDED  FAILED  REJECTED  QUEUED, TIMED_OUT, CANCELED, REMOVED
//   QUEUED        yes          yes        yes     yes       no (service only)
//   IN_PROGRESS   yes          yes        yes     yes       no (service only)
//   terminal      no           no         no      no        no
bool legal_transition(JobExecutionStatus from, JobExecutionStatus to) {
  if (is_terminal(from)) return false;
  switch (to) {
    case JobExecutionStatus::in_progress:
    case JobExecutionStatus::succeeded:
    case JobExecutionStatus::failed:
    case JobExecutionStatus::rejected:
      return true;
    case JobExecutionStatus::queued:
    case JobExecutionStatus::timed_out:
    case JobExecutionStatus::removed:
    case JobExecutionStatus::canceled:
      break;
  }
  return false;
}

// ---- Requests

JobsResult<GetPendingJobExecutionsRequest> GetPendingJobExecutionsRequest::decode(
    const json& document) {
  RequestReader reader(document);
  auto token = reader.start();
  if (!token) return tl::unexpected(token.error());
  return GetPendingJobExecutionsRequest{*token};
}

json GetPendingJobExecutionsRequest::encode() const {
  json out = json::object();
  put_client_token(out, client_token);
  return out;
}

JobsResult<StartNextPendingJobExecutionRequest> StartNextPendingJobExecutionRequest::decode(
    const json& document) {
  RequestReader reader(document);
  StartNextPendingJobExecutionRequest out;
  auto token = reader.start();
  if (!token) return tl::unexpected(token.error());
  out.client_token = *token;
  auto details = reader.check(status_details_field(document));
  if (!details) return tl::unexpected(details.error());
  out.status_details = std::move(*details);
  auto timeout = reader.check(step_timeout_field(document));
  if (!timeout) return tl::unexpected(timeout.error());
  out.step_timeout_in_minutes = *timeout;
  return out;
}

json StartNextPendingJobExecutionRequest::encode() const {
  json out = json::object();
  if (status_details) out["statusDetails"] = status_details_to_json(*status_details);
  if (step_timeout_in_minutes) out["stepTimeoutInMinutes"] = *step_timeout_in_minutes;
  put_client_token(out, client_token);
  return out;
}

JobsResult<DescribeJobExecutionRequest> DescribeJobExecutionRequest::decode(const json& document) {
  RequestReader reader(document);
  DescribeJobExecutionRequest out;
  auto token = reader.start();
  if (!token) return tl::unexpected(token.error());
  out.client_token = *token;
  auto number = reader.check(optional_integer(document, "executionNumber", 1, kMaxLong));
  if (!number) return tl::unexpected(number.error());
  out.execution_number = *number;
  auto include = reader.check(optional_boolean(document, "includeJobDocument", true));
  if (!include) return tl::unexpected(include.error());
  out.include_job_document = *include;
  return out;
}

json DescribeJobExecutionRequest::encode() const {
  json out = json::object();
  if (execution_number) out["executionNumber"] = *execution_number;
  if (!include_job_document) out["includeJobDocument"] = false;
  put_client_token(out, client_token);
  return out;
}

JobsResult<UpdateJobExecutionRequest> UpdateJobExecutionRequest::decode(const json& document) {
  RequestReader reader(document);
  UpdateJobExecutionRequest out;
  auto token = reader.start();
  if (!token) return tl::unexpected(token.error());
  out.client_token = *token;

  const json* status = fields::find(document, "status");
  if (status == nullptr) return reader.refuse(Error{"status: missing"});
  if (!status->is_string()) {
    return reader.refuse(
        Error{std::string("status: must be a string, not ") + fields::type_name(*status)});
  }
  auto parsed = parse_job_execution_status(status->get_ref<const std::string&>());
  if (!parsed) {
    return reader.refuse(Error{"status: \"" + shown(status->get_ref<const std::string&>()) +
                               "\" is not a job execution status (use IN_PROGRESS, SUCCEEDED, "
                               "FAILED or REJECTED)"});
  }
  out.status = *parsed;

  auto details = reader.check(status_details_field(document));
  if (!details) return tl::unexpected(details.error());
  out.status_details = std::move(*details);
  auto expected = reader.check(optional_integer(document, "expectedVersion", 0, kMaxLong));
  if (!expected) return tl::unexpected(expected.error());
  out.expected_version = *expected;
  auto number = reader.check(optional_integer(document, "executionNumber", 1, kMaxLong));
  if (!number) return tl::unexpected(number.error());
  out.execution_number = *number;
  auto include_state = reader.check(optional_boolean(document, "includeJobExecutionState", false));
  if (!include_state) return tl::unexpected(include_state.error());
  out.include_job_execution_state = *include_state;
  auto include_document = reader.check(optional_boolean(document, "includeJobDocument", false));
  if (!include_document) return tl::unexpected(include_document.error());
  out.include_job_document = *include_document;
  auto timeout = reader.check(step_timeout_field(document));
  if (!timeout) return tl::unexpected(timeout.error());
  out.step_timeout_in_minutes = *timeout;
  return out;
}

json UpdateJobExecutionRequest::encode() const {
  json out{{"status", to_string(status)}};
  if (status_details) out["statusDetails"] = status_details_to_json(*status_details);
  if (expected_version) out["expectedVersion"] = *expected_version;
  if (execution_number) out["executionNumber"] = *execution_number;
  if (include_job_execution_state) out["includeJobExecutionState"] = true;
  if (include_job_document) out["includeJobDocument"] = true;
  if (step_timeout_in_minutes) out["stepTimeoutInMinutes"] = *step_timeout_in_minutes;
  put_client_token(out, client_token);
  return out;
}

template <class Request>
JobsResult<Request> decode_jobs_request(ByteView payload, std::size_t max_size) {
  auto refuse = [](std::string_view code, std::string message) {
    return tl::unexpected(JobsRequestError{
        std::string(code), std::string(RequestName<Request>::value) + ": " + std::move(message),
        std::nullopt});
  };
  if (payload.size() > max_size) {
    return refuse(jobs_errors::kInvalidRequest, "the payload is " + std::to_string(payload.size()) +
                                                    " bytes, more than the " +
                                                    std::to_string(max_size) + " allowed");
  }
  if (payload.empty()) return Request::decode(json::object());
  auto document = decode_payload(payload, PayloadFormat::json, max_size);
  if (!document) {
    // decode_payload refuses valid JSON that is not an object or nests too deep: that is an
    // invalid request, not invalid JSON. nlohmann's acceptor is iterative and checks UTF-8.
    bool valid_json = false;
    try {
      const unsigned char* first = as_uchars(payload);
      valid_json = json::accept(first, first + payload.size());
    } catch (const std::exception&) {
      valid_json = false;
    }
    return refuse(valid_json ? jobs_errors::kInvalidRequest : jobs_errors::kInvalidJson,
                  document.error().message);
  }
  auto request = Request::decode(*document);
  if (!request) {
    request.error().message =
        std::string(RequestName<Request>::value) + ": " + request.error().message;
  }
  return request;
}

template JobsResult<GetPendingJobExecutionsRequest> decode_jobs_request(ByteView, std::size_t);
template JobsResult<StartNextPendingJobExecutionRequest> decode_jobs_request(ByteView, std::size_t);
template JobsResult<DescribeJobExecutionRequest> decode_jobs_request(ByteView, std::size_t);
template JobsResult<UpdateJobExecutionRequest> decode_jobs_request(ByteView, std::size_t);

// ---- Replies

json JobExecutionState::encode() const {
  return json{{"status", to_string(status)},
              {"statusDetails", status_details_to_json(status_details)},
              {"versionNumber", version_number}};
}

json JobExecution::encode() const {
  json out{{"jobId", job_id},
           {"thingName", thing_name},
           {"status", to_string(status)},
           {"statusDetails", status_details_to_json(status_details)},
           {"queuedAt", queued_at},
           {"lastUpdatedAt", last_updated_at},
           {"versionNumber", version_number},
           {"executionNumber", execution_number}};
  if (job_document) out["jobDocument"] = *job_document;
  if (started_at) out["startedAt"] = *started_at;
  if (approximate_seconds_before_timed_out) {
    out["approximateSecondsBeforeTimedOut"] = *approximate_seconds_before_timed_out;
  }
  return out;
}

json JobExecutionSummary::encode() const {
  json out{{"jobId", job_id},
           {"queuedAt", queued_at},
           {"lastUpdatedAt", last_updated_at},
           {"versionNumber", version_number},
           {"executionNumber", execution_number}};
  if (started_at) out["startedAt"] = *started_at;
  return out;
}

namespace {

json summaries_to_json(const std::vector<JobExecutionSummary>& summaries) {
  json out = json::array();
  for (const auto& summary : summaries) out.push_back(summary.encode());
  return out;
}

json execution_reply(const std::optional<JobExecution>& execution, std::int64_t timestamp,
                     const std::optional<std::string>& client_token) {
  json out{{"timestamp", timestamp}};
  if (execution) out["execution"] = execution->encode();
  put_client_token(out, client_token);
  return out;
}

}  // namespace

json GetPendingJobExecutionsResponse::encode() const {
  json out{{"inProgressJobs", summaries_to_json(in_progress_jobs)},
           {"queuedJobs", summaries_to_json(queued_jobs)},
           {"timestamp", timestamp}};
  put_client_token(out, client_token);
  return out;
}

json StartNextJobExecutionResponse::encode() const {
  return execution_reply(execution, timestamp, client_token);
}

json DescribeJobExecutionResponse::encode() const {
  return execution_reply(execution, timestamp, client_token);
}

json UpdateJobExecutionResponse::encode() const {
  json out{{"timestamp", timestamp}};
  if (execution_state) out["executionState"] = execution_state->encode();
  if (job_document) out["jobDocument"] = *job_document;
  put_client_token(out, client_token);
  return out;
}

json JobExecutionsChangedEvent::encode() const {
  json by_status = json::object();
  for (const auto& [status, summaries] : jobs) {
    if (!summaries.empty())
      by_status[std::string(to_string(status))] = summaries_to_json(summaries);
  }
  return json{{"timestamp", timestamp}, {"jobs", std::move(by_status)}};
}

json NextJobExecutionChangedEvent::encode() const {
  return execution_reply(execution, timestamp, std::nullopt);
}

JobsErrorResponse JobsErrorResponse::from(const JobsRequestError& error, std::int64_t timestamp) {
  return JobsErrorResponse{error.code, error.message, error.client_token, timestamp, std::nullopt};
}

json JobsErrorResponse::encode() const {
  json out{{"code", code}, {"message", message}, {"timestamp", timestamp}};
  put_client_token(out, client_token);
  if (execution_state) out["executionState"] = execution_state->encode();
  return out;
}

// ---- Decoding replies and notifications (devices)

namespace {

// "<where>.<message>": the message of a field error starts with the field's name.
tl::unexpected<Error> nested(const Error& error, const std::string& where) {
  return tl::unexpected(Error{where + "." + error.message});
}

Result<std::int64_t> counter(const json& document, const char* key) {
  return fields::required_integer(document, key, 0, kMaxLong);
}

Result<JobExecutionStatus> status_field(const json& document) {
  const json* value = fields::find(document, "status");
  if (value == nullptr) return fail("status: missing");
  if (!value->is_string()) {
    return fail(std::string("status: must be a string, not ") + fields::type_name(*value));
  }
  const auto& name = value->get_ref<const std::string&>();
  auto status = parse_job_execution_status(name);
  if (!status) return fail("status: \"" + shown(name) + "\" is not a job execution status");
  return *status;
}

Result<std::string> job_id_field(const json& document) {
  auto id = fields::required_string(document, "jobId", kMaxJobIdSize);
  if (!id) return id;
  if (!is_valid_job_id(*id)) {
    return fail("jobId: \"" + shown(*id) +
                "\" is not 1 to 64 characters of a-z, A-Z, 0-9, '_' and '-'");
  }
  return id;
}

Result<std::optional<json>> job_document_field(const json& document) {
  const json* value = fields::find(document, "jobDocument");
  if (value == nullptr) return std::optional<json>();
  if (!value->is_object()) {
    return fail(std::string("jobDocument: must be an object, not ") + fields::type_name(*value));
  }
  return std::optional<json>(*value);
}

// The reply's own object, checked; every reply and notification is one.
Status check_object(const json& document) {
  if (!document.is_object()) {
    return fail(std::string("the payload is ") + fields::type_name(document) + ", not an object");
  }
  return {};
}

template <class T>
Result<std::optional<T>> optional_member(const json& document, const char* key) {
  const json* value = fields::find(document, key);
  if (value == nullptr) return std::optional<T>();
  if (!value->is_object()) {
    return fail(std::string(key) + ": must be an object, not " + fields::type_name(*value));
  }
  auto decoded = T::decode(*value);
  if (!decoded) return nested(decoded.error(), key);
  return std::optional<T>(std::move(*decoded));
}

Result<std::vector<JobExecutionSummary>> summaries_field(const json& value,
                                                         const std::string& where) {
  if (!value.is_array()) {
    return fail(where + ": must be an array, not " + fields::type_name(value));
  }
  std::vector<JobExecutionSummary> out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    const std::string item = where + "[" + std::to_string(i) + "]";
    if (!value[i].is_object()) {
      return fail(item + ": must be an object, not " + fields::type_name(value[i]));
    }
    auto summary = JobExecutionSummary::decode(value[i]);
    if (!summary) return nested(summary.error(), item);
    out.push_back(std::move(*summary));
  }
  return out;
}

Result<std::vector<JobExecutionSummary>> optional_summaries(const json& document, const char* key) {
  const json* value = fields::find(document, key);
  if (value == nullptr) return std::vector<JobExecutionSummary>();
  return summaries_field(*value, key);
}

// timestamp, clientToken and execution: start-next/accepted, $next/get/accepted, notify-next.
struct ExecutionReply {
  std::optional<JobExecution> execution;
  std::int64_t timestamp = 0;
  std::optional<std::string> client_token;
};

Result<ExecutionReply> decode_execution_reply(const json& document) {
  if (auto ok = check_object(document); !ok) return tl::unexpected(ok.error());
  ExecutionReply out;
  auto execution = optional_member<JobExecution>(document, "execution");
  if (!execution) return tl::unexpected(execution.error());
  out.execution = std::move(*execution);
  auto timestamp = counter(document, "timestamp");
  if (!timestamp) return tl::unexpected(timestamp.error());
  out.timestamp = *timestamp;
  auto token = client_token_field(document);
  if (!token) return tl::unexpected(token.error());
  out.client_token = std::move(*token);
  return out;
}

template <class Message>
struct MessageName;
template <>
struct MessageName<GetPendingJobExecutionsResponse> {
  static constexpr const char* value = "GetPendingJobExecutions reply";
};
template <>
struct MessageName<StartNextJobExecutionResponse> {
  static constexpr const char* value = "StartNextPendingJobExecution reply";
};
template <>
struct MessageName<DescribeJobExecutionResponse> {
  static constexpr const char* value = "DescribeJobExecution reply";
};
template <>
struct MessageName<UpdateJobExecutionResponse> {
  static constexpr const char* value = "UpdateJobExecution reply";
};
template <>
struct MessageName<JobExecutionsChangedEvent> {
  static constexpr const char* value = "JobExecutionsChanged";
};
template <>
struct MessageName<NextJobExecutionChangedEvent> {
  static constexpr const char* value = "NextJobExecutionChanged";
};
template <>
struct MessageName<JobsErrorResponse> {
  static constexpr const char* value = "ErrorResponse";
};

}  // namespace

Result<JobExecutionState> JobExecutionState::decode(const json& document) {
  if (auto ok = check_object(document); !ok) return tl::unexpected(ok.error());
  JobExecutionState out;
  auto status = status_field(document);
  if (!status) return tl::unexpected(status.error());
  out.status = *status;
  auto details = status_details_field(document);
  if (!details) return tl::unexpected(details.error());
  out.status_details = std::move(*details).value_or(StatusDetails{});
  auto version = counter(document, "versionNumber");
  if (!version) return tl::unexpected(version.error());
  out.version_number = *version;
  return out;
}

Result<JobExecution> JobExecution::decode(const json& document) {
  if (auto ok = check_object(document); !ok) return tl::unexpected(ok.error());
  JobExecution out;
  auto id = job_id_field(document);
  if (!id) return tl::unexpected(id.error());
  out.job_id = std::move(*id);
  auto thing = fields::required_string(document, "thingName", 128);
  if (!thing) return tl::unexpected(thing.error());
  if (!is_valid_thing_name(*thing)) {
    return fail("thingName: \"" + shown(*thing) +
                "\" is not 1 to 128 characters of a-z, A-Z, 0-9, ':', '_' and '-'");
  }
  out.thing_name = std::move(*thing);
  auto job_document = job_document_field(document);
  if (!job_document) return tl::unexpected(job_document.error());
  out.job_document = std::move(*job_document);
  auto status = status_field(document);
  if (!status) return tl::unexpected(status.error());
  out.status = *status;
  auto details = status_details_field(document);
  if (!details) return tl::unexpected(details.error());
  out.status_details = std::move(*details).value_or(StatusDetails{});
  for (auto [key, member] :
       {std::pair{"queuedAt", &out.queued_at}, std::pair{"lastUpdatedAt", &out.last_updated_at},
        std::pair{"versionNumber", &out.version_number},
        std::pair{"executionNumber", &out.execution_number}}) {
    auto value = counter(document, key);
    if (!value) return tl::unexpected(value.error());
    *member = *value;
  }
  auto started = optional_integer(document, "startedAt", 0, kMaxLong);
  if (!started) return tl::unexpected(started.error());
  out.started_at = *started;
  auto remaining = optional_integer(document, "approximateSecondsBeforeTimedOut", 0, kMaxLong);
  if (!remaining) return tl::unexpected(remaining.error());
  out.approximate_seconds_before_timed_out = *remaining;
  return out;
}

Result<JobExecutionSummary> JobExecutionSummary::decode(const json& document) {
  if (auto ok = check_object(document); !ok) return tl::unexpected(ok.error());
  JobExecutionSummary out;
  auto id = job_id_field(document);
  if (!id) return tl::unexpected(id.error());
  out.job_id = std::move(*id);
  for (auto [key, member] :
       {std::pair{"queuedAt", &out.queued_at}, std::pair{"lastUpdatedAt", &out.last_updated_at},
        std::pair{"versionNumber", &out.version_number},
        std::pair{"executionNumber", &out.execution_number}}) {
    auto value = counter(document, key);
    if (!value) return tl::unexpected(value.error());
    *member = *value;
  }
  auto started = optional_integer(document, "startedAt", 0, kMaxLong);
  if (!started) return tl::unexpected(started.error());
  out.started_at = *started;
  return out;
}

Result<GetPendingJobExecutionsResponse> GetPendingJobExecutionsResponse::decode(
    const json& document) {
  if (auto ok = check_object(document); !ok) return tl::unexpected(ok.error());
  GetPendingJobExecutionsResponse out;
  auto in_progress = optional_summaries(document, "inProgressJobs");
  if (!in_progress) return tl::unexpected(in_progress.error());
  out.in_progress_jobs = std::move(*in_progress);
  auto queued = optional_summaries(document, "queuedJobs");
  if (!queued) return tl::unexpected(queued.error());
  out.queued_jobs = std::move(*queued);
  auto timestamp = counter(document, "timestamp");
  if (!timestamp) return tl::unexpected(timestamp.error());
  out.timestamp = *timestamp;
  auto token = client_token_field(document);
  if (!token) return tl::unexpected(token.error());
  out.client_token = std::move(*token);
  return out;
}

Result<StartNextJobExecutionResponse> StartNextJobExecutionResponse::decode(const json& document) {
  auto reply = decode_execution_reply(document);
  if (!reply) return tl::unexpected(reply.error());
  return StartNextJobExecutionResponse{std::move(reply->execution), reply->timestamp,
                                       std::move(reply->client_token)};
}

Result<DescribeJobExecutionResponse> DescribeJobExecutionResponse::decode(const json& document) {
  auto reply = decode_execution_reply(document);
  if (!reply) return tl::unexpected(reply.error());
  return DescribeJobExecutionResponse{std::move(reply->execution), reply->timestamp,
                                      std::move(reply->client_token)};
}

Result<UpdateJobExecutionResponse> UpdateJobExecutionResponse::decode(const json& document) {
  if (auto ok = check_object(document); !ok) return tl::unexpected(ok.error());
  UpdateJobExecutionResponse out;
  auto state = optional_member<JobExecutionState>(document, "executionState");
  if (!state) return tl::unexpected(state.error());
  out.execution_state = std::move(*state);
  auto job_document = job_document_field(document);
  if (!job_document) return tl::unexpected(job_document.error());
  out.job_document = std::move(*job_document);
  auto timestamp = counter(document, "timestamp");
  if (!timestamp) return tl::unexpected(timestamp.error());
  out.timestamp = *timestamp;
  auto token = client_token_field(document);
  if (!token) return tl::unexpected(token.error());
  out.client_token = std::move(*token);
  return out;
}

Result<JobExecutionsChangedEvent> JobExecutionsChangedEvent::decode(const json& document) {
  if (auto ok = check_object(document); !ok) return tl::unexpected(ok.error());
  JobExecutionsChangedEvent out;
  auto timestamp = counter(document, "timestamp");
  if (!timestamp) return tl::unexpected(timestamp.error());
  out.timestamp = *timestamp;
  const json* jobs = fields::find(document, "jobs");
  if (jobs == nullptr) return out;
  if (!jobs->is_object()) {
    return fail(std::string("jobs: must be an object, not ") + fields::type_name(*jobs));
  }
  for (const auto& [name, list] : jobs->items()) {
    // Lists under names that are not statuses are ignored, as unknown keys are.
    auto status = parse_job_execution_status(name);
    if (!status) continue;
    auto summaries = summaries_field(list, "jobs." + name);
    if (!summaries) return tl::unexpected(summaries.error());
    // An empty list is the same as none (encode() leaves it out).
    if (!summaries->empty()) out.jobs.emplace(*status, std::move(*summaries));
  }
  return out;
}

Result<NextJobExecutionChangedEvent> NextJobExecutionChangedEvent::decode(const json& document) {
  auto reply = decode_execution_reply(document);
  if (!reply) return tl::unexpected(reply.error());
  // A notification answers no request: a clientToken in it is ignored.
  return NextJobExecutionChangedEvent{std::move(reply->execution), reply->timestamp};
}

Result<JobsErrorResponse> JobsErrorResponse::decode(const json& document) {
  if (auto ok = check_object(document); !ok) return tl::unexpected(ok.error());
  JobsErrorResponse out;
  auto code = fields::required_string(document, "code", kMaxErrorCodeSize);
  if (!code) return tl::unexpected(code.error());
  out.code = std::move(*code);
  if (const json* message = fields::find(document, "message")) {
    if (!message->is_string()) {
      return fail(std::string("message: must be a string, not ") + fields::type_name(*message));
    }
    if (message->get_ref<const std::string&>().size() > kMaxErrorMessageSize) {
      return fail("message: more than " + std::to_string(kMaxErrorMessageSize) + " bytes");
    }
    out.message = message->get<std::string>();
  }
  auto token = client_token_field(document);
  if (!token) return tl::unexpected(token.error());
  out.client_token = std::move(*token);
  auto timestamp = counter(document, "timestamp");
  if (!timestamp) return tl::unexpected(timestamp.error());
  out.timestamp = *timestamp;
  auto state = optional_member<JobExecutionState>(document, "executionState");
  if (!state) return tl::unexpected(state.error());
  out.execution_state = std::move(*state);
  return out;
}

template <class Message>
Result<Message> decode_jobs_reply(ByteView payload, std::size_t max_size) {
  auto document = decode_payload(payload, PayloadFormat::json, max_size);
  if (!document) return prefixed(document.error(), MessageName<Message>::value);
  auto message = Message::decode(*document);
  if (!message) return prefixed(message.error(), MessageName<Message>::value);
  return message;
}

template Result<GetPendingJobExecutionsResponse> decode_jobs_reply(ByteView, std::size_t);
template Result<StartNextJobExecutionResponse> decode_jobs_reply(ByteView, std::size_t);
template Result<DescribeJobExecutionResponse> decode_jobs_reply(ByteView, std::size_t);
template Result<UpdateJobExecutionResponse> decode_jobs_reply(ByteView, std::size_t);
template Result<JobExecutionsChangedEvent> decode_jobs_reply(ByteView, std::size_t);
template Result<NextJobExecutionChangedEvent> decode_jobs_reply(ByteView, std::size_t);
template Result<JobsErrorResponse> decode_jobs_reply(ByteView, std::size_t);

}  // namespace ironroot::protocol
